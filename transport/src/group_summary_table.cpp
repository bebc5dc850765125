#include "shmbus/transport/group_summary_table.hpp"

#include "entry_owner.hpp"

namespace shmbus::transport {

namespace {

/// Torn copies a reader accepts before it leaves a row out.
constexpr int max_read_attempts = 8;

/// Whether `name` may be shown: not empty, no control characters (bytes
/// of UTF-8 sequences are fine; printing escapes the rest).
bool plausible_name(const std::string& name) {
  if (name.empty())
    return false;
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f)
      return false;
  return true;
}

} // namespace

result<uint32_t> group_summary_table::claim(uint32_t slot, uint32_t incarnation) noexcept {
  if (slot >= seg_->node_slots())
    return make_error(errc::invalid_argument, "no node slot " + std::to_string(slot));
  for (uint32_t i = 0; i < group_rows_per_node; ++i)
    if (detail::claim_entry(*seg_, seg_->group_row(slot, i).state, slot, incarnation))
      return i;
  return make_error(errc::group_summary_full,
                    "the group summary of node slot " + std::to_string(slot) + " of bus '"
                      + seg_->bus() + "' is full (" + std::to_string(group_rows_per_node)
                      + " rows): `shmbusctl show` misses some of its groups; the groups "
                        "themselves work");
}

error group_summary_table::write(uint32_t slot, uint32_t incarnation, uint32_t index,
                                 const group_summary_row& row) noexcept {
  if (slot >= seg_->node_slots() || index >= group_rows_per_node)
    return make_error(errc::invalid_argument, "no group summary row " + std::to_string(index)
                                                + " of slot " + std::to_string(slot));
  auto& e = seg_->group_row(slot, index);
  auto state = e.state.load(std::memory_order_acquire);
  if (name_owner_slot(state) != slot || name_owner_incarnation(state) != incarnation
      || name_state_of(state) == name_entry_state::free)
    return make_error(errc::invalid_argument,
                      "group summary row " + std::to_string(index) + " of slot "
                        + std::to_string(slot) + " is not this node's (any more)");
  // Odd while writing: readers retry. Pairs with the readers' acquire loads.
  e.version.fetch_add(1, std::memory_order_acq_rel);
  e.local_subscribers.store(row.local_subscribers, std::memory_order_relaxed);
  e.published.store(row.published, std::memory_order_relaxed);
  e.records_out.store(row.records_out, std::memory_order_relaxed);
  e.undelivered.store(row.undelivered, std::memory_order_relaxed);
  e.records_in.store(row.records_in, std::memory_order_relaxed);
  e.name_bytes.store(static_cast<uint32_t>(row.name.size()), std::memory_order_relaxed);
  e.reserved.store(0, std::memory_order_relaxed);
  e.name.store(row.name);
  e.version.fetch_add(1, std::memory_order_release);
  // The first write makes the row visible.
  e.state.store(make_name_state(name_entry_state::valid, slot, incarnation),
                std::memory_order_release);
  return {};
}

void group_summary_table::release(uint32_t slot, uint32_t incarnation,
                                  uint32_t index) noexcept {
  if (slot >= seg_->node_slots() || index >= group_rows_per_node)
    return;
  detail::release_entry(seg_->group_row(slot, index).state, slot, incarnation);
}

bool group_summary_table::read_row(uint32_t slot, uint32_t index, group_summary_row& out,
                                   std::string& problem) const {
  auto& e = seg_->group_row(slot, index);
  auto where = "group summary row " + std::to_string(index) + " of slot "
               + std::to_string(slot);
  for (int attempt = 0; attempt < max_read_attempts; ++attempt) {
    // Seqlock read; acquire loads keep the copy between the two checks.
    auto state = e.state.load(std::memory_order_acquire);
    auto version = e.version.load(std::memory_order_acquire);
    if (name_state_of(state) != name_entry_state::valid)
      return false;
    if (name_owner_slot(state) != slot) {
      // Only the process in a slot writes that slot's rows.
      problem = where + " names slot " + std::to_string(name_owner_slot(state))
                + " as its owner";
      return false;
    }
    if (!detail::entry_owner_alive(*seg_, state))
      return false;
    if (version % 2 != 0)
      continue;
    out.owner_slot = slot;
    out.owner_incarnation = name_owner_incarnation(state);
    out.local_subscribers = e.local_subscribers.load(std::memory_order_acquire);
    out.published = e.published.load(std::memory_order_acquire);
    out.records_out = e.records_out.load(std::memory_order_acquire);
    out.undelivered = e.undelivered.load(std::memory_order_acquire);
    out.records_in = e.records_in.load(std::memory_order_acquire);
    auto name_bytes = e.name_bytes.load(std::memory_order_acquire);
    auto reserved = e.reserved.load(std::memory_order_acquire);
    out.name = e.name.load(std::memory_order_acquire);
    if (e.version.load(std::memory_order_relaxed) != version
        || e.state.load(std::memory_order_relaxed) != state)
      continue;
    // A consistent copy: now judge what it says.
    if (reserved != 0)
      problem = where + " has reserved bits set";
    else if (!plausible_name(out.name))
      problem = where + " has an empty or unprintable group name";
    else if (name_bytes > max_name_bytes || name_bytes < out.name.size()
             || (name_bytes > out.name.size()
                 && out.name.size() != group_summary_name_bytes - 1))
      problem = where + " claims a name of " + std::to_string(name_bytes) + " bytes for '"
                + out.name + "'";
    else if (out.local_subscribers > max_plausible_subscribers)
      problem = where + " claims " + std::to_string(out.local_subscribers) + " subscribers";
    if (!problem.empty())
      return false;
    out.name_cut = name_bytes > out.name.size();
    return true;
  }
  return false; // rewritten all the time: leave it out of this snapshot
}

group_summary group_summary_table::list() const {
  group_summary result;
  size_t more_problems = 0;
  for (uint32_t slot = 0; slot < seg_->node_slots(); ++slot)
    for (uint32_t i = 0; i < group_rows_per_node; ++i) {
      group_summary_row row;
      std::string problem;
      if (read_row(slot, i, row, problem))
        result.rows.push_back(std::move(row));
      else if (!problem.empty()) {
        if (result.problems.size() < group_summary::max_problems)
          result.problems.push_back(std::move(problem));
        else
          ++more_problems;
      }
    }
  if (more_problems > 0)
    result.problems.push_back(std::to_string(more_problems) + " more rows left out as garbage");
  return result;
}

} // namespace shmbus::transport
