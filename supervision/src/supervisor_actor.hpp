// The supervisor as a CAF actor. Private: users start it with
// start_supervisor() and talk to it through supervisor.hpp / atoms.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>
#include <caf/behavior.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/result.hpp>
#include <caf/system_messages.hpp>
#include <caf/timespan.hpp>

#include "shmbus/log/log_level.hpp"
#include "shmbus/supervision/child_counts.hpp"
#include "shmbus/supervision/child_info.hpp"
#include "shmbus/supervision/child_spec.hpp"
#include "shmbus/supervision/restart_intensity.hpp"
#include "shmbus/supervision/supervisor_flags.hpp"
#include "shmbus/supervision/supervisor_observer.hpp"

namespace shmbus::supervision {

/// Sent by start_supervisor(): start the initial children, answer when done.
using supervisor_init_atom = caf::atom_constant<caf::atom("sv_init")>;

/// Sent to itself: start the children waiting for restart `token` now.
using supervisor_retry_atom = caf::atom_constant<caf::atom("sv_retry")>;

/// OTP-style supervisor. Runs detached: start functions and the stopping of
/// children block its own thread, exactly as an OTP supervisor is busy while
/// it starts or stops a child. Messages arriving meanwhile wait in order.
class supervisor_actor : public caf::event_based_actor {
public:
  supervisor_actor(caf::actor_config& cfg, supervisor_flags flags,
                   std::vector<child_spec> specs);

  const char* name() const override;

protected:
  caf::behavior make_behavior() override;

  void on_exit() override;

private:
  using time_point = std::chrono::steady_clock::time_point;

  struct child {
    child_spec spec;
    caf::message args;              // extra start arguments (dynamic children)
    caf::actor handle;              // valid while running
    child_state state = child_state::stopped;
    uint64_t starts = 0;            // successful starts
    caf::error last_exit_reason;
    uint64_t restart_token = 0;     // the restart it waits for; 0: none
    size_t backoff_attempts = 0;    // consecutive backoff restarts
    time_point started_at;
  };

  using child_list = std::vector<child>;
  using child_iterator = child_list::iterator;

  // -- starting ---------------------------------------------------------------

  caf::result<void> init();

  /// Runs the start function of `c` and monitors the new incarnation; returns
  /// the cause of a failure.
  caf::error start(child& c);

  /// `errc::child_start_failed` naming `id` and `cause`.
  caf::error start_error(const std::string& id, const caf::error& cause) const;

  // -- failures and restarts --------------------------------------------------

  void handle_down(caf::down_msg& dm);

  void handle_exit(caf::exit_msg& em);

  /// Applies the strategy after children_[failed] went down and must restart.
  void begin_restart(size_t failed);

  /// Starts the children waiting for `token`, in start order.
  void restart_pending(uint64_t token);

  /// Delay before the next restart of `c` (zero without backoff).
  caf::timespan next_backoff_delay(child& c, bool was_running);

  /// Stops all children and exits with `errc::restart_intensity_exceeded`.
  void give_up(const std::string& child_id, const caf::error& cause);

  // -- stopping ---------------------------------------------------------------

  /// Stops `targets` in the given order, each per its shutdown policy,
  /// waiting for one to go down before stopping the next. Dynamic children
  /// are independent and stop all at once (as OTP does).
  void stop_children(const std::vector<child*>& targets);

  /// Stops those of `targets` that run, concurrently, and waits until each
  /// is down or given up (child_shutdown.hpp); cancels pending restarts.
  void stop_together(caf::blocking_actor& waiter,
                     const std::vector<child*>& targets);

  /// Stops all children (newest first) and quits with `reason`.
  void shutdown(caf::error reason);

  // -- runtime API ------------------------------------------------------------

  caf::result<caf::actor> add_child(child_spec& spec);

  caf::result<caf::actor> add_dynamic_child(caf::message& args);

  caf::result<void> terminate(child_iterator i);

  caf::result<caf::actor> restart_stopped(const std::string& id);

  caf::result<void> remove_stopped(const std::string& id);

  std::vector<child_info> infos() const;

  child_counts counts() const;

  // -- utility ----------------------------------------------------------------

  bool is_simple() const noexcept {
    return flags_.strategy == restart_strategy::simple_one_for_one;
  }

  time_point now() const;

  child_iterator find_id(const std::string& id);

  child_iterator find_handle(const caf::actor_addr& addr);

  /// Remembers the address of a gone incarnation for handle_exit.
  void remember_former(const caf::actor_addr& addr);

  /// "supervisor 'name'" or "supervisor".
  std::string self_description() const;

  // -- reporting --------------------------------------------------------------

  /// Tells the observer about the children as they are now.
  void changed();

  /// Writes a supervision event to shmbus::log with the fields
  /// supervisor, child, kind, restarts and (if any) reason.
  void log_event(log::level severity, const char* event, const child& c,
                 const std::string& message, const caf::error& reason = caf::error{});

  caf::error not_found(const std::string& id) const;

  // -- member variables -------------------------------------------------------

  supervisor_flags flags_;
  child_list children_;                     // in start order
  std::optional<child_spec> template_;      // simple_one_for_one
  restart_intensity intensity_;
  std::minstd_rand rng_;                    // backoff randomization
  uint64_t next_token_ = 1;
  uint64_t next_dynamic_id_ = 1;
  bool initialized_ = false;
  std::shared_ptr<supervisor_observer> observer_;
  // Addresses of recently gone incarnations: an exit_msg from one of them
  // (a child that linked itself to us) must not stop the supervisor.
  std::deque<caf::actor_addr> former_children_;
};

} // namespace shmbus::supervision
