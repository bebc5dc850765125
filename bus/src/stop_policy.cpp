#include "stop_policy.hpp"

namespace shmbus::bus {

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
  set({stop_cause::server_lost, "server lost: " + why}, true);
}

void stop_policy::evicted(const std::string& why) {
  set({stop_cause::evicted, "evicted: " + why}, true);
}

stop_reason stop_policy::await(caf::timespan timeout) {
  std::unique_lock<std::mutex> guard(mtx_);
  cv_.wait_for(guard, timeout, [this] { return static_cast<bool>(reason_); });
  return reason_;
}

stop_reason stop_policy::current() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return reason_;
}

} // namespace shmbus::bus
