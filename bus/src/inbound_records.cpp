#include "inbound_records.hpp"

#include <exception>

#include <caf/actor_system.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>

#include "error_mapping.hpp"
#include "shmbus/bus/errc.hpp"
#include "wire.hpp"

namespace shmbus::bus {

namespace {

constexpr auto message_kind = static_cast<uint8_t>(wire::kind::message);

} // namespace

inbound_records::inbound_records(caf::actor_system& sys, const bus_settings& settings,
                                 caf::proxy_registry& proxies, io_execution_unit& eu,
                                 peer_table& peers, pending_requests& pending,
                                 record_codec& codec, remote_links& links, stop_policy& stop,
                                 stray_proxies& strays, group_router& groups, once_log& log)
  : sys_(sys),
    settings_(settings),
    proxies_(proxies),
    eu_(eu),
    peers_(peers),
    pending_(pending),
    codec_(codec),
    links_(links),
    stop_(stop),
    strays_(strays),
    groups_(groups),
    log_(log),
    clock_(dynamic_cast<batching_clock*>(&sys.clock())) {
  // nop
}

void inbound_records::handle(const transport::message_view& msg) noexcept {
  peer_ref from{msg.sender_slot, msg.sender_incarnation};
  uint8_t kind = msg.size > 0 ? static_cast<uint8_t>(msg.data[0]) : 0;
  try {
    if (msg.size < 1)
      reject(from, kind, "an empty record");
    else if (!msg.intact)
      handle_corrupt(from, kind, msg.data + 1, msg.size - 1);
    else
      dispatch(from, kind, msg.data + 1, msg.size - 1);
  } catch (const std::exception& e) {
    reject(from, kind, std::string{"an exception while handling it: "} + e.what());
  } catch (...) {
    reject(from, kind, "an exception of unknown type while handling it");
  }
  try {
    strays_.purge(proxies_);
  } catch (const std::exception& e) {
    log_.write("strays", std::string{"forgetting stray proxies failed: "} + e.what());
  }
}

void inbound_records::dispatch(peer_ref from, uint8_t kind, const std::byte* body,
                               size_t size) {
  std::string problem;
  switch (static_cast<wire::kind>(kind)) {
    case wire::kind::message:
      handle_message(from, body, size);
      return;
    case wire::kind::watch: {
      caf::actor_id aid = 0;
      problem = record_codec::read_watch(body, size, aid);
      if (problem.empty())
        links_.on_watch(from, aid);
      break;
    }
    case wire::kind::down: {
      record_codec::reason_fields x;
      problem = codec_.read_reason(body, size, x);
      if (problem.empty()) {
        links_.on_down(from, x);
        problem = x.reason_problem; // used, but reported
      }
      break;
    }
    case wire::kind::link:
    case wire::kind::unlink: {
      std::pair<caf::actor_id, caf::actor_id> ids;
      problem = record_codec::read_link(body, size, ids);
      if (problem.empty())
        links_.on_link(from, ids.first, ids.second, kind == static_cast<uint8_t>(wire::kind::link));
      break;
    }
    case wire::kind::exit: {
      record_codec::exit_fields x;
      problem = codec_.read_exit(body, size, x);
      if (problem.empty())
        links_.on_exit(x);
      break;
    }
    case wire::kind::stop:
      if (size == 0)
        stop_.requested(peers_.name_of(from.slot));
      else
        problem = "a stop record with " + std::to_string(size) + " bytes after its kind (none expected)";
      break;
    case wire::kind::group_join:
    case wire::kind::group_leave:
    case wire::kind::group_message:
      problem = groups_.on_record(from, static_cast<wire::kind>(kind), body, size);
      break;
    default:
      problem = "record kind " + std::to_string(kind) + ", which this build does not know";
  }
  if (!problem.empty())
    reject(from, kind, problem);
}

void inbound_records::handle_message(peer_ref from, const std::byte* body, size_t size) {
  record_codec::message_head head;
  if (auto problem = codec_.read_message_head(from, body, size, head); !problem.empty())
    return reject(from, message_kind, problem);
  if (head.mid.is_response() && !pending_.take(head.receiver, head.mid))
    return; // answered already: the request failed when its receiver was lost
  auto dest = links_.find_local(head.receiver);
  if (!dest) {
    if (head.mid.is_request())
      answer_with_error(head.sender, head.mid, caf::sec::request_receiver_down);
    return; // as in-process: a message to a terminated actor is dropped
  }
  // Kept for the error answer: the element takes the originals.
  auto sender = head.sender;
  auto mid = head.mid;
  // The answer is here: its timeout need not stay scheduled (and hold the
  // requester) for the rest of its time, as CAF would leave it.
  if (clock_ != nullptr && mid.is_response())
    clock_->cancel_request_timeout(dest->get(), mid);
  auto fail = [&](const caf::error& why) {
    if (mid.is_request())
      answer_with_error(sender, mid, why);
    else if (mid.is_response()) // the requester learns why instead of timing out
      dest->enqueue(caf::make_mailbox_element(sender, mid, {}, caf::make_message(why)), &eu_);
  };
  std::vector<caf::strong_actor_ptr> stages;
  caf::message content;
  if (auto err = codec_.read_content(body, size, head, stages, content)) {
    auto why = from_deserializer(sys_, err, settings_.node_name, head.receiver);
    fail(why);
    return reject(from, message_kind, sys_.render(why));
  }
  try {
    dest->enqueue(caf::make_mailbox_element(std::move(head.sender), head.mid, std::move(stages),
                                            std::move(content)),
                  &eu_);
  } catch (const std::exception& e) {
    auto why = make_error(errc::deserialization_failed,
                          "node '" + settings_.node_name + "' could not deliver a message to actor "
                            + std::to_string(head.receiver) + ": " + e.what());
    fail(why);
    reject(from, message_kind, sys_.render(why));
  }
}

void inbound_records::handle_corrupt(peer_ref from, uint8_t kind, const std::byte* body,
                                     size_t size) {
  if (kind == message_kind) {
    record_codec::message_head head;
    if (codec_.read_message_head(from, body, size, head).empty() && head.mid.is_request())
      answer_with_error(head.sender, head.mid,
                        make_error(errc::corrupt_record,
                                   "a request to actor " + std::to_string(head.receiver)
                                     + " of node '" + settings_.node_name
                                     + "' failed the integrity check of its record and was not "
                                       "delivered; a process of the bus writes into shared "
                                       "memory it does not own"));
  }
  reject(from, kind, "the record failed the transport's integrity check (CRC32C); nothing in "
                     "it was delivered");
}

void inbound_records::reject(peer_ref from, uint8_t kind, const std::string& problem) {
  rejected_.fetch_add(1, std::memory_order_relaxed);
  std::string kind_name = wire::kind_name(kind);
  log_.write("refused/" + std::to_string(from.slot) + "/" + std::to_string(from.incarnation) + "/"
               + kind_name,
             "a " + kind_name + " record from node '" + peers_.name_of(from.slot) + "' (slot "
               + std::to_string(from.slot) + ") was refused and skipped: " + problem
               + " (further refused " + kind_name
               + " records of that process are counted, not logged; it runs an incompatible "
                 "shmbus build or writes into shared memory it does not own)");
}

} // namespace shmbus::bus
