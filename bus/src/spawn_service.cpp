#include "spawn_service.hpp"

#include <set>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/send.hpp>
#include <caf/sec.hpp>

#include "error_mapping.hpp"
#include "shmbus/bus/node.hpp"

namespace shmbus::bus {

namespace {

std::string sender_text(const caf::strong_actor_ptr& sender) {
  if (!sender)
    return "an anonymous sender";
  return "process " + std::to_string(process_id_of(sender->node()));
}

} // namespace

spawn_service::spawn_service(caf::actor_system& sys, const bus_settings& settings,
                             once_log& log)
  : sys_(sys), settings_(settings), log_(log) {
  // nop
}

std::string spawn_service::check_type_name(const std::string& type) {
  if (type.empty())
    return "an empty actor type name";
  if (type.size() > max_type_name)
    return "an actor type name of " + std::to_string(type.size()) + " bytes (at most "
           + std::to_string(max_type_name) + ")";
  for (auto c : type)
    if (c <= ' ' || c > '~')
      return "an actor type name with byte " + std::to_string(static_cast<unsigned char>(c))
             + " (printable ASCII only, no spaces)";
  return {};
}

void spawn_service::refuse(const caf::strong_actor_ptr& sender, const std::string& why) {
  refused_.fetch_add(1, std::memory_order_relaxed);
  log_.write("spawn_refused/" + sender_text(sender),
             "a remote spawn request from " + sender_text(sender) + " to node '"
               + settings_.node_name + "' was refused and answered with an error: " + why
               + " (further refused requests of that process are counted, not logged; it "
                 "runs an incompatible shmbus build or writes into shared memory it does not "
                 "own)");
}

void spawn_service::start() {
  auto impl = [weak = self_](caf::event_based_actor* self) -> caf::behavior {
    // Only stop() ends the service: a peer's exit message (which the bus
    // delivers like any other) must not take remote spawn away.
    self->set_exit_handler([](caf::exit_msg&) {});
    self->set_default_handler([weak](caf::scheduled_actor* ptr, caf::message_view& x)
                                -> caf::result<caf::message> {
      auto svc = weak.lock();
      if (!svc)
        return caf::make_error(caf::sec::request_receiver_down);
      auto why = "a message " + type_names(ptr->system(), x.copy_content_to_message())
                 + " that is not a spawn request";
      svc->refuse(ptr->current_sender(), why);
      return caf::make_error(caf::sec::unexpected_message,
                             "node '" + svc->settings_.node_name
                               + "' refused what its remote spawn service got: " + why);
    });
    return {
      [=](caf::spawn_atom, std::string& type, caf::message& args,
          std::set<std::string>& ifs) -> caf::result<caf::strong_actor_ptr> {
        auto svc = weak.lock();
        if (!svc) // the bus stopped: as if the service were gone
          return caf::make_error(caf::sec::request_receiver_down);
        return svc->handle(self, std::move(type), std::move(args), std::move(ifs));
      },
    };
  };
  auto actor = sys_.spawn<caf::hidden>(impl);
  sys_.registry().put(well_known_id, caf::actor_cast<caf::strong_actor_ptr>(actor));
  std::lock_guard<std::mutex> guard(mtx_);
  actor_ = std::move(actor);
}

caf::result<caf::strong_actor_ptr> spawn_service::handle(caf::event_based_actor* self,
                                                         std::string type, caf::message args,
                                                         std::set<std::string> ifs) {
  auto sender = self->current_sender();
  auto refused = [&](const std::string& why) {
    refuse(sender, why);
    return caf::make_error(caf::sec::invalid_argument,
                           "node '" + settings_.node_name
                             + "' refused a remote spawn request: " + why);
  };
  if (!self->current_message_id().is_request())
    return refused("a spawn message that is not a request (nobody to answer)");
  if (auto why = check_type_name(type); !why.empty())
    return refused(why);
  if (ifs.size() > max_signatures)
    return refused("an expected interface of " + std::to_string(ifs.size())
                   + " signatures (at most " + std::to_string(max_signatures) + ")");
  auto& factories = sys_.config().actor_factories;
  if (factories.find(type) == factories.end())
    return caf::make_error(caf::sec::unknown_type,
                           "node '" + settings_.node_name + "' (pid "
                             + std::to_string(process_id_of(sys_.node()))
                             + ") has no actor type '" + type
                             + "': register it there with add_actor_type");
  // The factory runs in CAF's spawn server, scheduled on a worker (no
  // context): never on the bus I/O thread that may be running this actor.
  // The spawn server answers the requester itself.
  auto rp = self->make_response_promise();
  auto server = caf::actor_cast<caf::abstract_actor*>(sys_.spawn_serv());
  server->enqueue(caf::make_mailbox_element(rp.source(), rp.id(), rp.stages(),
                                            caf::spawn_atom::value, std::move(type),
                                            std::move(args), std::move(ifs)),
                  nullptr);
  return caf::delegated<caf::strong_actor_ptr>{};
}

void spawn_service::stop() {
  caf::actor actor;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    actor.swap(actor_);
  }
  if (!actor)
    return;
  sys_.registry().erase(well_known_id);
  caf::anon_send_exit(actor, caf::exit_reason::kill);
}

} // namespace shmbus::bus
