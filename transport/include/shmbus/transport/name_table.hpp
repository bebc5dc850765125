// Published names: a bus-wide table mapping a name to a value (an actor id)
// owned by one node incarnation. Lock-free; entries of dead owners are
// ignored by readers and reused by writers. Whether an owner is dead is
// the kernel's word for a table opened by a member of the bus (see
// entry_owner.hpp), the node table's for a reader that did not join.
//
// Threads: every method may be called from any thread and any process at
// once. Only await() waits; answers are snapshots that may be stale when
// the caller reads them.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shmbus/transport/error.hpp"
#include "shmbus/transport/fwd.hpp"
#include "shmbus/transport/segment.hpp"

namespace shmbus::transport {

struct published_name {
  std::string name;
  uint32_t slot = 0;
  uint32_t incarnation = 0;
  uint64_t value = 0;
  uint64_t aux = 0;
};

class name_table {
public:
  /// `member`: this process's membership of the bus, if it joined; it
  /// must outlive the table.
  explicit name_table(const segment& seg, const node_membership* member = nullptr) noexcept
    : seg_(&seg), member_(member) {}

  /// Publishes `name` for the node (slot, incarnation). Publishing a name
  /// the same node already holds replaces its value; a name held by another
  /// live node is refused with name_in_use. Never blocks.
  error publish(std::string_view name, uint32_t slot, uint32_t incarnation,
                uint64_t value, uint64_t aux);

  /// Removes `name` if this node holds it; name_not_found otherwise.
  /// Never blocks.
  error unpublish(std::string_view name, uint32_t slot, uint32_t incarnation);

  /// Removes every name the node holds (on leave). Never blocks.
  void unpublish_all(uint32_t slot, uint32_t incarnation) noexcept;

  /// The live holder of `name`, or name_not_found. Never blocks.
  result<published_name> lookup(std::string_view name) const;

  /// Waits until `name` is published by a live node, at most `timeout`.
  /// @warning Blocks the caller up to `timeout` (futex naps on the names
  /// epoch, each at most one heartbeat interval).
  result<published_name> await(std::string_view name,
                               std::chrono::nanoseconds timeout) const;

  /// Every name held by a live node. Never blocks.
  std::vector<published_name> list() const;

  /// Returns an error unless `name` may be published. Pure.
  static std::optional<error> validate_name(std::string_view name);

private:
  /// Entry `index` if it holds a valid name of a live owner, and only if
  /// its name is `want` (when given: the name is compared before the
  /// owner's liveness is asked of the kernel).
  bool read_entry(uint32_t index, published_name& out, std::string_view want = {}) const;
  void bump_epoch() const noexcept;

  const segment* seg_;
  const node_membership* member_;
};

} // namespace shmbus::transport
