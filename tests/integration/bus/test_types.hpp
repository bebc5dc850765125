// What the bus tests and their child processes share: message types (one
// registered everywhere, one nowhere, one only by senders), typed
// interfaces, atoms, the config that registers them, and helpers for child
// processes and for waiting on CAF messages with a deadline.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <caf/all.hpp>
#include <doctest/doctest.h>

#include "bus_fixture.hpp"
#include "bus_helpers.hpp"
#include "child_process.hpp"
#include "shmbus/bus/config.hpp"
#include "shmbus/bus/errc.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/transport/node.hpp"

namespace shmbus::test {

/// Registered in every process (test_config).
struct payload {
  int32_t seq = 0;
  std::string text;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, payload& x) {
  return f(caf::meta::type_name("shmbus_test_payload"), x.seq, x.text);
}

inline bool operator==(const payload& x, const payload& y) {
  return x.seq == y.seq && x.text == y.text;
}

/// Registered nowhere: a sender cannot serialize it.
struct unregistered_thing {
  int32_t value = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unregistered_thing& x) {
  return f(caf::meta::type_name("unregistered_thing"), x.value);
}

/// Registered only by sender_config: the sender serializes it, a receiver
/// with test_config cannot read it.
struct sender_only_thing {
  int32_t value = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sender_only_thing& x) {
  return f(caf::meta::type_name("sender_only_thing"), x.value);
}

using calc_actor = caf::typed_actor<caf::replies_to<int32_t, int32_t>::with<int32_t>>;
using text_actor = caf::typed_actor<caf::replies_to<std::string>::with<std::string>>;

using who_atom = caf::atom_constant<caf::atom("who")>;
using hang_atom = caf::atom_constant<caf::atom("hang")>;
using stream_atom = caf::atom_constant<caf::atom("stream")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using quit_atom = caf::atom_constant<caf::atom("quit")>;
using report_atom = caf::atom_constant<caf::atom("report")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;
using keep_atom = caf::atom_constant<caf::atom("keep")>;

struct test_config : bus::config {
  test_config() {
    add_message_type<payload>("shmbus_test_payload");
    add_message_type<calc_actor>("shmbus_test_calc_actor");
  }
};

struct sender_config : test_config {
  sender_config() {
    add_message_type<sender_only_thing>("sender_only_thing");
  }
};

/// Answers an int32_t with its double.
inline caf::behavior doubler() {
  return {[](int32_t x) { return x * 2; }};
}

/// Liveness timing for tests that are not about hangs: a loaded machine
/// must not make a healthy peer look hung.
inline void slow_heartbeats(test_config& cfg) {
  cfg.shmbus.heartbeat_interval = std::chrono::milliseconds{100};
  cfg.shmbus.heartbeat_timeout = std::chrono::seconds{2};
}

/// State of blackhole_impl.
struct blackhole_state {
  std::vector<caf::response_promise> never_answered;
};

/// Keeps every request it gets unanswered; get_atom says how many.
inline caf::behavior blackhole_impl(caf::stateful_actor<blackhole_state>* self) {
  return {
    [=](hang_atom) {
      self->state.never_answered.push_back(self->make_response_promise());
      return self->state.never_answered.back();
    },
    [=](caf::get_atom) { return static_cast<int32_t>(self->state.never_answered.size()); },
  };
}

/// Waits up to `deadline` until the blackhole `hole` holds `n` requests
/// (they have all arrived there).
inline bool blackhole_holds(caf::scoped_actor& self, const caf::actor& hole, int32_t n,
                            std::chrono::milliseconds deadline) {
  return wait_until(
    [&] {
      int32_t held = 0;
      self->request(hole, std::chrono::seconds{1}, caf::get_atom::value)
        .receive([&](int32_t x) { held = x; }, [](caf::error&) {});
      return held == n;
    },
    deadline);
}

/// True once the process `pid` is stopped by a signal (state T in /proc).
inline bool is_stopped(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat;
  std::getline(in, stat);
  auto end = stat.rfind(')'); // the command name may contain spaces
  return end != std::string::npos && end + 2 < stat.size() && stat[end + 2] == 'T';
}

/// The peer of `node` with process id `pid`.
inline transport::peer_info peer_of(const bus::node& node, int pid) {
  for (auto& peer : node.transport_node().peers())
    if (peer.pid == pid)
      return peer;
  FAIL("process " << pid << " is not on the bus");
  return {};
}

/// The pid of the process an actor lives in.
inline int32_t pid_of(const caf::node_id& nid) {
  if (!nid || nid->implementation_id() != caf::node_id::default_data::class_id)
    return 0;
  return static_cast<int32_t>(
    static_cast<const caf::node_id::default_data&>(*nid).process_id());
}

/// Prints a line for the test that reads this child's stdout.
inline void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

/// bus_process for child processes: a failed start is printed as
/// "error: <text>" and ends the child with code 3 (there is no doctest
/// context to FAIL in).
template <class Config = test_config>
struct child_bus {
  child_bus(const std::string& bus_name, const std::string& role, const std::string& name,
            std::function<void(Config&)> tweak = nullptr) {
    configure(cfg, bus_name, role, name);
    if (tweak)
      tweak(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    auto started = bus::node::start(*sys);
    if (!started) {
      say("error: " + sys->render(started.error()));
      std::_Exit(3);
    }
    node = std::move(*started);
  }

  ~child_bus() {
    sys.reset(); // stops the bus (bus_module)
  }

  /// Waits for the test to ask this process to stop (node::request_stop).
  void await_stop() {
    auto why = node.await_stop_request(caf::timespan{std::chrono::seconds{60}});
    say("stopping: " + why.text);
  }

  /// Publishes or ends the child with code 3.
  template <class Handle>
  void publish(const Handle& x, const std::string& name) {
    if (auto err = node.publish(x, name)) {
      say("error: cannot publish " + name + ": " + sys->render(err));
      std::_Exit(3);
    }
  }

  Config cfg;
  std::unique_ptr<caf::actor_system> sys;
  bus::node node;
};

/// Sends an exit to a local actor when the scope ends, also when a check
/// failed: actors that keep themselves alive (a response promise refers to
/// its actor) would otherwise keep the actor system's destructor waiting.
struct exit_on_scope_end {
  caf::actor actor;
  ~exit_on_scope_end() { caf::anon_send_exit(actor, caf::exit_reason::user_shutdown); }
};

/// Looks `name` up, waiting up to 5 s; fails the test if it is not there.
inline caf::actor must_lookup(const bus::node& node, const std::string& name) {
  auto x = node.lookup(name, caf::timespan{std::chrono::seconds{5}});
  REQUIRE_MESSAGE(x, "lookup of '" << name << "': " << node.system().render(x.error()));
  return *x;
}

using find_atom = caf::atom_constant<caf::atom("find")>;
using find_calc_atom = caf::atom_constant<caf::atom("findCalc")>;

/// Answers (find_atom, name, timeout) with what node::lookup(self, ...)
/// finds: the actor, or the error.
inline caf::behavior looker(caf::event_based_actor* self, bus::node node) {
  auto answer = [](caf::response_promise rp) {
    return [rp](auto x) mutable {
      if (x)
        rp.deliver(caf::actor_cast<caf::actor>(std::move(*x)));
      else
        rp.deliver(std::move(x.error()));
    };
  };
  return {
    [=](find_atom, const std::string& name, caf::timespan timeout) -> caf::result<caf::actor> {
      auto rp = self->make_response_promise();
      node.lookup(self, name, timeout, answer(rp));
      return rp;
    },
    [=](find_calc_atom, const std::string& name,
        caf::timespan timeout) -> caf::result<caf::actor> {
      auto rp = self->make_response_promise();
      node.lookup<calc_actor>(self, name, timeout, answer(rp));
      return rp;
    },
  };
}

/// What `looker` (in this process or a child) answered for `name`, within
/// `deadline`.
inline caf::expected<caf::actor> child_lookup(caf::scoped_actor& self, const caf::actor& looker,
                                       caf::atom_value kind, const std::string& name,
                                       caf::timespan timeout, caf::timespan deadline) {
  caf::expected<caf::actor> result{caf::make_error(caf::sec::request_timeout)};
  auto on_actor = [&](caf::actor& x) { result = std::move(x); };
  auto on_error = [&](caf::error& err) { result = std::move(err); };
  if (kind == find_atom::value)
    self->request(looker, deadline, find_atom::value, name, timeout).receive(on_actor, on_error);
  else
    self->request(looker, deadline, find_calc_atom::value, name, timeout)
      .receive(on_actor, on_error);
  return result;
}

/// Asks the child on the bus to stop and checks that it exits with 0 (only
/// CHECKs: also usable in destructors).
inline void stop_child(const bus::node& node, child_process& child) {
  auto err = node.request_stop(child.pid());
  CHECK_MESSAGE(!err, "cannot stop child " << child.pid() << ": " << node.system().render(err));
  auto status = child.wait(std::chrono::seconds{10});
  CHECK_MESSAGE(status, "child " << child.pid() << " did not exit within 10 s");
  if (status)
    CHECK_MESSAGE((status->exited && status->code == 0), status->to_string());
}

/// Waits for a child's line "ready" (every child role prints one).
inline void await_ready(child_process& child) {
  auto line = child.read_line(std::chrono::seconds{10});
  REQUIRE_MESSAGE(line, "child " << child.pid() << " printed nothing within 10 s");
  REQUIRE_MESSAGE(*line == "ready", "child " << child.pid() << " said: " << *line);
}

/// The rendered text of an error, for messages.
inline std::string text(caf::actor_system& sys, const caf::error& err) {
  return sys.render(err);
}

/// One blocking receive with a deadline: false if nothing matching arrived
/// in time (unmatched messages stay in the mailbox).
template <class... Fs>
bool receive_within(caf::scoped_actor& self, std::chrono::milliseconds deadline,
                    Fs... handlers) {
  bool received = true;
  self->receive(std::move(handlers)..., caf::after(deadline) >> [&] { received = false; });
  return received;
}

/// Time since `start`, in milliseconds.
inline long long elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now() - start)
    .count();
}

} // namespace shmbus::test
