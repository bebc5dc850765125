#include "shmbus/transport/supervision_table.hpp"

#include <chrono>

#include "entry_owner.hpp"

namespace shmbus::transport {

namespace {

/// Torn copies a reader accepts before it leaves a row out.
constexpr int max_read_attempts = 8;

int64_t unix_ns_now() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

const char* to_string(supervised_kind x) noexcept {
  switch (x) {
    case supervised_kind::worker: return "worker";
    case supervised_kind::supervisor: return "supervisor";
  }
  return "unknown";
}

const char* to_string(supervised_state x) noexcept {
  switch (x) {
    case supervised_state::running: return "running";
    case supervised_state::stopped: return "stopped";
    case supervised_state::restarting: return "restarting";
  }
  return "unknown";
}

result<uint32_t> supervision_table::claim(uint32_t slot, uint32_t incarnation) noexcept {
  auto entries = seg_->limits().supervision_entries;
  for (uint32_t i = 0; i < entries; ++i)
    if (detail::claim_entry(*seg_, seg_->supervision(i).state, slot, incarnation))
      return i;
  return make_error(errc::supervision_table_full,
                    "the supervision table of bus '" + seg_->bus() + "' is full ("
                      + std::to_string(entries)
                      + " rows); `shmbusctl tree` misses some supervisors: start "
                        "the server with more supervision entries");
}

error supervision_table::write(uint32_t index, uint32_t slot, uint32_t incarnation,
                               const supervision_row& row) noexcept {
  if (index >= seg_->limits().supervision_entries)
    return make_error(errc::invalid_argument, "no supervision row "
                                                + std::to_string(index));
  auto& e = seg_->supervision(index);
  auto state = e.state.load(std::memory_order_acquire);
  if (name_owner_slot(state) != slot || name_owner_incarnation(state) != incarnation
      || name_state_of(state) == name_entry_state::free)
    return make_error(errc::invalid_argument,
                      "supervision row " + std::to_string(index)
                        + " is not this node's (any more)");
  // Odd while writing: readers retry. Pairs with the readers' acquire loads.
  e.version.fetch_add(1, std::memory_order_acq_rel);
  e.supervisor_id.store(row.supervisor_id, std::memory_order_relaxed);
  e.child_actor_id.store(row.child_actor_id, std::memory_order_relaxed);
  e.restarts.store(row.restarts, std::memory_order_relaxed);
  e.updated_unix_ns.store(unix_ns_now(), std::memory_order_relaxed);
  e.pid.store(row.pid, std::memory_order_relaxed);
  e.position.store(row.position, std::memory_order_relaxed);
  e.kind.store(static_cast<uint32_t>(row.kind), std::memory_order_relaxed);
  e.child_state.store(static_cast<uint32_t>(row.state), std::memory_order_relaxed);
  e.supervisor_name.store(row.supervisor_name);
  e.child_name.store(row.child_name);
  e.strategy.store(row.strategy);
  e.last_exit_reason.store(row.last_exit_reason);
  e.version.fetch_add(1, std::memory_order_release);
  // The first write makes the row visible.
  e.state.store(make_name_state(name_entry_state::valid, slot, incarnation),
                std::memory_order_release);
  return {};
}

void supervision_table::release(uint32_t index, uint32_t slot,
                                uint32_t incarnation) noexcept {
  if (index >= seg_->limits().supervision_entries)
    return;
  detail::release_entry(seg_->supervision(index).state, slot, incarnation);
}

bool supervision_table::read_row(uint32_t index, supervision_row& out) const {
  auto& e = seg_->supervision(index);
  for (int attempt = 0; attempt < max_read_attempts; ++attempt) {
    // Seqlock read; acquire loads keep the copy between the two checks.
    auto state = e.state.load(std::memory_order_acquire);
    auto version = e.version.load(std::memory_order_acquire);
    if (name_state_of(state) != name_entry_state::valid || !detail::entry_owner_alive(*seg_, state))
      return false;
    if (version % 2 != 0)
      continue;
    out.owner_slot = name_owner_slot(state);
    out.owner_incarnation = name_owner_incarnation(state);
    out.supervisor_id = e.supervisor_id.load(std::memory_order_acquire);
    out.child_actor_id = e.child_actor_id.load(std::memory_order_acquire);
    out.restarts = e.restarts.load(std::memory_order_acquire);
    out.updated_unix_ns = e.updated_unix_ns.load(std::memory_order_acquire);
    out.pid = e.pid.load(std::memory_order_acquire);
    out.position = e.position.load(std::memory_order_acquire);
    out.kind = static_cast<supervised_kind>(e.kind.load(std::memory_order_acquire));
    out.state = static_cast<supervised_state>(e.child_state.load(std::memory_order_acquire));
    out.supervisor_name = e.supervisor_name.load(std::memory_order_acquire);
    out.child_name = e.child_name.load(std::memory_order_acquire);
    out.strategy = e.strategy.load(std::memory_order_acquire);
    out.last_exit_reason = e.last_exit_reason.load(std::memory_order_acquire);
    if (e.version.load(std::memory_order_relaxed) == version
        && e.state.load(std::memory_order_relaxed) == state)
      return true;
  }
  return false; // rewritten all the time: leave it out of this snapshot
}

std::vector<supervision_row> supervision_table::list() const {
  std::vector<supervision_row> result;
  for (uint32_t i = 0; i < seg_->limits().supervision_entries; ++i) {
    supervision_row row;
    if (read_row(i, row))
      result.push_back(std::move(row));
  }
  return result;
}

} // namespace shmbus::transport
