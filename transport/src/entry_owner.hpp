// Entries of the segment's tables that belong to a node incarnation (name
// entries, supervision rows, half-written error entries) name it in their
// state word, encoded as name_entry.hpp says. Pure reads: never block.
#pragma once

#include <cstdint>

#include "shmbus/transport/name_entry.hpp"
#include "shmbus/transport/node_slot.hpp"
#include "shmbus/transport/segment.hpp"

namespace shmbus::transport::detail {

/// Whether the incarnation that `state` names is alive now. An owner slot
/// beyond the node table (a scribbled word) is nobody.
inline bool entry_owner_alive(const segment& seg, uint64_t state) noexcept {
  auto slot = name_owner_slot(state);
  if (slot >= seg.node_slots())
    return false;
  auto node = seg.slot(slot).state.load(std::memory_order_acquire);
  return node == make_state_word(node_state::alive, name_owner_incarnation(state));
}

} // namespace shmbus::transport::detail
