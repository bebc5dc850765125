#include "stop_policy.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace shmbus::bus {

namespace {

/// How long a client that lost its server lets its actors see their down
/// messages before it exits.
constexpr auto exit_grace = std::chrono::milliseconds{100};

} // namespace

stop_policy::stop_policy(const bus_settings& settings) : settings_(settings) {
  // nop
}

void stop_policy::set(stop_reason reason, bool overwrite) {
  std::lock_guard<std::mutex> guard(mtx_);
  if (overwrite || !reason_)
    reason_ = std::move(reason);
  cv_.notify_all();
}

void stop_policy::requested(const std::string& by) {
  set({stop_cause::requested, "stop requested by node '" + by + "'"}, true);
}

void stop_policy::stopped() {
  set({stop_cause::stopped, "node stopped"}, false);
}

void stop_policy::server_lost(const std::string& why) {
  if (settings_.on_server_lost != "exit") {
    set({stop_cause::server_lost, "server lost: " + why}, true);
    return;
  }
  // await_stop_request() stays blocked: a process that returned from it
  // and ended normally would report success (exit code 0) to its launcher.
  // stderr may be a pipe to a dead parent: a SIGPIPE must not pre-empt the
  // exit code.
  std::signal(SIGPIPE, SIG_IGN);
  std::fprintf(stderr,
               "shmbus[%s]: the server of bus '%s' is lost (%s); exiting with code %d "
               "(shmbus.on-server-lost=exit) so that a launcher restarts the node\n",
               settings_.node_name.c_str(), settings_.bus.c_str(), why.c_str(),
               settings_.server_lost_exit_code);
  // The down messages are in the mailboxes; give the actors a moment to see
  // them, then go. _Exit: the actor system's threads are still running.
  auto code = settings_.server_lost_exit_code;
  std::thread([code] {
    std::this_thread::sleep_for(exit_grace);
    std::fflush(nullptr);
    std::_Exit(code);
  }).detach();
}

stop_reason stop_policy::await(caf::timespan timeout) {
  std::unique_lock<std::mutex> guard(mtx_);
  cv_.wait_for(guard, timeout, [this] { return static_cast<bool>(reason_); });
  return reason_;
}

} // namespace shmbus::bus
