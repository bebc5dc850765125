// The batching clock of shmbus::bus::bus_scheduler keeps CAF's timing
// contract while it wakes its thread less: timeouts and delayed messages
// fire, not early and not late, also when its thread planned to sleep far
// longer; answered requests get no timeout; an actor that ended is
// released within the batch bound; a system with timeouts pending for
// hours shuts down at once; more requests than one batch holds lose none.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "batching_clock.hpp"
#include "shmbus/bus/bus_scheduler.hpp"
#include "shmbus/bus/config.hpp"
#include "shmbus/log/logger.hpp"
#include "wait.hpp"

using namespace std::chrono_literals;
using shmbus::bus::batching_clock;
using shmbus::test::wait_until;

namespace {

using tick_atom = caf::atom_constant<caf::atom("tick")>;

struct clock_config : caf::actor_system_config {
  explicit clock_config(caf::atom_value policy = caf::atom("sharing")) {
    load<shmbus::bus::bus_scheduler>();
    set("scheduler.policy", policy);
  }
};

bool batching(caf::actor_system& sys) {
  return dynamic_cast<batching_clock*>(&sys.clock()) != nullptr;
}

/// Keeps every request it gets unanswered.
caf::behavior blackhole(caf::event_based_actor* self) {
  return {[=](int32_t) { return self->make_response_promise(); }};
}

/// Asks `hole` with a timeout of an hour, so that the clock's thread plans
/// to sleep that long; quits on a tick; sets `destroyed` when CAF destroys
/// it (once nothing, the clock included, holds it).
class hour_requester : public caf::event_based_actor {
public:
  hour_requester(caf::actor_config& cfg, caf::actor hole,
                 std::shared_ptr<std::atomic<bool>> destroyed)
    : caf::event_based_actor(cfg), hole_(std::move(hole)), destroyed_(std::move(destroyed)) {
    // nop
  }

  ~hour_requester() override {
    destroyed_->store(true);
  }

  caf::behavior make_behavior() override {
    request(hole_, std::chrono::seconds{3600}, int32_t{1}).then([](int32_t) {});
    return {[this](tick_atom) { quit(); }};
  }

private:
  caf::actor hole_;
  std::shared_ptr<std::atomic<bool>> destroyed_;
};

} // namespace

TEST_CASE("shmbus::bus::config runs CAF's scheduler with the batching clock") {
  SUBCASE("shmbus::bus::config") {
    shmbus::bus::config cfg;
    caf::actor_system sys{cfg};
    CHECK(batching(sys));
  }
  SUBCASE("work stealing") {
    clock_config cfg{caf::atom("stealing")};
    caf::actor_system sys{cfg};
    CHECK(batching(sys));
    CHECK(sys.scheduler().num_workers() > 0);
  }
  SUBCASE("testing: CAF's test coordinator") {
    clock_config cfg{caf::atom("testing")};
    caf::actor_system sys{cfg};
    CHECK_FALSE(batching(sys));
  }
  SUBCASE("an unknown policy: work stealing, with a warning that names it") {
    std::vector<std::string> warnings;
    shmbus::log::set_sink([&](const shmbus::log::record& r) {
      if (r.event == "scheduler_policy")
        warnings.push_back(r.message);
    });
    {
      clock_config cfg{caf::atom("fifo")};
      caf::actor_system sys{cfg};
      CHECK(batching(sys));
    }
    shmbus::log::set_sink({});
    REQUIRE(warnings.size() == 1);
    CHECK(warnings.front().find("fifo") != std::string::npos);
    CHECK(warnings.front().find("stealing, sharing, testing") != std::string::npos);
  }
}

TEST_CASE("a delayed message due before the clock's planned wake-up arrives on time") {
  clock_config cfg;
  caf::actor_system sys{cfg};
  REQUIRE(batching(sys));
  auto hole = sys.spawn(blackhole);
  auto destroyed = std::make_shared<std::atomic<bool>>(false);
  auto asker = sys.spawn<hour_requester>(hole, destroyed);
  caf::scoped_actor self{sys};
  // Once the clock's thread has applied the hour, it sleeps planning to
  // wake in an hour: the case under test.
  auto& clock = dynamic_cast<batching_clock&>(sys.clock());
  REQUIRE(wait_until([&] { return clock.scheduled() >= 1; }, 5s));
  for (auto delay : {20ms, 200ms}) {
    auto start = std::chrono::steady_clock::now();
    self->delayed_send(self, delay, tick_atom::value);
    bool got = false;
    self->receive([&](tick_atom) { got = true; }, caf::after(10s) >> [] {});
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(got);
    CHECK(took >= delay);
    CHECK_MESSAGE(took < delay + 1s, "a " << delay.count() << " ms delay took "
                                          << (took / 1ms) << " ms");
  }
  // An ordinary timeout (`after`) too.
  auto start = std::chrono::steady_clock::now();
  bool timed_out = false;
  self->receive([](int32_t) {}, caf::after(100ms) >> [&] { timed_out = true; });
  CHECK(timed_out);
  CHECK(std::chrono::steady_clock::now() - start < 1100ms);
  // A request timeout fires: with the error, at its time.
  caf::error err;
  start = std::chrono::steady_clock::now();
  self->request(hole, 150ms, int32_t{2}).receive([](int32_t) {}, [&](caf::error& e) { err = e; });
  CHECK(err == caf::sec::request_timeout);
  CHECK(std::chrono::steady_clock::now() - start >= 150ms);
  caf::anon_send(asker, tick_atom::value);
  caf::anon_send_exit(hole, caf::exit_reason::user_shutdown);
}

TEST_CASE("an actor that ended with a timeout pending for an hour is released within the "
          "batch bound") {
  clock_config cfg;
  caf::actor_system sys{cfg};
  auto hole = sys.spawn(blackhole);
  auto destroyed = std::make_shared<std::atomic<bool>>(false);
  {
    auto asker = sys.spawn<hour_requester>(hole, destroyed);
    caf::anon_send(asker, tick_atom::value);
  }
  // Only the clock's entry could keep it; CAF's clock drops it at once,
  // this one within max_linger (50 ms), given a loaded machine's slack.
  CHECK(wait_until([&] { return destroyed->load(); }, 5s));
  caf::anon_send_exit(hole, caf::exit_reason::user_shutdown);
}

TEST_CASE("a system with timeouts pending for an hour shuts down at once") {
  auto destroyed = std::make_shared<std::atomic<bool>>(false);
  auto start = std::chrono::steady_clock::now();
  {
    clock_config cfg;
    caf::actor_system sys{cfg};
    auto hole = sys.spawn(blackhole);
    auto asker = sys.spawn<hour_requester>(hole, destroyed);
    caf::scoped_actor self{sys};
    self->delayed_send(self, std::chrono::seconds{7200}, tick_atom::value);
    caf::anon_send(asker, tick_atom::value);
    caf::anon_send_exit(hole, caf::exit_reason::user_shutdown);
  }
  CHECK(destroyed->load());
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("more requests in flight than one batch holds are all answered and none times out") {
  clock_config cfg;
  caf::actor_system sys{cfg};
  auto doubler = sys.spawn([]() -> caf::behavior { return {[](int32_t x) { return 2 * x; }}; });
  constexpr int32_t n = 4 * static_cast<int32_t>(batching_clock::max_batch) + 7;
  auto answered = std::make_shared<std::atomic<int32_t>>(0);
  auto failed = std::make_shared<std::atomic<int32_t>>(0);
  sys.spawn([=](caf::event_based_actor* self) {
    for (int32_t i = 0; i < n; ++i)
      self->request(doubler, 10s, i).then(
        [=](int32_t y) {
          if (y == 2 * i)
            ++*answered;
        },
        [=](caf::error&) { ++*failed; });
  });
  CHECK(wait_until([&] { return answered->load() == n; }, 20s));
  CHECK(failed->load() == 0);
  caf::anon_send_exit(doubler, caf::exit_reason::user_shutdown);
}
