// shmbus-launch: runs the server process of a bus and restarts it when it
// dies, which is the seed's rule for a server crash: its clients exit (code
// 75), the launcher restarts the server, and the server's supervisor
// restarts its modules.
//
// One launcher per bus (a kernel-released lock on the bus's lock file). The
// launcher is a subreaper: modules orphaned by a dead server become its
// children, so it reaps them and waits for them to exit before the next
// server starts (a server refuses to start while clients of the previous
// one live). SIGTERM, SIGINT and SIGHUP are forwarded to the server; the
// launcher exits when the server has stopped.
//
// Readiness: the server calls notify_ready() (ready_notice.hpp) once its
// modules are started; the launcher then sends READY=1 to its service
// manager through the notify function (shmbus-launch: sd_notify), and
// STATUS=/STOPPING=1 as the server restarts and stops.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include <signal.h>

#include "shmbus/actors/fwd.hpp"
#include "shmbus/actors/launcher_options.hpp"
#include "shmbus/actors/ready_notice.hpp"
#include "shmbus/process/fwd.hpp"
#include "shmbus/process/process_status.hpp"
#include "shmbus/transport/bus_lock.hpp"

namespace shmbus::actors {

class ready_listener;

class launcher {
public:
  /// Receives one line per event ("server started pid 4242").
  using log_function = std::function<void(std::string_view line)>;

  /// Receives the launcher's state for its service manager, in sd_notify's
  /// words: "READY=1\nSTATUS=...", "STATUS=...", "STOPPING=1".
  using notify_function = std::function<void(std::string_view state)>;

  /// Exit codes of run() and launcher_main().
  static constexpr int exit_done = 0;         ///< the server stopped for good
  static constexpr int exit_gave_up = 1;      ///< too many restarts, or no server
  static constexpr int exit_usage = 2;        ///< bad command line
  static constexpr int exit_launcher_running = 3; ///< the bus has a launcher

  /// `log` empty: lines go to stdout, prefixed "[launch] ". `notify`
  /// empty: no service manager is told anything.
  explicit launcher(launcher_options opts, log_function log = {},
                    notify_function notify = {});

  launcher(const launcher&) = delete;
  launcher& operator=(const launcher&) = delete;
  ~launcher();

  /// Takes the launcher lock and runs the server until it stops for good.
  /// Blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD in the calling thread: call
  /// it from a single-threaded program's main thread.
  /// @warning Blocks the caller until the server has stopped for good.
  int run();

private:
  enum class wake { signal_stop, server_ended, timeout };

  /// The restart loop of run(), with the launcher lock held.
  int run_servers();

  bool take_lock();
  bool lock_still_ours();

  /// Unlocks, and removes the lock file if nobody else uses the bus.
  void release_lock();

  /// Waits until the server ends, forwarding stop signals; SIGKILLs it
  /// `stop_timeout` after the first one.
  process::process_status supervise(process::os_process& server);

  /// After the server ended: reaps its orphaned children, waits up to
  /// `orphan_timeout` for the others to exit, then SIGKILLs and reaps them.
  void wait_for_orphans();

  /// Waits `delay` unless a stop signal comes first (then true).
  bool stopped_during(caf::timespan delay);

  /// Reads the pending signals: true if one asks to stop. Reaps zombie
  /// children other than `server_pid`.
  bool handle_signals(pid_t server_pid);

  void reap_children(pid_t except);

  void log(const std::string& line);

  void notify(const std::string& state);

  launcher_options opts_;
  log_function log_;
  notify_function notify_;
  std::unique_ptr<ready_listener> ready_;
  transport::bus_lock lock_;
  int signal_fd_ = -1;
  sigset_t old_mask_;
  bool mask_changed_ = false;
  bool stop_requested_ = false;
  int stop_signal_ = 0;
};

/// The main() of shmbus-launch: reads launcher_config from the command line
/// and caf-application.ini (or --config-file), then runs a launcher that
/// tells `notify` its state.
int launcher_main(int argc, char** argv, launcher::notify_function notify = {});

} // namespace shmbus::actors
