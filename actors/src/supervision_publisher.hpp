// The observer that actors::configure() gives every supervisor: it writes
// the supervisor and its children into the supervision table of the bus
// its actor system is on, so that `shmbusctl tree` shows them. A
// supervisor whose system is on no bus publishes nothing. The rows belong
// to this process's node incarnation: they vanish with the process, and
// the publisher frees them when the supervisor stops.
#pragma once

#include <cstdint>
#include <vector>

#include <caf/fwd.hpp>

#include "shmbus/supervision/supervisor_observer.hpp"
#include "shmbus/transport/supervision_table.hpp"

namespace shmbus::actors {

/// Called only from its supervisor's thread (supervisor_observer's rule).
class supervision_publisher final : public supervision::supervisor_observer {
public:
  explicit supervision_publisher(caf::actor_system& sys);

  void children_changed(const supervision::supervisor_snapshot& x) override;

  void supervisor_stopped(caf::actor_id supervisor) override;

private:
  /// The rows of `x` as the table stores them: the supervisor first.
  std::vector<transport::supervision_row>
  rows_of(const supervision::supervisor_snapshot& x) const;

  caf::actor_system& sys_;
  /// The node incarnation that owns rows_ (0/0: none yet).
  uint32_t slot_ = 0;
  uint32_t incarnation_ = 0;
  const transport::segment* segment_ = nullptr;
  /// Indexes of our rows in the table, supervisor row first.
  std::vector<uint32_t> rows_;
};

} // namespace shmbus::actors
