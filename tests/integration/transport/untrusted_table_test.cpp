// A process of the bus that scribbles on the node table (it maps the live
// segment read-write, as any process of the user can) must not get an
// honest process signalled or evicted: who a slot's member is, which
// incarnation lives and whether a peer hangs are asked of the kernel; the
// owner of a slot restores what others wrote into it; the tampering is
// reported. Real processes, real signals, the real segment.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "text.hpp"
#include "bus_fixture.hpp"
#include "child_process.hpp"
#include "role_helpers.hpp"
#include "transport_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;
using transport::errc;
using transport::loss_cause;
using transport::node_role;
using transport::node_state;

namespace {

/// Field 22 (start time) of /proc/<pid>/stat, 0 if unknown.
uint64_t start_time_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');
  if (paren == std::string::npos)
    return 0;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  for (int number = 3; fields >> field; ++number)
    if (number == 22)
      return std::stoull(field);
  return 0;
}

/// True if any error `r` recorded is table_tampered and mentions `part`.
bool reported(recorder& r, const std::string& part) {
  for (auto& err : r.errors())
    if (err.code == errc::table_tampered && contains(err.message, part))
      return true;
  return false;
}

/// Every line a child printed so far, so that lines can be waited for in
/// any order (a "node" child prints messages and errors as they come).
class line_log {
public:
  explicit line_log(child_process& child) : child_(child) {}

  /// True once a line starting with `prefix` was printed (now or before);
  /// false on deadline.
  bool saw(const std::string& prefix, std::chrono::milliseconds deadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    for (size_t i = 0;;) {
      for (; i < lines_.size(); ++i)
        if (lines_[i].rfind(prefix, 0) == 0)
          return true;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
      std::optional<std::string> line;
      if (left > 0ms)
        line = child_.read_line(left);
      if (!line)
        return false;
      lines_.push_back(*line);
    }
  }

private:
  child_process& child_;
  std::vector<std::string> lines_;
};

/// Liveness timing of the tests that freeze heartbeats: fast enough that a
/// freeze outlasts the timeout many times, slow enough for a busy machine.
transport::liveness_timing freeze_timing() {
  transport::liveness_timing t;
  t.heartbeat_interval = 50ms;
  t.heartbeat_timeout = 500ms;
  return t;
}

/// A server in this process (its consumer pumped into `seen`) and a client
/// "node" child named "victim" that it watches.
struct watched_victim {
  watched_victim(const std::string& tag, transport::liveness_timing timing,
                 const std::string& then = "stay")
    : bus(tag),
      server(start_node(bus.name, node_role::server, "srv", timing)),
      consumer(*server, seen),
      victim(child_process::spawn("node", {bus.name, "client", "victim", then})),
      slot(ready_slot(victim)),
      output(victim) {
    REQUIRE(wait_until([&] { return server->peer(slot).has_value(); }, 5s));
    incarnation = server->peer(slot)->incarnation;
  }

  scoped_bus bus;
  std::unique_ptr<transport::node> server;
  recorder seen;
  pump consumer;
  child_process victim;
  uint32_t slot;
  line_log output; ///< the victim's lines after "ready"
  uint32_t incarnation = 0;
};

} // namespace

// An unrelated process: runs until SIGTERM (then exits 0) or 60 s.
// Prints "ready".
SHMBUS_CHILD_ROLE("bystander") {
  block_stop_signals();
  std::printf("ready\n");
  std::fflush(stdout);
  wait_for_stop_signal(std::chrono::seconds{60});
  return 0;
}

// args: bus slot what duration_ms [pid]
// Maps the live segment and writes into node slot `slot`, in a tight loop
// for `duration_ms` (0: once) or until SIGTERM, then prints "done" and
// waits for SIGTERM:
//   pid:       the pid word and start time of process `pid`
//   heartbeat: the heartbeat word as it was when it started (frozen)
//   garbage:   the state word (another state and incarnation) and the name,
//              every 50 ms
SHMBUS_CHILD_ROLE("table-scribbler") {
  block_stop_signals();
  auto seg = transport::segment::attach(args.at(0));
  if (!seg) {
    std::printf("error %s\n", seg.err().message.c_str());
    return 2;
  }
  auto& s = seg->slot(static_cast<uint32_t>(std::stoul(args.at(1))));
  auto what = args.at(2);
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds{std::stol(args.at(3))};
  auto frozen = s.heartbeat_ns.load();
  auto word = s.state.load();
  pid_t pid = args.size() > 4 ? std::stoi(args[4]) : 0;
  auto start = pid != 0 ? start_time_of(pid) : 0;
  do {
    if (what == "pid") {
      s.pid.store(pid);
      s.process_start.store(start);
    } else if (what == "heartbeat") {
      s.heartbeat_ns.store(frozen);
    } else if (what == "garbage") {
      s.state.store(transport::make_state_word(node_state::dead,
                                               transport::incarnation_of(word) + 1000));
      s.name.store("scribbled");
      std::this_thread::sleep_for(50ms); // a scribbler's pace, not a synchronisation
    }
  } while (std::chrono::steady_clock::now() < until && !stop_requested());
  if (stop_requested())
    return 0;
  std::printf("done\n");
  std::fflush(stdout);
  wait_for_stop_signal(std::chrono::seconds{60});
  return 0;
}

TEST_CASE("a pid word naming an unrelated process gets it neither signalled nor its exit taken for the member's") {
  watched_victim f{"lie-pid", fast_timing()};
  auto bystander = child_process::spawn("bystander");
  REQUIRE(bystander.read_line(10s) == std::optional<std::string>{"ready"});
  auto scribbler = child_process::spawn(
    "table-scribbler",
    {f.bus.name, std::to_string(f.slot), "pid", "60000", std::to_string(bystander.pid())});
  REQUIRE(wait_until(
    [&] { return f.server->shared_segment().slot(f.slot).pid.load() == bystander.pid(); }, 5s));
  // A node that joins while the lie stands proves who the member is.
  auto late = start_node(f.bus.name, node_role::client, "late");
  recorder late_seen;
  pump late_consumer{*late, late_seen};
  auto late_knows_victim = [&] {
    for (auto& j : late_seen.joins())
      if (j.slot == f.slot)
        return true;
    return false;
  };
  REQUIRE(wait_until(late_knows_victim, 5s));
  // The unrelated process ends while the table still names it.
  bystander.signal(SIGTERM);
  auto ended = bystander.wait(10s);
  REQUIRE(ended.has_value());
  CHECK_MESSAGE(ended->exited, ended->to_string());
  CHECK(ended->code == 0);
  // The member lives on: nobody takes the bystander's exit for its own...
  std::string hello = "hello";
  CHECK_FALSE(late->send(f.slot, f.incarnation, hello.data(), hello.size()));
  CHECK(f.output.saw("message hello", 10s));
  CHECK_FALSE(f.seen.loss_of(f.slot).has_value());
  CHECK_FALSE(late_seen.loss_of(f.slot).has_value());
  // ... and the owner noticed the words written into its slot.
  CHECK(f.output.saw("error table_tampered", 10s));
  CHECK(f.server->counters(f.slot).slot_repairs > 0);
  scribbler.signal(SIGTERM);
  CHECK(scribbler.wait(10s).has_value());
}

TEST_CASE("a hung member whose pid word names an unrelated process is killed, the unrelated one never") {
  // A timeout long enough for a newcomer to join before the kill.
  watched_victim f{"lie-hung", test_timing()};
  auto bystander = child_process::spawn("bystander");
  REQUIRE(bystander.read_line(10s) == std::optional<std::string>{"ready"});
  // Stopped, the member cannot repair its slot: the lie stands for sure.
  f.victim.signal(SIGSTOP);
  auto scribbler = child_process::spawn(
    "table-scribbler",
    {f.bus.name, std::to_string(f.slot), "pid", "0", std::to_string(bystander.pid())});
  REQUIRE(scribbler.read_line(10s) == std::optional<std::string>{"done"});
  auto late = start_node(f.bus.name, node_role::client, "late");
  recorder late_seen;
  pump late_consumer{*late, late_seen};
  // The newcomer is told the truth by the kernel and says what it found.
  CHECK(wait_until([&] { return reported(late_seen, "pid " + std::to_string(bystander.pid())); }, 10s));
  CHECK(late->counters(late->slot()).false_identities > 0);
  // The hung member is killed through its proven pidfd.
  auto killed = f.victim.wait(10s);
  REQUIRE(killed.has_value());
  CHECK_MESSAGE(killed->signaled, killed->to_string());
  CHECK(killed->signal == SIGKILL);
  REQUIRE(wait_until([&] { return f.seen.loss_of(f.slot).has_value(); }, 5s));
  CHECK(f.seen.loss_of(f.slot)->cause == loss_cause::heartbeat_timeout);
  // The bystander was never signalled: it still runs and ends cleanly.
  CHECK_FALSE(bystander.reaped());
  bystander.signal(SIGTERM);
  auto ended = bystander.wait(10s);
  REQUIRE(ended.has_value());
  CHECK_MESSAGE(ended->exited, ended->to_string());
  scribbler.signal(SIGTERM);
}

TEST_CASE("a heartbeat word frozen by another process gets no live peer killed") {
  watched_victim f{"frozen-heartbeat", freeze_timing()};
  auto timeout = freeze_timing().heartbeat_timeout;
  auto scribbler = child_process::spawn(
    "table-scribbler",
    {f.bus.name, std::to_string(f.slot), "heartbeat",
     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(6 * timeout).count())});
  // Honest traffic goes on all along.
  for (int i = 0; i < 12; ++i) {
    auto text = "ping" + std::to_string(i);
    CHECK_FALSE(f.server->send(f.slot, f.incarnation, text.data(), text.size()));
    CHECK(f.output.saw("message " + text, 10s));
    std::this_thread::sleep_for(timeout / 2); // spreads the pings over the freeze
  }
  REQUIRE(scribbler.read_line(20s) == std::optional<std::string>{"done"});
  CHECK_FALSE(f.seen.loss_of(f.slot).has_value());
  CHECK_FALSE(f.victim.reaped());
  // The owner restored its word and said so. Whether the peer saw the word
  // stand still for a whole timeout depends on who won the race for it (on
  // a loaded machine the owner's stamps often do); when it did, it found
  // the consumer running and reported a tampered word instead of a hang.
  CHECK(f.server->counters(f.slot).heartbeat_repairs > 0);
  CHECK(f.output.saw("error table_tampered", 10s));
  auto stale = f.server->counters(f.server->slot()).stale_heartbeats;
  CHECK((stale == 0) != reported(f.seen, "stood still"));
  MESSAGE("the peer found the word standing still " << stale << " times");
  scribbler.signal(SIGTERM);
}

TEST_CASE("garbage in a live peer's slot evicts nobody and its owner repairs it") {
  watched_victim f{"garbage-slot", fast_timing()};
  auto scribbler = child_process::spawn("table-scribbler",
                                        {f.bus.name, std::to_string(f.slot), "garbage", "1000"});
  REQUIRE(scribbler.read_line(10s) == std::optional<std::string>{"done"});
  // The owner set its slot back: alive, its incarnation, its name.
  auto& s = f.server->shared_segment().slot(f.slot);
  CHECK(wait_until(
    [&] {
      return s.state.load() == transport::make_state_word(node_state::alive, f.incarnation)
             && s.name.load() == "victim";
    },
    5s));
  CHECK(f.output.saw("error table_tampered", 10s));
  CHECK(s.slot_repairs.load() > 0);
  // Nobody evicted it: no loss at the server, traffic flows.
  CHECK_FALSE(f.seen.loss_of(f.slot).has_value());
  std::string text = "still here";
  CHECK_FALSE(f.server->send(f.slot, f.incarnation, text.data(), text.size()));
  CHECK(f.output.saw("message still here", 10s));
  CHECK_FALSE(f.victim.reaped());
  scribbler.signal(SIGTERM);
}

TEST_CASE("a process whose consumer thread blocks is declared hung and killed") {
  watched_victim f{"blocked-consumer", fast_timing(), "block-consumer"};
  REQUIRE(f.output.saw("blocking", 10s));
  auto blocked_at = std::chrono::steady_clock::now();
  // Its liveness thread still runs: only the consumer heartbeat tells.
  REQUIRE(wait_until([&] { return f.seen.loss_of(f.slot).has_value(); }, 10s));
  auto after = std::chrono::steady_clock::now() - blocked_at;
  auto loss = *f.seen.loss_of(f.slot);
  CHECK_MESSAGE((loss.cause == loss_cause::heartbeat_timeout || loss.cause == loss_cause::stalled),
                loss.describe());
  CHECK(after >= fast_timing().heartbeat_timeout - 20ms);
  MESSAGE("blocked consumer reported after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(after).count() << " ms");
  auto status = f.victim.wait(10s);
  REQUIRE(status.has_value());
  CHECK(status->signaled);
  CHECK(status->signal == SIGKILL);
}

TEST_CASE("a process whose consumer thread spins declares itself lost and is killed") {
  watched_victim f{"spinning-consumer", fast_timing(), "spin-consumer"};
  REQUIRE(f.output.saw("spinning", 10s));
  // The kernel sees the thread run: only the process's own declaration
  // (its stall lock) tells that it consumes nothing.
  REQUIRE(wait_until([&] { return f.seen.loss_of(f.slot).has_value(); }, 10s));
  auto loss = *f.seen.loss_of(f.slot);
  CHECK_MESSAGE(loss.cause == loss_cause::stalled, loss.describe());
  CHECK(contains(loss.describe(), "stuck"));
  auto status = f.victim.wait(10s);
  REQUIRE(status.has_value());
  CHECK(status->signaled);
  CHECK(status->signal == SIGKILL);
}
