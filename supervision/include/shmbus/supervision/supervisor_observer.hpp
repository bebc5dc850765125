// Who else learns what a supervisor's children do: an observer gets the
// supervisor's children after every change (a start, a down, a pending
// restart, a stop) and its end. The supervision layer knows no bus; the
// actors layer installs an observer that publishes supervisors in the bus's
// supervision table (`shmbusctl tree`), and a program may set its own.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>

#include "shmbus/supervision/child_info.hpp"
#include "shmbus/supervision/fwd.hpp"
#include "shmbus/supervision/supervisor_flags.hpp"

namespace shmbus::supervision {

/// A supervisor and its children as they are now.
struct supervisor_snapshot {
  /// The supervisor's actor id: a child supervisor's handle has it too.
  caf::actor_id supervisor = 0;
  /// supervisor_flags::name; may be empty.
  std::string name;
  restart_strategy strategy = restart_strategy::one_for_one;
  /// In start order.
  std::vector<child_info> children;
};

/// Called from the supervisor's own thread, one call at a time, in order.
/// A call delays the supervisor: keep it short, never block on an actor.
class supervisor_observer {
public:
  virtual ~supervisor_observer();

  /// The children of the supervisor changed; `x` holds all of them.
  virtual void children_changed(const supervisor_snapshot& x) = 0;

  /// The supervisor `supervisor` is stopping: no further calls follow.
  virtual void supervisor_stopped(caf::actor_id supervisor) = 0;
};

/// Makes the observer of a supervisor that starts in `sys` without one in
/// its flags; may return nullptr (no observer).
using observer_factory
  = std::function<std::shared_ptr<supervisor_observer>(caf::actor_system& sys)>;

/// Process-wide: supervisors started from now on without
/// supervisor_flags::observer ask `f` for one (empty: none).
/// shmbus::actors::configure() installs the bus's. Thread-safe.
void set_observer_factory(observer_factory f);

/// The observer a supervisor without one in its flags gets now (nullptr:
/// none). Thread-safe.
std::shared_ptr<supervisor_observer> make_default_observer(caf::actor_system& sys);

} // namespace shmbus::supervision
