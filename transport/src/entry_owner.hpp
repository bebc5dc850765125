// Entries of the segment's tables that belong to a node incarnation (name
// entries, supervision rows, half-written error entries) name it in their
// state word, encoded as name_entry.hpp says. Pure reads: never block.
#pragma once

#include <atomic>
#include <cstdint>

#include "shmbus/transport/bus_lock.hpp"
#include "shmbus/transport/name_entry.hpp"
#include "shmbus/transport/node_membership.hpp"
#include "shmbus/transport/node_slot.hpp"
#include "shmbus/transport/segment.hpp"

namespace shmbus::transport::detail {

/// Whether incarnation `incarnation` of `slot` is alive now. A member of the
/// bus (`member`) asks the kernel: an incarnation lives while its lock byte
/// is held (bus_lock.hpp), which no word of the segment can fake, so a
/// process that scribbles on the node table can neither take over a live
/// node's entries nor revive a dead one's. Without it (a reader that did
/// not join, such as shmbusctl) the node table's state word answers. An
/// owner slot beyond the node table (a scribbled word) is nobody. One
/// F_OFD_GETLK for a member; safe from any thread while `member` lives.
inline bool entry_owner_alive(const segment& seg, uint32_t slot, uint32_t incarnation,
                              const node_membership* member) noexcept {
  if (slot >= seg.node_slots())
    return false;
  if (member && member->lock().valid()) {
    // Our own locks are invisible to F_OFD_GETLK: we know our identity.
    if (slot == member->slot() && incarnation == member->incarnation())
      return true;
    return member->lock().held_by_other(bus_lock::incarnation_byte(slot, incarnation),
                                        bus_lock::mode::exclusive);
  }
  auto node = seg.slot(slot).state.load(std::memory_order_acquire);
  return node == make_state_word(node_state::alive, incarnation);
}

/// The same for the owner a state word names.
inline bool entry_owner_alive(const segment& seg, uint64_t state,
                              const node_membership* member = nullptr) noexcept {
  return entry_owner_alive(seg, name_owner_slot(state), name_owner_incarnation(state), member);
}

/// Takes the entry whose state word is `state` for (slot, incarnation),
/// marked writing, if it is free or its owner is gone (whatever it left).
/// Never blocks.
inline bool claim_entry(const segment& seg, std::atomic<uint64_t>& state, uint32_t slot,
                        uint32_t incarnation) noexcept {
  auto word = state.load(std::memory_order_acquire);
  if (name_state_of(word) != name_entry_state::free && entry_owner_alive(seg, word))
    return false;
  return state.compare_exchange_strong(word,
                                       make_name_state(name_entry_state::writing, slot,
                                                       incarnation),
                                       std::memory_order_acq_rel);
}

/// Frees the entry whose state word is `state` if (slot, incarnation) holds
/// it (valid or writing). Never blocks.
inline void release_entry(std::atomic<uint64_t>& state, uint32_t slot,
                          uint32_t incarnation) noexcept {
  auto free = make_name_state(name_entry_state::free, 0, 0);
  for (auto s : {name_entry_state::valid, name_entry_state::writing}) {
    auto expected = make_name_state(s, slot, incarnation);
    if (state.compare_exchange_strong(expected, free, std::memory_order_acq_rel))
      return;
  }
}

} // namespace shmbus::transport::detail
