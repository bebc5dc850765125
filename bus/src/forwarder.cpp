#include "forwarder.hpp"

#include <vector>

#include <caf/actor_system.hpp>
#include <caf/system_messages.hpp>

#include "error_mapping.hpp"
#include "shm_actor_proxy.hpp"
#include "shmbus/bus/errc.hpp"

namespace shmbus::bus {

forwarder::forwarder(caf::actor_system& sys, const bus_settings& settings,
                     const std::atomic<bool>& stopping, peer_table& peers,
                     pending_requests& pending, record_codec& codec, outbox& out,
                     remote_links& links, once_log& log)
  : sys_(sys),
    settings_(settings),
    stopping_(stopping),
    peers_(peers),
    pending_(pending),
    codec_(codec),
    out_(out),
    links_(links),
    log_(log),
    lost_([this](peer_ref to, const caf::error& why) {
      undelivered_.fetch_add(1, std::memory_order_relaxed);
      log_.write("queued/" + std::to_string(to.slot),
                 "messages to node '" + peers_.name_of(to.slot)
                   + "' waited for room in its inbox and were not delivered: "
                   + sys_.render(why) + " (further failures of this kind are not logged)");
    }) {
  // nop
}

void forwarder::forward(shm_actor_proxy& proxy, caf::mailbox_element_ptr what) {
  peer_ref to{proxy.slot(), proxy.incarnation()};
  auto mid = what->mid;
  if (stopping_.load(std::memory_order_relaxed) || !peers_.alive(to)
      || proxy.getf(caf::abstract_actor::is_terminated_flag)) {
    answer_with_error(what->sender, mid, caf::sec::request_receiver_down);
    return;
  }
  if (what->content().match_elements<caf::exit_msg>()) {
    links_.forward_exit(proxy, *what);
    return;
  }
  // An ordinary message: one serialization, straight into a record.
  thread_local std::vector<char> buf;
  codec_.start_message(buf, proxy.id(), mid, what->sender, !what->stages.empty());
  auto msg = what->move_content_to_message();
  // Pool buffers inside cross as handles: references in flight to `to`.
  buffer_export exports{codec_.pool(), to.slot, to.incarnation, {}};
  auto err = codec_.put_content(buf, what->stages, msg, exports.pool ? &exports : nullptr);
  auto receiver_text = [&] {
    return "actor " + std::to_string(proxy.id()) + " of node '" + peers_.name_of(to.slot) + "'";
  };
  // Content that cannot cross. A response is replaced by the error, so that
  // its requester learns why instead of waiting for its timeout.
  auto refuse = [&](caf::error why) {
    report_failure(*what, why, receiver_text());
    if (mid.is_response() && !msg.match_elements<caf::error>())
      proxy.enqueue(caf::make_mailbox_element(what->sender, mid, {},
                                              caf::make_message(std::move(why))),
                    nullptr);
  };
  if (err) {
    exports.cancel();
    refuse(from_serializer(sys_, err, msg));
    return;
  }
  if (buf.size() > settings_.max_message_size) {
    exports.cancel();
    refuse(make_error(errc::message_too_large,
                      "message " + type_names(sys_, msg) + " of " + std::to_string(buf.size())
                        + " bytes exceeds shmbus.max-message-size ("
                        + std::to_string(settings_.max_message_size)
                        + " bytes); send less or raise the server's max-message-size"));
    return;
  }
  // Record the request before writing: the answer may arrive first.
  bool track = mid.is_request() && what->sender && what->sender->node() == sys_.node();
  if (track)
    pending_.add(what->sender, mid, proxy.node(), proxy.id());
  if (auto sent = out_.send(to, buf, what->sender, mid, lost_)) {
    exports.cancel();
    if (track)
      pending_.take(what->sender->id(), mid);
    report_failure(*what, sent, receiver_text());
    return;
  }
  // The peer may have died between our check and add(): whoever removes the
  // entry answers it, so each request is answered once.
  if (track && (!peers_.alive(to) || proxy.getf(caf::abstract_actor::is_terminated_flag))
      && pending_.take(what->sender->id(), mid))
    answer_with_error(what->sender, mid, caf::sec::request_receiver_down);
}

void forwarder::report_failure(const caf::mailbox_element& what, const caf::error& err,
                               const std::string& receiver) {
  undelivered_.fetch_add(1, std::memory_order_relaxed);
  if (what.mid.is_request()) {
    answer_with_error(what.sender, what.mid, err);
    return;
  }
  auto sender = what.sender ? std::to_string(what.sender->id()) : std::string{"anonymous"};
  log_.write(std::to_string(err.code()) + "/" + caf::to_string(err.category()) + "/" + receiver,
             "a message from actor " + sender + " to " + receiver + " was not delivered: "
               + sys_.render(err) + " (further failures of this kind are not logged)");
}

} // namespace shmbus::bus
