// A hostile process of the same user maps the live segment and damages it
// while two honest processes exchange sequence-numbered, self-checking
// messages (hostile_roles.cpp). Each time: no honest process dies or hangs,
// honest traffic continues, every message the sender was told was
// delivered arrives intact or is reported, nothing altered is handed over
// as intact (but for flips that raced a record's reuse, which no checksum
// written into the same shared memory can catch), and the damage shows in
// the counters or errors.
#include <doctest/doctest.h>

#include <csignal>
#include <functional>
#include <map>
#include <sstream>

#include "bus_fixture.hpp"
#include "child_process.hpp"
#include "shmbus/transport/bus_admin.hpp"
#include "transport_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

/// Seconds each honest process sends for; the damage comes about one
/// second in.
constexpr int send_seconds = 5;

/// An honest process and what its latest lines say.
class honest_process {
public:
  honest_process(const std::string& bus, const std::string& role, const std::string& name,
                 const std::string& peer)
    : child_(child_process::spawn("honest", {bus, role, name, peer,
                                             std::to_string(send_seconds)})),
      name_(name) {
    auto line = child_.read_line(10s).value_or("");
    REQUIRE_MESSAGE(line.rfind("ready ", 0) == 0, name << ": " << line);
    slot_ = static_cast<uint32_t>(std::stoul(line.substr(6)));
  }

  void await_peer() {
    auto line = child_.read_line(15s).value_or("");
    REQUIRE_MESSAGE(line.rfind("peer ", 0) == 0, name_ << ": " << line);
  }

  /// Reads what the process printed so far.
  void update() {
    while (auto line = child_.read_line(1ms)) {
      std::istringstream words(*line);
      std::string kind;
      words >> kind;
      if (kind == "sent") {
        uint64_t n = 0;
        words >> n;
        sent_final_ = n;
      } else if (kind == "stats") {
        for (std::string kv; words >> kv;) {
          auto eq = kv.find('=');
          if (eq != std::string::npos)
            stats_[kv.substr(0, eq)] = std::stoull(kv.substr(eq + 1));
        }
      } else if (kind == "error" || kind == "lost") {
        said_.push_back(*line);
      }
    }
  }

  uint64_t stat(const std::string& key) const {
    auto it = stats_.find(key);
    return it == stats_.end() ? 0 : it->second;
  }

  /// Every message the peer says it sent is accounted for: received in
  /// order, or skipped (a gap: lost or not intact).
  bool accounted_for(const honest_process& sender) const {
    return sender.sent_final_ && stat("received") + stat("gaps") >= *sender.sent_final_;
  }

  bool running() { return !child_.wait(1ms).has_value(); }

  uint32_t slot() const { return slot_; }
  const std::string& name() const { return name_; }
  const std::vector<std::string>& said() const { return said_; }

private:
  child_process child_;
  std::string name_;
  uint32_t slot_ = 0;
  std::map<std::string, uint64_t> stats_;
  std::optional<uint64_t> sent_final_;
  std::vector<std::string> said_;
};

/// The counters in which a node reports damage it found or repaired.
uint64_t damage_reported(const transport::node_counters& c) {
  return c.corrupt_records + c.checksum_failures + c.ring_repairs + c.bytes_lost
         + c.producer_repairs + c.skipped_claims;
}

struct attack_result {
  std::vector<std::string> hostile_output;
  uint64_t counters = 0; ///< damage_reported, both slots
  uint64_t errors = 0;   ///< on_error calls, both processes
};

/// Runs `attack` against both honest processes' inboxes and checks what
/// every attack must leave true; `meanwhile(bus)` runs right after it.
attack_result run_attack(const std::string& attack,
                         const std::function<void(const std::string&)>& meanwhile = {}) {
  attack_result result;
  scoped_bus bus{"hostile-" + attack};
  honest_process a{bus.name, "server", "a", "b"};
  honest_process b{bus.name, "client", "b", "a"};
  a.await_peer();
  b.await_peer();
  auto both = [&](auto&& pred) {
    a.update();
    b.update();
    return pred();
  };
  REQUIRE(wait_until([&] {
    return both([&] { return a.stat("received") >= 2000 && b.stat("received") >= 2000; });
  }, 30s));
  auto before_a = a.stat("received");
  auto before_b = b.stat("received");

  auto hostile = child_process::spawn(
    "hostile", {bus.name, attack, std::to_string(a.slot()), std::to_string(b.slot())});
  while (auto line = hostile.read_line(10s))
    result.hostile_output.push_back(*line);
  auto hostile_status = hostile.wait(10s);
  REQUIRE(hostile_status.has_value());
  bool finished = !result.hostile_output.empty() && result.hostile_output.back() == "done";
  REQUIRE_MESSAGE(finished, "the hostile process did not finish its attack");
  if (meanwhile)
    meanwhile(bus.name);

  // Traffic goes on to the end and every message sent is accounted for.
  bool settled = wait_until([&] {
    return both([&] { return a.accounted_for(b) && b.accounted_for(a); });
  }, 60s);
  CHECK_MESSAGE(settled, "a: " << a.stat("received") << "+" << a.stat("gaps") << ", b: "
                               << b.stat("received") << "+" << b.stat("gaps"));
  // Flips that may have landed in a record before its producer checksummed
  // it (hostile_roles.cpp): the only altered records that may pass as intact.
  uint64_t raced = 0;
  for (auto& line : result.hostile_output)
    if (line.rfind("raced ", 0) == 0)
      raced = std::stoull(line.substr(6));
  CHECK_MESSAGE(a.stat("altered") + b.stat("altered") <= raced,
                "altered records handed over as intact: " << a.stat("altered") << " + "
                  << b.stat("altered") << ", flips that raced a reuse: " << raced);
  for (auto* p : {&a, &b}) {
    INFO("honest process " << p->name());
    CHECK(p->running()); // neither died
    MESSAGE(p->name() << ": received " << p->stat("received") << ", gaps " << p->stat("gaps")
                      << ", not intact " << p->stat("nonintact") << ", out of order "
                      << p->stat("reordered") << ", errors " << p->stat("errors")
                      << ", send errors " << p->stat("send_errors"));
    // Out of order only where the order was broken by damage that was reported.
    if (p->stat("reordered") > 0)
      CHECK(p->stat("errors") > 0);
    // A message lost or damaged was reported to its receiver.
    if (p->stat("gaps") > 0)
      CHECK(p->stat("errors") > 0);
    result.errors += p->stat("errors");
  }
  CHECK(a.stat("received") >= before_a + 1000); // honest traffic continued
  CHECK(b.stat("received") >= before_b + 1000);
  if (attack != "truncate") {
    auto report = transport::inspect_bus(bus.name);
    REQUIRE_MESSAGE(report.has_value(), report.err().message);
    for (auto& n : report->nodes)
      result.counters += damage_reported(n.counters);
  }
  return result;
}

void check_reported(const attack_result& r) {
  CHECK_MESSAGE(r.counters + r.errors > 0, "the damage was not reported anywhere");
}

} // namespace

TEST_CASE("hostile: truncating the segment fails with EPERM; replaced bus files stop no one") {
  auto r = run_attack("truncate", [](const std::string& bus) {
    // The socket is a symlink now and the lock file new: nobody takes the
    // bus over, and nobody joins the wrong one.
    for (auto role : {transport::node_role::server, transport::node_role::client}) {
      transport::node_options opts;
      opts.bus = bus;
      opts.role = role;
      opts.name = "late";
      auto late = transport::node::start(opts);
      CHECK_FALSE(late.has_value());
    }
  });
  int refused = 0;
  for (auto& line : r.hostile_output) {
    CHECK_FALSE(contains(line, "succeeded"));
    refused += contains(line, "ftruncate") && contains(line, "Operation not permitted");
  }
  CHECK(refused == 3);
}

TEST_CASE("hostile: a tail moved 10 MiB ahead is repaired and reported") {
  check_reported(run_attack("tail-far"));
}

TEST_CASE("hostile: a tail moved by three bytes is repaired and reported") {
  check_reported(run_attack("tail-misaligned"));
}

TEST_CASE("hostile: a tail nudged into records or past their end is repaired and reported") {
  check_reported(run_attack("tail-nudge"));
}

TEST_CASE("hostile: a head cache ahead of the head is repaired and reported") {
  check_reported(run_attack("head-cache"));
}

TEST_CASE("hostile: an overwritten published head is repaired and reported") {
  check_reported(run_attack("head"));
}

TEST_CASE("hostile: bytes flipped in committed payloads are caught by the checksums") {
  check_reported(run_attack("flip-payload"));
}

TEST_CASE("hostile: bytes flipped in committed record headers are caught") {
  check_reported(run_attack("flip-header"));
}

TEST_CASE("hostile: garbage over whole rings is recovered from and the loss reported") {
  check_reported(run_attack("garbage"));
}

TEST_CASE("hostile: random words over rings and control words for a while") {
  check_reported(run_attack("random-words"));
}
