// Shared by the module and launcher tests: the echo actor that test modules
// publish and a bus server in the test process with a supervisor of modules.
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <caf/all.hpp>
#include <doctest/doctest.h>

#include "text.hpp"
#include "bus_fixture.hpp"
#include "child_process.hpp"
#include "shmbus/actors/errc.hpp"
#include "shmbus/actors/module_spec.hpp"
#include "shmbus/bus/config.hpp"
#include "shmbus/bus/errc.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/supervision/supervisor.hpp"
#include "wait.hpp"
#include "zombie_check.hpp"

namespace shmbus::test {

using namespace std::chrono_literals;

/// Answers "pid" with its process id and "name" with the name it was
/// published as, ends its process on "exit:N" with code N, and echoes
/// anything else. (It takes an argument on purpose: CAF 0.17.6 binds a null
/// reference when it spawns a function actor without arguments, which
/// UBSan reports.)
inline caf::behavior echo_actor(caf::event_based_actor*, std::string name) {
  return {
    [name](const std::string& x) -> std::string {
      if (x == "pid")
        return std::to_string(::getpid());
      if (x == "name")
        return name;
      if (x.rfind("exit:", 0) == 0) {
        std::fflush(nullptr);
        ::_exit(std::stoi(x.substr(5)));
      }
      return x;
    },
  };
}

/// Collects the forwarded output lines of modules.
class output_recorder {
public:
  std::function<void(actors::output_stream, std::string_view)> sink() {
    return [this](actors::output_stream from, std::string_view line) {
      std::lock_guard<std::mutex> guard{mtx_};
      lines_.emplace_back(from, std::string{line});
    };
  }

  bool has(actors::output_stream from, const std::string& line) {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [s, l] : lines_)
      if (s == from && l == line)
        return true;
    return false;
  }

  std::string all() {
    std::lock_guard<std::mutex> guard{mtx_};
    std::string result;
    for (auto& [s, l] : lines_)
      result += (s == actors::output_stream::out ? "out: " : "err: ") + l + "\n";
    return result;
  }

private:
  std::mutex mtx_;
  std::vector<std::pair<actors::output_stream, std::string>> lines_;
};

/// A bus server in the test process, with fast liveness timing, and the
/// supervisors a test starts; everything stops at the end of the test, in
/// order (supervisors, node, actor system), also when the test fails.
struct module_fixture {
  scoped_bus bus;
  bus::config cfg;
  std::unique_ptr<caf::actor_system> sys;
  bus::node node;
  std::unique_ptr<caf::scoped_actor> self;
  std::vector<caf::actor> supervisors;

  explicit module_fixture(const std::string& tag) : bus(tag) {
    actors::configure(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    bus::bus_settings settings;
    settings.bus = bus.name;
    settings.role = "server";
    settings.node_name = "test-server";
    // Long enough that a loaded machine makes no module look hung.
    settings.heartbeat_interval = 100ms;
    settings.heartbeat_timeout = 2s;
    auto started = bus::node::start(*sys, settings);
    REQUIRE_MESSAGE(started, "cannot start the bus server: "
                               << sys->render(started.error()));
    node = std::move(*started);
    self = std::make_unique<caf::scoped_actor>(*sys);
  }

  ~module_fixture() {
    // Newest first; a supervisor stops its modules before it goes down.
    for (auto i = supervisors.rbegin(); i != supervisors.rend(); ++i) {
      (*self)->send_exit(*i, caf::exit_reason::user_shutdown);
      if (!down_reason(*i, 15s))
        (*self)->send_exit(*i, caf::exit_reason::kill);
    }
    // The actor system waits for its detached actors (supervisors) to be
    // destroyed: drop every handle first.
    supervisors.clear();
    downs.clear();
    self.reset();
    node.stop();
    sys.reset();
  }

  /// A module running this test binary's "module" role with `role_args`.
  actors::module_spec module(const std::string& name,
                             std::vector<std::string> role_args,
                             std::vector<std::string> publishes) {
    actors::module_spec spec;
    spec.name = name;
    spec.executable = self_executable();
    spec.args = {"--child", "module"};
    spec.args.insert(spec.args.end(), role_args.begin(), role_args.end());
    spec.publishes = std::move(publishes);
    spec.start_timeout = 5s;
    spec.term_after = 1s;
    spec.kill_after = 2s;
    return spec;
  }

  caf::expected<caf::actor> try_start(supervision::supervisor_flags flags,
                                      std::vector<supervision::child_spec> children) {
    auto sup = supervision::start_supervisor(*sys, std::move(flags),
                                        std::move(children));
    if (sup)
      supervisors.push_back(*sup);
    return sup;
  }

  caf::actor start(supervision::supervisor_flags flags,
                   std::vector<supervision::child_spec> children) {
    auto sup = try_start(std::move(flags), std::move(children));
    REQUIRE_MESSAGE(sup, "start_supervisor failed: " << sys->render(sup.error()));
    return *sup;
  }

  /// Asks the actor published as `name` for its pid, through the bus.
  std::optional<int> pid_behind(const std::string& name,
                                caf::timespan lookup_timeout = 5s) {
    auto x = node.lookup(name, lookup_timeout);
    if (!x)
      return std::nullopt;
    std::optional<int> result;
    (*self)->request(*x, std::chrono::seconds{5}, std::string{"pid"})
      .receive([&](std::string& pid) { result = std::stoi(pid); },
               [&](caf::error&) {});
    return result;
  }

  supervision::child_info child(const caf::actor& sup, const std::string& id) {
    auto xs = supervision::which_children(**self, sup);
    REQUIRE_MESSAGE(xs, "which_children failed: " << sys->render(xs.error()));
    for (auto& x : *xs)
      if (x.id == id)
        return x;
    FAIL("no child " << id);
    return {};
  }

  /// Waits until child `id` runs with a handle other than `old`.
  std::optional<supervision::child_info>
  await_restart(const caf::actor& sup, const std::string& id,
                const caf::actor& old, std::chrono::milliseconds deadline) {
    std::optional<supervision::child_info> result;
    wait_until(
      [&] {
        auto x = child(sup, id);
        if (x.state == supervision::child_state::running && x.handle
            && x.handle != old) {
          result = x;
          return true;
        }
        return false;
      },
      deadline);
    return result;
  }

  /// Why `hdl` went down. Monitors it (a dead actor's down_msg comes at
  /// once); down_msgs of other actors are kept for later calls.
  std::optional<caf::error> down_reason(const caf::actor& hdl,
                                        std::chrono::milliseconds deadline) {
    auto addr = hdl.address();
    (*self)->monitor(hdl);
    auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      for (auto& dm : downs)
        if (dm.source == addr)
          return dm.reason;
      auto left = until - std::chrono::steady_clock::now();
      if (left <= decltype(left)::zero())
        return std::nullopt;
      (*self)->receive([&](caf::down_msg& dm) { downs.push_back(std::move(dm)); },
                       caf::after(left) >> [] {});
    }
  }

  std::vector<caf::down_msg> downs;

  std::string render(const caf::error& x) {
    return sys->render(x);
  }
};

} // namespace shmbus::test
