// An actor system, a probe, and supervisors that are stopped at the end of
// each test even when it fails.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <doctest/doctest.h>

#include "probe.hpp"
#include "shmbus/supervision/supervisor.hpp"

namespace shmbus::test {

struct supervisor_test_config : caf::actor_system_config {
  supervisor_test_config() {
    supervision::configure(*this);
  }
};

/// A clock for the supervisor's intensity window and backoff reset that a
/// test moves forward: real time plus an offset.
class manual_clock {
public:
  std::function<steady::time_point()> source() const {
    auto offset = offset_;
    return [offset] {
      return steady::now() + std::chrono::nanoseconds{offset->load()};
    };
  }

  void advance(steady::duration d) {
    offset_->fetch_add(
      std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  }

private:
  std::shared_ptr<std::atomic<int64_t>> offset_
    = std::make_shared<std::atomic<int64_t>>(0);
};

struct supervisor_fixture {
  supervisor_test_config cfg;
  caf::actor_system sys{cfg};
  test::probe probe{sys};
  std::vector<caf::actor> supervisors;

  ~supervisor_fixture() {
    // Each supervisor stops its children; the actor system waits for all
    // actors before it goes away, so nothing may be left running.
    caf::scoped_actor self{sys};
    for (auto& sup : supervisors) {
      self->monitor(sup);
      self->send_exit(sup, caf::exit_reason::user_shutdown);
      bool down = false;
      self->receive([&](caf::down_msg&) { down = true; },
                    caf::after(event_deadline) >> [] {});
      if (!down)
        self->send_exit(sup, caf::exit_reason::kill);
    }
  }

  caf::blocking_actor& self() {
    return *probe.self();
  }

  /// Starts a supervisor that must start; the probe watches it.
  caf::actor start(supervision::supervisor_flags flags,
                   std::vector<supervision::child_spec> children) {
    auto sup = supervision::start_supervisor(sys, std::move(flags),
                                        std::move(children));
    REQUIRE_MESSAGE(sup, "start_supervisor failed: " << sys.render(sup.error()));
    supervisors.push_back(*sup);
    probe.watch(*sup);
    return *sup;
  }

  supervision::child_spec worker(std::string id, worker_options opts = {}) {
    return supervision::child_spec{id, probe.worker(id, std::move(opts))};
  }

  std::vector<supervision::child_info> children_of(const caf::actor& sup) {
    auto xs = supervision::which_children(self(), sup);
    REQUIRE_MESSAGE(xs, "which_children failed: " << sys.render(xs.error()));
    return *xs;
  }

  supervision::child_info child_of(const caf::actor& sup, const std::string& id) {
    for (auto& x : children_of(sup))
      if (x.id == id)
        return x;
    FAIL("no child " << id);
    return {};
  }

  bool has_child(const caf::actor& sup, const std::string& id) {
    for (auto& x : children_of(sup))
      if (x.id == id)
        return true;
    return false;
  }

  std::string render(const caf::error& err) {
    return sys.render(err);
  }
};

/// An abnormal exit reason for crashing test children.
inline caf::error boom() {
  return caf::make_error(caf::sec::runtime_error, "boom");
}

} // namespace shmbus::test
