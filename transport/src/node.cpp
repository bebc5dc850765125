#include "shmbus/transport/node.hpp"

#include <algorithm>
#include <cstring>
#include <thread>

#include "duration_text.hpp"
#include "liveness_watcher.hpp"
#include "segment_acceptor.hpp"

namespace shmbus::transport {

namespace {

using clock = std::chrono::steady_clock;

/// A full inbox is first retried with yields this many times (the consumer
/// is usually about to free space), then with futex naps.
constexpr int full_inbox_yields = 16;

/// Longest nap of a sender waiting for room, so that a destination that
/// dies meanwhile is noticed promptly.
constexpr std::chrono::milliseconds full_inbox_nap{10};

std::optional<error> validate(const node_options& options) {
  if (auto err = validate_bus_name(options.bus))
    return *err;
  if (options.name.size() > limits::max_name_length)
    return make_error(errc::invalid_argument,
                      "node name '" + options.name + "' is longer than "
                        + std::to_string(limits::max_name_length) + " bytes");
  if (options.user_data.size() > limits::max_user_data_bytes)
    return make_error(errc::invalid_argument,
                      "node user data holds at most "
                        + std::to_string(limits::max_user_data_bytes) + " bytes");
  if (options.role == node_role::server
      && options.timing.heartbeat_timeout <= 2 * options.timing.heartbeat_interval)
    return make_error(errc::invalid_argument,
                      "heartbeat timeout ("
                        + detail::ms_text(options.timing.heartbeat_timeout)
                        + ") must exceed twice the heartbeat interval ("
                        + detail::ms_text(options.timing.heartbeat_interval) + ")");
  return std::nullopt;
}

} // namespace

// -- lifetime -----------------------------------------------------------------

node::node(node_options options) : options_(std::move(options)) {
  // nop
}

result<std::unique_ptr<node>> node::start(node_options options) {
  if (auto err = validate(options))
    return *err;
  std::unique_ptr<node> self{new node(std::move(options))};
  if (auto err = self->membership_.join(self->options_, self->seg_))
    return err;
  self->names_ = std::make_unique<name_table>(self->seg_, &self->membership_);
  if (auto err = self->start_liveness())
    return err;
  if (auto err = self->start_handout())
    return err;
  self->membership_.admit_clients();
  return self;
}

error node::start_handout() {
  if (seg_.handout_fd() < 0)
    return {};
  try {
    acceptor_ = std::make_unique<detail::segment_acceptor>(seg_.handout_fd(), seg_.memfd(),
                                                           seg_.size_bytes());
    acceptor_->start();
  } catch (const std::exception& ex) {
    watcher_->stop();
    membership_.abandon();
    return make_error(errc::system_error, ex.what());
  }
  return {};
}

std::string node::where() const {
  return "node '" + options_.name + "' (slot " + std::to_string(slot()) + ") on bus '"
         + options_.bus + "'";
}

std::unique_ptr<liveness_watcher> node::make_watcher() {
  liveness_watcher::settings config;
  config.own_slot = slot();
  config.own_incarnation = incarnation();
  config.own_description = where();
  config.kill_hung_peers = options_.kill_hung_peers;
  config.on_stall = options_.on_stall;
  config.on_evicted = [this] { evicted_.store(true, std::memory_order_release); };
  return std::make_unique<liveness_watcher>(consumer_, seg_, membership_.lock(),
                                            std::move(config));
}

error node::start_liveness() {
  try {
    watcher_ = make_watcher();
    consumer_.attach(seg_, slot(), incarnation(), options_.idle, watcher_.get(), where());
    watcher_->start();
  } catch (const std::exception& ex) {
    membership_.abandon();
    return make_error(errc::system_error, ex.what());
  }
  return {};
}

node::~node() {
  leave();
}

void node::begin_leave() noexcept {
  if (watcher_)
    watcher_->begin_leave();
}

void node::leave() noexcept {
  if (left_.exchange(true) || !watcher_)
    return;
  watcher_->begin_leave();
  membership_.say_goodbye();
  names_->unpublish_all(slot(), incarnation());
  watcher_->stop();
  if (acceptor_)
    acceptor_->stop();
  seg_.close_handout(); // when the last process of a bus closes it, joiners are refused
  membership_.release();
}

error node::rejoin() noexcept {
  if (left_.load() || !watcher_)
    return make_error(errc::not_attached, "this node has left bus '" + options_.bus + "'");
  if (!evicted_.load(std::memory_order_acquire) || !membership_.evicted())
    return make_error(errc::not_attached,
                      "node '" + options_.name + "' (slot " + std::to_string(slot())
                        + ") of bus '" + options_.bus + "' is not evicted: nothing to rejoin");
  // The liveness thread watches for one incarnation of this slot: the next
  // one gets a thread of its own.
  watcher_->stop();
  auto err = membership_.rejoin(options_);
  if (!err)
    evicted_.store(false, std::memory_order_release);
  try {
    watcher_ = make_watcher();
    consumer_.rejoin(incarnation(), watcher_.get());
    watcher_->start();
  } catch (const std::exception& ex) {
    membership_.abandon();
    return make_error(errc::system_error, ex.what());
  }
  return err;
}

// -- sending --------------------------------------------------------------------

error node::send(uint32_t to_slot, uint32_t to_incarnation, const void* data,
                 size_t size, std::chrono::nanoseconds max_wait) noexcept {
  // The checksum is taken of our own bytes, not of the copy in the ring:
  // whatever another process writes into the record after the copy fails it.
  inbox_ring::claim c;
  if (auto err = claim_for_send(to_slot, to_incarnation, size, record_kind::data, max_wait, c))
    return err;
  std::memcpy(c.payload, data, size);
  return finish_send(to_slot, c, static_cast<const std::byte*>(data));
}

error node::claim_for_send(uint32_t to_slot, uint32_t to_incarnation, size_t size,
                           record_kind kind, std::chrono::nanoseconds max_wait,
                           inbox_ring::claim& out) noexcept {
  if (max_wait < std::chrono::nanoseconds::zero())
    max_wait = options_.full_inbox_timeout;
  auto& self = seg_.slot(slot());
  auto fail = [&](errc code, std::string what) {
    self.send_errors.fetch_add(1, std::memory_order_relaxed);
    return make_error(code, std::move(what));
  };
  if (left_.load(std::memory_order_relaxed))
    return fail(errc::not_attached, "this node has left bus '" + options_.bus + "'");
  // One load of a line that only changes when membership does. Another
  // process may scribble on the word: only the liveness thread's verdict
  // (the word says lost while this node's consumer was silent long enough
  // for a peer to be right) makes this node evicted; anything else it
  // restores within a heartbeat interval, and sends go on meanwhile.
  auto own_word = self.state.load(std::memory_order_acquire);
  if (own_word != make_state_word(node_state::alive, incarnation())) {
    if (own_word == make_state_word(node_state::leaving, incarnation()))
      return fail(errc::not_attached, "this node is leaving bus '" + options_.bus + "'");
    if (evicted_.load(std::memory_order_acquire))
      return fail(errc::evicted, evicted_text(own_word));
  }
  if (size > seg_.limits().max_message_bytes)
    return fail(errc::message_too_large,
                "message of " + std::to_string(size) + " bytes exceeds the maximum of "
                  + std::to_string(seg_.limits().max_message_bytes)
                  + " bytes of bus '" + options_.bus
                  + "'; send less, or start the server with a larger max message size");
  if (to_slot >= seg_.node_slots())
    return fail(errc::peer_lost, "no node slot " + std::to_string(to_slot)
                                   + " on bus '" + options_.bus + "'");
  auto& dest = seg_.slot(to_slot);
  auto expected_word = make_state_word(node_state::alive, to_incarnation);
  auto ring = seg_.ring(to_slot);
  auto until = clock::time_point::max();
  bool counted_wait = false;
  bool saw_garbage = false;
  for (int round = 0;; ++round) {
    if (dest.state.load(std::memory_order_acquire) != expected_word)
      return fail(errc::peer_lost,
                  "node '" + dest.name.load() + "' (slot " + std::to_string(to_slot)
                    + ", incarnation " + std::to_string(to_incarnation)
                    + ") of bus '" + options_.bus + "' is gone");
    auto status = ring.try_claim(kind, static_cast<uint32_t>(size), slot(),
                                 incarnation(), to_incarnation, out);
    if (out.repaired)
      self.producer_repairs.fetch_add(1, std::memory_order_relaxed);
    if (status == inbox_ring::claim_status::claimed)
      return {};
    // Full, or garbage that the destination's consumer repairs (it audits
    // its ring once per heartbeat interval): wake it, wait, never past the
    // deadline.
    if (status == inbox_ring::claim_status::corrupt) {
      saw_garbage = true;
      ring.wake_consumer();
    }
    auto now = clock::now();
    if (!counted_wait) {
      counted_wait = true;
      self.full_inbox_waits.fetch_add(1, std::memory_order_relaxed);
      until = now + max_wait;
    }
    if (now >= until) {
      // inbox_full, as for a full inbox: it is a wait that ran out, and
      // callers that queue on inbox_full retry once the consumer repaired it.
      if (saw_garbage)
        return fail(errc::inbox_full,
                    "the inbox of node '" + dest.name.load() + "' (slot "
                      + std::to_string(to_slot) + ") on bus '" + options_.bus
                      + "' holds garbage at its tail that its consumer did not repair within "
                      + detail::ms_text(max_wait)
                      + " (it does within a heartbeat interval unless it is hung); "
                        "the message was not sent");
      return fail(errc::inbox_full,
                  "the inbox of node '" + dest.name.load() + "' (slot "
                    + std::to_string(to_slot) + ") on bus '" + options_.bus
                    + "' stayed full for " + detail::ms_text(max_wait)
                    + " (" + std::to_string(ring.used_bytes())
                    + " bytes queued): its consumer is not keeping up; "
                      "the message was not sent");
    }
    if (round < full_inbox_yields) {
      std::this_thread::yield();
      continue;
    }
    auto nap = std::min<clock::duration>(until - now, full_inbox_nap);
    if (status == inbox_ring::claim_status::corrupt)
      std::this_thread::sleep_for(nap); // until the consumer's next audit
    else
      ring.wait_for_space(record::record_bytes(size), nap);
  }
}

error node::finish_send(uint32_t to_slot, const inbox_ring::claim& c,
                        const std::byte* source) noexcept {
  auto ring = seg_.ring(to_slot);
  auto& self = seg_.slot(slot());
  if (!ring.commit(c, source)) {
    self.send_errors.fetch_add(1, std::memory_order_relaxed);
    return make_error(errc::peer_lost,
                      "the receiver (slot " + std::to_string(to_slot)
                        + ") discarded the message before it was complete: it "
                          "declared this node lost or recovered a corrupt inbox");
  }
  ring.wake_consumer();
  self.msgs_out.fetch_add(1, std::memory_order_relaxed);
  self.bytes_out.fetch_add(c.payload_bytes, std::memory_order_relaxed);
  return {};
}

std::string node::evicted_text(uint64_t own_word) const {
  auto& self = seg_.slot(slot());
  peer_loss loss;
  loss.peer = read_peer_info(self, slot(), incarnation());
  loss.cause = incarnation_of(own_word) == incarnation()
                 ? static_cast<loss_cause>(self.loss_cause.load(std::memory_order_acquire))
                 : loss_cause::none;
  loss.detail = self.loss_detail.load(std::memory_order_acquire);
  return "this node (incarnation " + std::to_string(incarnation()) + ") was evicted from bus '"
         + options_.bus + "': its slot says " + to_string(state_of(own_word)) + " (incarnation "
         + std::to_string(incarnation_of(own_word)) + "), peers report " + loss.describe()
         + "; every receiver would drop what it sends: leave the bus or rejoin()";
}

// -- peers ----------------------------------------------------------------------

std::optional<peer_info> node::peer(uint32_t slot) const {
  if (slot >= seg_.node_slots())
    return std::nullopt;
  auto& s = seg_.slot(slot);
  auto word = s.state.load(std::memory_order_acquire);
  if (state_of(word) != node_state::alive)
    return std::nullopt;
  auto info = read_peer_info(s, slot, incarnation_of(word));
  // Re-check: the slot may have been reused while we copied.
  if (s.state.load(std::memory_order_acquire) != word)
    return std::nullopt;
  return info;
}

std::vector<peer_info> node::peers() const {
  std::vector<peer_info> result;
  for (uint32_t i = 0; i < seg_.node_slots(); ++i)
    if (auto p = peer(i))
      result.push_back(std::move(*p));
  return result;
}

void node::watch(uint32_t slot, uint32_t incarnation) {
  if (watcher_)
    watcher_->watch(slot, incarnation);
}

node_counters node::counters(uint32_t slot) const noexcept {
  return read_counters(seg_.slot(slot < seg_.node_slots() ? slot : this->slot()));
}

// -- names ----------------------------------------------------------------------

error node::publish(std::string_view name, uint64_t value, uint64_t aux) {
  return names_->publish(name, slot(), incarnation(), value, aux);
}

error node::unpublish(std::string_view name) {
  return names_->unpublish(name, slot(), incarnation());
}

result<published_name> node::lookup(std::string_view name) const {
  return names_->lookup(name);
}

result<published_name> node::await_name(std::string_view name,
                                        std::chrono::nanoseconds timeout) const {
  return names_->await(name, timeout);
}

std::vector<published_name> node::published() const {
  return names_->list();
}

} // namespace shmbus::transport
