#include "shmbus/bus/bus_scheduler.hpp"

#include <thread>

#include <caf/actor_system_config.hpp>
#include <caf/defaults.hpp>
#include <caf/detail/set_thread_name.hpp>
#include <caf/policy/profiled.hpp>
#include <caf/policy/work_sharing.hpp>
#include <caf/policy/work_stealing.hpp>
#include <caf/scheduler/coordinator.hpp>
#include <caf/scheduler/profiled_coordinator.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "shmbus/log/logger.hpp"

#include "batching_clock.hpp"

namespace shmbus::bus {

namespace {

/// CAF's coordinator with a batching_clock on a thread of its own. CAF's
/// own clock thread still starts with the coordinator and waits, unused.
template <class Policy>
class batching_coordinator final : public caf::scheduler::coordinator<Policy> {
public:
  using super = caf::scheduler::coordinator<Policy>;

  explicit batching_coordinator(caf::actor_system& sys) : super(sys) {
    // nop
  }

  caf::detail::thread_safe_actor_clock& clock() noexcept override {
    return clock_;
  }

protected:
  void start() override {
    thread_ = std::thread{[this] {
      caf::detail::set_thread_name("shmbus.clock");
      this->system().thread_started();
      clock_.run();
      this->system().thread_terminates();
    }};
    super::start();
  }

  void stop() override {
    // As CAF's coordinator does with its clock: workers first, clock last.
    super::stop();
    clock_.stop();
    thread_.join();
  }

private:
  batching_clock clock_;
  std::thread thread_;
};

} // namespace

caf::actor_system::module* bus_scheduler::make(caf::actor_system& sys,
                                               caf::detail::type_list<>) {
  using caf::policy::work_sharing;
  using caf::policy::work_stealing;
  using namespace caf::scheduler;
  auto& cfg = sys.config();
  auto policy = caf::get_or(cfg, "scheduler.policy", caf::defaults::scheduler::policy);
  auto profiled = caf::get_or(cfg, "scheduler.enable-profiling", false);
  if (policy == caf::atom("testing"))
    return new test_coordinator(sys);
  bool sharing = policy == caf::atom("sharing");
  if (!sharing && policy != caf::atom("stealing"))
    log::write(log::level::warning, "bus", "scheduler_policy",
               "scheduler.policy " + caf::to_string(policy)
                 + " is none of stealing, sharing, testing: work stealing is used; set one of "
                   "those three");
  if (profiled) {
    if (sharing)
      return new profiled_coordinator<caf::policy::profiled<work_sharing>>(sys);
    return new profiled_coordinator<caf::policy::profiled<work_stealing>>(sys);
  }
  if (sharing)
    return new batching_coordinator<work_sharing>(sys);
  return new batching_coordinator<work_stealing>(sys);
}

} // namespace shmbus::bus
