// Helpers for transport tests: a consumer thread that pumps a node's inbox
// into a recorder of everything it saw, and node start-up shorthands.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "text.hpp"
#include "child_process.hpp"
#include "shmbus/transport/node.hpp"
#include "wait.hpp"

namespace shmbus::test {

using namespace std::chrono_literals;

/// Liveness timing of tests that are not about hangs: a loaded machine
/// (the suite runs beside a CPU hog in CI) must not make a node look hung.
inline transport::liveness_timing test_timing() {
  transport::liveness_timing t;
  t.heartbeat_interval = 100ms;
  t.heartbeat_timeout = 2s;
  return t;
}

/// Fast liveness timing so that hang tests finish quickly.
inline transport::liveness_timing fast_timing() {
  transport::liveness_timing t;
  t.heartbeat_interval = 20ms;
  t.heartbeat_timeout = 300ms;
  return t;
}

/// "fast" or anything else (test_timing), as child roles take it.
inline transport::liveness_timing timing_named(const std::string& name) {
  return name == "fast" ? fast_timing() : test_timing();
}

/// node::start's result, for tests that expect a refusal.
inline transport::result<std::unique_ptr<transport::node>>
try_start(const std::string& bus, transport::node_role role, const std::string& name,
          transport::liveness_timing timing = test_timing()) {
  transport::node_options opts;
  opts.bus = bus;
  opts.role = role;
  opts.name = name;
  opts.timing = timing;
  return transport::node::start(opts);
}

/// A started node; fails the test if it cannot start.
inline std::unique_ptr<transport::node>
start_node(const std::string& bus, transport::node_role role, const std::string& name,
           transport::liveness_timing timing = test_timing()) {
  auto n = try_start(bus, role, name, timing);
  if (!n)
    FAIL("cannot start node '" << name << "': " << n.err().message);
  return std::move(*n);
}

/// The slot of a "node" child (child_roles.cpp), from its "ready SLOT INC".
inline uint32_t ready_slot(child_process& child) {
  auto line = child.read_line(10s);
  REQUIRE_MESSAGE(line.has_value(), "child did not report ready");
  REQUIRE_MESSAGE(line->rfind("ready ", 0) == 0, *line);
  return static_cast<uint32_t>(std::stoul(line->substr(6)));
}

/// Records what a node's consumer thread hands over.
/// Its callbacks run on the consumer thread (see pump), so nothing here
/// asserts: tests read what it recorded and CHECK on the main thread.
class recorder : public transport::inbox_handler {
public:
  /// Runs on the consumer thread before a message is recorded. Record what
  /// the test needs (an atomic, a copy); never CHECK or REQUIRE here: a
  /// failed assertion off the main thread aborts the whole binary.
  std::function<void(const transport::message_view&)> message_hook;

  void on_message(const transport::message_view& msg) override {
    if (message_hook)
      message_hook(msg);
    std::lock_guard<std::mutex> guard(mutex_);
    messages_.emplace_back(reinterpret_cast<const char*>(msg.data), msg.size);
  }
  void on_peer_joined(const transport::peer_info& p) override {
    std::lock_guard<std::mutex> guard(mutex_);
    joins_.push_back(p);
  }
  void on_peer_lost(const transport::peer_loss& loss) override {
    std::lock_guard<std::mutex> guard(mutex_);
    losses_.push_back(loss);
  }
  void on_error(const transport::error& err) override {
    std::lock_guard<std::mutex> guard(mutex_);
    errors_.push_back(err);
  }

  std::vector<transport::peer_loss> losses() {
    std::lock_guard<std::mutex> guard(mutex_);
    return losses_;
  }
  std::vector<transport::peer_info> joins() {
    std::lock_guard<std::mutex> guard(mutex_);
    return joins_;
  }
  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> guard(mutex_);
    return messages_;
  }
  std::vector<transport::error> errors() {
    std::lock_guard<std::mutex> guard(mutex_);
    return errors_;
  }

  /// The loss of the peer in `slot`, if reported.
  std::optional<transport::peer_loss> loss_of(uint32_t slot) {
    std::lock_guard<std::mutex> guard(mutex_);
    for (auto& l : losses_)
      if (l.peer.slot == slot)
        return l;
    return std::nullopt;
  }

private:
  std::mutex mutex_;
  std::vector<std::string> messages_;
  std::vector<transport::peer_info> joins_;
  std::vector<transport::peer_loss> losses_;
  std::vector<transport::error> errors_;
};

/// Runs a node's consumer loop on its own thread until destroyed; the
/// handler's callbacks run there.
class pump {
public:
  pump(transport::node& n, transport::inbox_handler& h) : node_(n) {
    thread_ = std::thread([this, &h] {
      while (!stop_.load())
        node_.run_once(h, 20ms);
    });
  }
  ~pump() {
    stop_ = true;
    node_.wake();
    thread_.join();
  }

private:
  transport::node& node_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace shmbus::test
