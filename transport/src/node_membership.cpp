#include "shmbus/transport/node_membership.hpp"

#include <algorithm>
#include <cstring>
#include <thread>

#include <unistd.h>

#include "shmbus/transport/bus_name.hpp"

#include "duration_text.hpp"
#include "process_info.hpp"

namespace shmbus::transport {

namespace {

using clock = std::chrono::steady_clock;

/// Pause between two attempts to take a lock someone else holds.
constexpr std::chrono::milliseconds lock_retry_interval{1};

/// Attempts to get a lock file that is not replaced while we lock it.
constexpr int lock_file_attempts = 4;

/// Asking a running bus who is in the way, for an error message.
attach_options describe_options() {
  attach_options how;
  how.timeout = defaults::describe_timeout;
  how.read_only = true;
  return how;
}

/// Incarnations a joining node tries before it gives up on a slot whose
/// incarnation bytes another process squats.
constexpr int incarnation_lock_attempts = 64;

} // namespace

error node_membership::join(const node_options& options, segment& seg) {
  seg_ = &seg;
  role_ = options.role;
  bus_ = options.bus;
  return role_ == node_role::server ? join_as_server(options)
                                    : join_as_client(options);
}

// -- server ---------------------------------------------------------------------

std::string node_membership::live_clients(const segment& old) const {
  std::string who;
  for (uint32_t i = 1; i < old.node_slots(); ++i) {
    auto word = old.slot(i).state.load(std::memory_order_acquire);
    if (lock_.held_by_other(bus_lock::slot_byte(i), bus_lock::mode::shared))
      who += (who.empty() ? ": " : ", ") + std::string("'") + old.slot(i).name.load()
             + "' (pid " + std::to_string(old.slot(i).pid.load()) + ", "
             + to_string(state_of(word)) + ")";
  }
  return who;
}

error node_membership::join_as_server(const node_options& options) {
  auto& bus = bus_;
  if (auto err = segment::validate_limits(options.limits))
    return *err;
  // Reopen if the lock file is replaced under us (a concurrent clean).
  for (int attempt = 1;; ++attempt) {
    auto lock = bus_lock::open(bus, true, options.file_mode);
    if (!lock)
      return lock.err();
    lock_ = std::move(*lock);
    if (!lock_.try_lock(bus_lock::server_byte, bus_lock::mode::exclusive)) {
      std::string who;
      if (auto old = segment::attach(bus, describe_options())) {
        auto& s = old->slot(0);
        who = " (node '" + s.name.load() + "', pid "
              + std::to_string(s.pid.load(std::memory_order_relaxed)) + ")";
      }
      return make_error(errc::server_running,
                        "bus '" + bus + "' already has a running server" + who
                          + "; stop it first or use another bus name");
    }
    auto until = clock::now() + options.wait_for_clients;
    while (!lock_.try_lock(bus_lock::members_byte, bus_lock::mode::exclusive)) {
      if (clock::now() >= until) {
        std::string who;
        if (auto old = segment::attach(bus, describe_options()))
          who = live_clients(*old);
        return make_error(errc::clients_alive,
                          "bus '" + bus + "' still has live clients" + who
                            + "; a server does not start while clients of the "
                              "previous one live: stop them first");
      }
      std::this_thread::sleep_for(lock_retry_interval);
    }
    if (lock_.still_linked())
      break;
    if (attempt == lock_file_attempts)
      return make_error(errc::bus_in_use,
                        "the lock file " + lock_.path()
                          + " keeps being replaced; is `shmbusctl clean` running?");
  }
  if (segment::exists(bus))
    start_notes_.push_back("replaced the stale segment of bus '" + bus
                           + "': every process that used it is gone");
  segment_params params;
  params.limits = options.limits;
  params.timing = options.timing;
  params.file_mode = options.file_mode;
  params.checksums = options.checksums;
  auto created = segment::create(bus, params);
  if (!created)
    return created.err();
  *seg_ = std::move(*created);
  if (!lock_.try_lock(bus_lock::slot_byte(0), bus_lock::mode::exclusive))
    return make_error(errc::server_running,
                      "slot 0 of bus '" + bus + "' is held by another process");
  return claim_slot(0, options);
}

void node_membership::admit_clients() noexcept {
  if (role_ == node_role::server)
    lock_.unlock(bus_lock::members_byte);
}

// -- client ---------------------------------------------------------------------

error node_membership::join_as_client(const node_options& options) {
  auto& bus = bus_;
  auto lock = bus_lock::open(bus, false, options.file_mode);
  if (!lock)
    return lock.err();
  lock_ = std::move(*lock);
  // A starting server holds the members lock exclusively while it sets up.
  auto until = clock::now() + options.attach_timeout;
  while (!lock_.try_lock(bus_lock::members_byte, bus_lock::mode::shared)) {
    if (clock::now() >= until)
      return make_error(errc::timeout,
                        "the server of bus '" + bus + "' did not finish setting up within "
                          + detail::ms_text(options.attach_timeout));
    std::this_thread::sleep_for(lock_retry_interval);
  }
  if (!lock_.held_by_other(bus_lock::server_byte, bus_lock::mode::shared))
    return make_error(errc::bus_not_found,
                      "bus '" + bus + "' has no running server (what is left of it "
                        "belongs to a server that died); start the server first");
  attach_options how;
  how.timeout = std::max<std::chrono::nanoseconds>(until - clock::now(), lock_retry_interval);
  how.keep_handout = true;
  auto attached = segment::attach(bus, how);
  if (!attached)
    return attached.err();
  *seg_ = std::move(*attached);
  for (uint32_t i = 1; i < seg_->node_slots(); ++i) {
    if (lock_.try_lock(bus_lock::slot_byte(i), bus_lock::mode::exclusive))
      return claim_slot(i, options);
  }
  return make_error(errc::bus_full,
                    "bus '" + bus + "' has no free node slot (all "
                      + std::to_string(seg_->node_slots())
                      + " are in use); start its server with more node slots");
}

// -- the slot ---------------------------------------------------------------------

error node_membership::claim_slot(uint32_t slot, const node_options& options) {
  auto& s = seg_->slot(slot);
  // We hold the slot's lock, so its previous owner is gone. The incarnation
  // is ours once we hold its lock byte (peers ask the kernel which one
  // lives, not the state word); a byte someone else squats is skipped.
  auto incarnation = incarnation_of(s.state.load(std::memory_order_acquire));
  for (int attempt = 1;; ++attempt) {
    if (++incarnation == 0)
      incarnation = 1;
    if (lock_.try_lock(bus_lock::incarnation_byte(slot, incarnation),
                       bus_lock::mode::exclusive))
      break;
    if (attempt == incarnation_lock_attempts)
      return make_error(errc::bus_in_use,
                        "cannot lock an incarnation of slot " + std::to_string(slot)
                          + " in " + lock_.path()
                          + ": another process holds the bytes it needs; stop it");
  }
  s.state.store(make_state_word(node_state::joining, incarnation),
                std::memory_order_release);
  slot_ = slot;
  incarnation_.store(incarnation, std::memory_order_release);
  auto ring = seg_->ring(slot);
  if (!ring.initialized())
    ring.initialize();
  ring.control()->consumer_parked.store(0, std::memory_order_relaxed);
  s.pid.store(static_cast<int32_t>(::getpid()), std::memory_order_relaxed);
  s.role.store(static_cast<uint32_t>(options.role), std::memory_order_relaxed);
  s.process_start.store(detail::own_start_time(), std::memory_order_relaxed);
  s.joined_unix_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count(),
                         std::memory_order_relaxed);
  s.name.store(options.name);
  s.user_data.store(options.user_data.data(), options.user_data.size());
  s.heartbeat_ns.store(detail::coarse_monotonic_ns(), std::memory_order_relaxed);
  s.loss_cause.store(0, std::memory_order_relaxed);
  s.loss_detail.store(0, std::memory_order_relaxed);
  s.consumer_tid.store(0, std::memory_order_relaxed);
  for (auto* c : {&s.msgs_out, &s.bytes_out, &s.send_errors, &s.full_inbox_waits,
                  &s.producer_repairs, &s.msgs_in, &s.bytes_in, &s.corrupt_records,
                  &s.stale_dropped, &s.skipped_claims, &s.checksum_failures,
                  &s.ring_repairs, &s.bytes_lost, &s.slot_repairs, &s.heartbeat_repairs,
                  &s.false_identities, &s.stale_heartbeats})
    c->store(0, std::memory_order_relaxed);
  // Pairs with readers' acquire loads: the identity above is visible first.
  s.state.store(make_state_word(node_state::alive, incarnation),
                std::memory_order_release);
  seg_->header().membership_epoch.fetch_add(1, std::memory_order_release);
  return {};
}

void node_membership::abandon() noexcept {
  seg_->slot(slot_).state.store(make_state_word(node_state::dead, incarnation()),
                                std::memory_order_release);
}

bool node_membership::evicted() const noexcept {
  auto word = seg_->slot(slot_).state.load(std::memory_order_acquire);
  auto mine = incarnation();
  return word != make_state_word(node_state::alive, mine)
         && word != make_state_word(node_state::leaving, mine);
}

error node_membership::rejoin(const node_options& options) {
  if (!evicted())
    return make_error(errc::not_attached,
                      "node '" + options.name + "' (slot " + std::to_string(slot_)
                        + ") of bus '" + bus_ + "' is not evicted: nothing to rejoin");
  // The slot lock is still ours (the kernel says so, not the table): no
  // other process can hold this slot.
  if (!lock_.valid() || !lock_.try_lock(bus_lock::slot_byte(slot_), bus_lock::mode::exclusive))
    return make_error(errc::not_attached, "node '" + options.name + "' no longer holds slot "
                                            + std::to_string(slot_) + " of bus '" + bus_ + "'");
  auto lost = incarnation();
  if (auto err = claim_slot(slot_, options))
    return err;
  // The lost incarnation is over: the kernel must not vouch for it any more,
  // nor say that the new one is stalled.
  lock_.unlock(bus_lock::incarnation_byte(slot_, lost));
  lock_.unlock(bus_lock::stall_byte(slot_));
  return {};
}

// -- leaving ----------------------------------------------------------------------

void node_membership::say_goodbye() noexcept {
  auto incarnation = this->incarnation();
  auto alive = make_state_word(node_state::alive, incarnation);
  if (!seg_->slot(slot_).state.compare_exchange_strong(
        alive, make_state_word(node_state::leaving, incarnation),
        std::memory_order_acq_rel))
    return;
  // Each peer reports us lost right after our last message to it.
  auto until = clock::now() + defaults::leave_timeout;
  auto goodbye = static_cast<uint8_t>(record::control_type::leaving);
  for (uint32_t i = 0; i < seg_->node_slots(); ++i) {
    if (i == slot_)
      continue;
    auto word = seg_->slot(i).state.load(std::memory_order_acquire);
    if (state_of(word) != node_state::alive)
      continue;
    inbox_ring::claim c;
    auto ring = seg_->ring(i);
    for (;;) {
      auto status = ring.try_claim(record_kind::control, sizeof(goodbye), slot_,
                                   incarnation, incarnation_of(word), c);
      if (status == inbox_ring::claim_status::claimed) {
        std::memcpy(c.payload, &goodbye, sizeof(goodbye));
        ring.commit(c);
        ring.wake_consumer();
        break;
      }
      auto now = clock::now();
      if (status == inbox_ring::claim_status::corrupt || now >= until)
        break; // best effort: the peer's watcher still sees us go
      ring.wait_for_space(record::record_bytes(sizeof(goodbye)), until - now);
    }
  }
}

void node_membership::release() noexcept {
  auto& s = seg_->slot(slot_);
  s.loss_cause.store(static_cast<uint32_t>(loss_cause::left), std::memory_order_relaxed);
  s.loss_detail.store(0, std::memory_order_release);
  auto leaving = make_state_word(node_state::leaving, incarnation());
  s.state.compare_exchange_strong(leaving, make_state_word(node_state::dead, incarnation()),
                                  std::memory_order_acq_rel);
  seg_->header().membership_epoch.fetch_add(1, std::memory_order_release);
  if (role_ == node_role::server
      && lock_.try_lock(bus_lock::members_byte, bus_lock::mode::exclusive)
      && lock_.still_linked()) {
    // No client left: the server removes what it created. The lock file
    // stays while a launcher holds its lock in it: removing it would let a
    // second launcher start on a new file.
    segment::unlink(bus_);
    if (lock_.try_lock(bus_lock::launcher_byte, bus_lock::mode::exclusive))
      ::unlink(lock_.path().c_str());
  }
  lock_ = bus_lock{}; // releases every lock
}

} // namespace shmbus::transport
