#include "shmbus/supervision/supervisor.hpp"

#include <set>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/duration.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>
#include <caf/spawn_options.hpp>

#include "supervisor_actor.hpp"

namespace shmbus::supervision {

namespace {

caf::error validate(const supervisor_flags& flags,
                    const std::vector<child_spec>& children) {
  if (auto err = flags.validate())
    return err;
  if (flags.strategy == restart_strategy::simple_one_for_one
      && children.size() != 1)
    return caf::make_error(caf::sec::invalid_argument,
                           "a simple_one_for_one supervisor takes exactly one "
                           "child spec, the template of its children");
  std::set<std::string> ids;
  for (auto& spec : children) {
    if (spec.id.empty() || !spec.start)
      return caf::make_error(caf::sec::invalid_argument,
                             "a child spec needs an id and a start function");
    if (!ids.insert(spec.id).second)
      return caf::make_error(caf::sec::invalid_argument,
                             "two child specs have the id '" + spec.id + "'");
    auto policy = spec.effective_shutdown();
    if (policy.mode == shutdown_mode::timeout
        && policy.timeout <= caf::timespan::zero())
      return caf::make_error(caf::sec::invalid_argument,
                             "child '" + spec.id
                               + "': a shutdown timeout must be positive");
  }
  return caf::none;
}

/// Sends a request and waits for the reply of type `T`.
template <class T, class... Ts>
caf::expected<T> call(caf::blocking_actor& self, const caf::actor& sup,
                      caf::timespan timeout, Ts&&... xs) {
  if (!sup)
    return caf::make_error(caf::sec::invalid_argument,
                           "no supervisor: the handle is invalid");
  caf::expected<T> result{T{}};
  self.request(sup, caf::duration{timeout}, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

/// Sends a request that has no reply value; returns the error, if any.
template <class... Ts>
caf::error call_void(caf::blocking_actor& self, const caf::actor& sup,
                     caf::timespan timeout, Ts&&... xs) {
  if (!sup)
    return caf::make_error(caf::sec::invalid_argument,
                           "no supervisor: the handle is invalid");
  caf::error result;
  self.request(sup, caf::duration{timeout}, std::forward<Ts>(xs)...)
    .receive([] {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

// -- starting -----------------------------------------------------------------

caf::expected<caf::actor> start_supervisor(caf::actor_system& sys,
                                           supervisor_flags flags,
                                           std::vector<child_spec> children) {
  if (auto err = validate(flags, children))
    return err;
  // Detached, i.e. on its own thread: start functions may block (a module
  // process child waits until its process is ready) and so does stopping a
  // child with a shutdown timeout. On a scheduler worker that would stall
  // unrelated actors; on its own thread it only delays this supervisor.
  auto sup = sys.spawn<supervisor_actor, caf::detached>(std::move(flags),
                                                        std::move(children));
  caf::scoped_actor self{sys};
  caf::error failure;
  // No deadline: start functions take as long as they need (OTP's start_link
  // waits as well); the supervisor answers even when one of them throws.
  self->request(sup, caf::infinite, supervisor_init_atom::value)
    .receive([] {}, [&](caf::error& err) { failure = std::move(err); });
  if (failure)
    return failure;
  return sup;
}

child_spec supervisor_spec(std::string id, supervisor_flags flags,
                           std::vector<child_spec> children) {
  if (flags.name.empty())
    flags.name = id;
  return child_spec{std::move(id),
                    [flags = std::move(flags),
                     children = std::move(children)](caf::actor_system& sys) {
                      return start_supervisor(sys, flags, children);
                    },
                    restart_type::permanent, child_kind::supervisor};
}

void add_message_types(caf::actor_system_config& cfg) {
  // add_message_type<T> also registers std::vector<T>.
  cfg.add_message_type<child_info>("shmbus::supervision::child_info");
  cfg.add_message_type<child_counts>("shmbus::supervision::child_counts");
}

void configure(caf::actor_system_config& cfg) {
  add_error_category(cfg);
  add_message_types(cfg);
}

// -- runtime API --------------------------------------------------------------

caf::expected<caf::actor> start_child(caf::blocking_actor& self,
                                      const caf::actor& sup, child_spec spec,
                                      caf::timespan timeout) {
  return call<caf::actor>(self, sup, timeout, start_child_atom::value,
                          std::move(spec));
}

caf::expected<caf::actor> start_child(caf::blocking_actor& self,
                                      const caf::actor& sup, caf::message args,
                                      caf::timespan timeout) {
  return call<caf::actor>(self, sup, timeout, start_child_atom::value,
                          std::move(args));
}

caf::error terminate_child(caf::blocking_actor& self, const caf::actor& sup,
                           const std::string& id, caf::timespan timeout) {
  return call_void(self, sup, timeout, terminate_child_atom::value, id);
}

caf::error terminate_child(caf::blocking_actor& self, const caf::actor& sup,
                           const caf::actor& child, caf::timespan timeout) {
  return call_void(self, sup, timeout, terminate_child_atom::value, child);
}

caf::expected<caf::actor> restart_child(caf::blocking_actor& self,
                                        const caf::actor& sup,
                                        const std::string& id,
                                        caf::timespan timeout) {
  return call<caf::actor>(self, sup, timeout, restart_child_atom::value, id);
}

caf::error delete_child(caf::blocking_actor& self, const caf::actor& sup,
                        const std::string& id, caf::timespan timeout) {
  return call_void(self, sup, timeout, delete_child_atom::value, id);
}

caf::expected<std::vector<child_info>>
which_children(caf::blocking_actor& self, const caf::actor& sup,
               caf::timespan timeout) {
  return call<std::vector<child_info>>(self, sup, timeout,
                                       which_children_atom::value);
}

caf::expected<child_counts> count_children(caf::blocking_actor& self,
                                           const caf::actor& sup,
                                           caf::timespan timeout) {
  return call<child_counts>(self, sup, timeout, count_children_atom::value);
}

} // namespace shmbus::supervision
