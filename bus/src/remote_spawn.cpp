#include "shmbus/bus/remote_spawn.hpp"

#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>
#include <caf/actor_system_config.hpp>
#include <typeindex>

#include "bus_core.hpp"
#include "error_mapping.hpp"
#include "spawn_service.hpp"

namespace shmbus::bus {

namespace {

std::string process_text(const node& bus, int pid) {
  for (auto& peer : bus.peers())
    if (peer.pid == pid)
      return "process " + std::to_string(pid) + " ('" + peer.name + "')";
  return "process " + std::to_string(pid);
}

std::string duration_text(caf::timespan x) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(x).count())
         + " ms";
}

} // namespace

caf::expected<caf::actor> remote_spawner::service_of(const node& bus, int pid) {
  if (!bus.core_)
    return bus.stopped_error();
  if (pid == process_id_of(bus.system().node()))
    return caf::actor_cast<caf::actor>(bus.system().spawn_serv());
  return bus.core_->spawn_service_of(pid);
}

caf::error remote_spawner::explain(const node& bus, int pid, const std::string& type,
                                   const caf::message& args, caf::timespan timeout,
                                   caf::error err) {
  // Errors from the target's service carry their text already; CAF's spawn
  // server and the request machinery answer bare codes.
  if (err.category() != caf::atom("system") || !err.context().empty())
    return err;
  auto what = "the remote spawn of actor type '" + type + "' in ";
  switch (static_cast<caf::sec>(err.code())) {
    case caf::sec::request_timeout:
      return caf::make_error(caf::sec::request_timeout,
                             process_text(bus, pid) + " did not answer " + what
                               + "it within " + duration_text(timeout)
                               + " (busy, hung, or its factory blocks); retry with a "
                                 "longer timeout");
    case caf::sec::request_receiver_down: {
      auto loss = bus.loss_of(pid);
      return make_error(errc::peer_lost,
                        process_text(bus, pid) + " was lost before it answered " + what + "it"
                          + (loss ? ": " + loss->text : std::string{}));
    }
    case caf::sec::cannot_spawn_actor_from_arguments:
      return caf::make_error(caf::sec::cannot_spawn_actor_from_arguments,
                             what + process_text(bus, pid) + " failed: its factory takes other "
                               "arguments than " + type_names(bus.system(), args));
    case caf::sec::unexpected_actor_messaging_interface:
      return caf::make_error(caf::sec::unexpected_actor_messaging_interface,
                             what + process_text(bus, pid)
                               + " failed: the type's interface is not the one of the "
                                 "requested handle (a caf::actor handle needs an untyped "
                                 "actor)");
    case caf::sec::unknown_type:
      return caf::make_error(caf::sec::unknown_type,
                             process_text(bus, pid) + " has no actor type '" + type
                               + "': register it there with add_actor_type");
    default:
      return err;
  }
}

caf::expected<caf::strong_actor_ptr>
remote_spawner::spawn(const node& bus, int pid, const std::string& type, caf::message args,
                      std::set<std::string> interface, caf::timespan timeout) {
  // Checked here too: a name the target would refuse costs no round trip.
  if (auto why = spawn_service::check_type_name(type); !why.empty())
    return caf::make_error(caf::sec::invalid_argument, "remote spawn of " + why);
  // CAF writes nothing for an unregistered type inside a nested message
  // and reports nothing (CAF issue #1092): the target would see no
  // arguments at all.
  if (bus.attached())
    for (size_t i = 0; i < args.size(); ++i)
      if (args.type(i).first == 0
          && bus.system().config().type_names_by_rtti.count(*args.type(i).second) == 0)
        return make_error(errc::unregistered_type,
                          "argument " + std::to_string(i) + " of the remote spawn of '" + type
                            + "' has a type without add_message_type: register it in every "
                              "process of the bus");
  auto target = service_of(bus, pid);
  if (!target)
    return std::move(target.error());
  caf::expected<caf::strong_actor_ptr> result{caf::strong_actor_ptr{}};
  caf::scoped_actor self{bus.system(), true};
  self->request(*target, timeout, caf::spawn_atom::value, type, args, std::move(interface))
    .receive([&](caf::strong_actor_ptr& x) { result = std::move(x); },
             [&](caf::error& err) {
               result = explain(bus, pid, type, args, timeout, std::move(err));
             });
  if (result && !*result)
    return caf::make_error(caf::sec::cannot_spawn_actor_from_arguments,
                           process_text(bus, pid) + " answered the remote spawn of '" + type
                             + "' without an actor");
  return result;
}

} // namespace shmbus::bus
