// Shutdown policies, supervisor exit, and the messages that arrive meanwhile.
#include <future>
#include <memory>

#include <doctest/doctest.h>

#include "supervisor_fixture.hpp"

using namespace std::chrono_literals;
using namespace shmbus;
using namespace shmbus::supervision;
using namespace shmbus::test;

namespace {

worker_options stubborn() {
  worker_options opts;
  opts.ignore_shutdown = true;
  return opts;
}

} // namespace

TEST_CASE_FIXTURE(supervisor_fixture,
                  "brutal_kill kills a child without asking it to shut down") {
  auto spec = worker("a");
  spec.shutdown = shutdown_policy::brutal_kill();
  auto sup = start({}, {spec});
  auto a = probe.next_start();
  CHECK_FALSE(terminate_child(self(), sup, "a"));
  CHECK_EQ(probe.gone_reason(a.handle), caf::exit_reason::kill);
  CHECK_EQ(child_of(sup, "a").last_exit_reason, caf::exit_reason::kill);
  // An exit signal would have been reported before the child went down.
  CHECK(probe.saw_exits().empty());
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a timeout policy lets a cooperative child stop with "
                  "user_shutdown") {
  auto spec = worker("a");
  spec.shutdown = shutdown_policy::timeout_after(5s);
  auto sup = start({}, {spec});
  auto a = probe.next_start();
  auto t0 = steady::now();
  CHECK_FALSE(terminate_child(self(), sup, "a"));
  CHECK(steady::now() - t0 < 5s); // answered without waiting for the timeout
  CHECK_EQ(probe.next_saw_exit().reason, caf::exit_reason::user_shutdown);
  CHECK_EQ(probe.gone_reason(a.handle), caf::exit_reason::user_shutdown);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a timeout policy kills a child that ignores the shutdown "
                  "once the timeout has passed") {
  auto spec = worker("a", stubborn());
  spec.shutdown = shutdown_policy::timeout_after(300ms);
  auto sup = start({}, {spec});
  auto a = probe.next_start();
  auto t0 = steady::now();
  CHECK_FALSE(terminate_child(self(), sup, "a"));
  auto elapsed = steady::now() - t0;
  CHECK_EQ(probe.next_saw_exit().reason, caf::exit_reason::user_shutdown);
  CHECK_EQ(probe.gone_reason(a.handle), caf::exit_reason::kill);
  CHECK_MESSAGE(elapsed >= 300ms, "killed after " << elapsed.count() << " ns");
  CHECK_EQ(child_of(sup, "a").last_exit_reason, caf::exit_reason::kill);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "infinity waits for a child that takes its time to stop") {
  auto spec = worker("a", stubborn());
  spec.shutdown = shutdown_policy::infinity();
  auto sup = start({}, {spec});
  auto a = probe.next_start();
  caf::scoped_actor caller{sys};
  auto pending = caller->request(sup, caf::duration{10s},
                                 terminate_child_atom::value, std::string{"a"});
  CHECK_EQ(probe.next_saw_exit().reason, caf::exit_reason::user_shutdown);
  // The supervisor is still busy waiting: a query times out.
  caf::scoped_actor other{sys};
  auto busy = which_children(*other, sup, 300ms);
  REQUIRE_FALSE(busy);
  CHECK_EQ(busy.error(), caf::sec::request_timeout);
  probe.finish(a.handle); // the child decides to stop, normally
  bool answered = false;
  pending.receive([&] { answered = true; },
                  [&](caf::error& err) { FAIL("terminate_child: " << render(err)); });
  CHECK(answered);
  CHECK_FALSE(probe.gone_reason(a.handle)); // its own reason, not a kill
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a child that does not go down even when killed is given up "
                  "after kill_timeout instead of hanging the supervisor") {
  supervisor_flags flags;
  flags.kill_timeout = 200ms;
  auto entered = std::make_shared<std::promise<void>>();
  std::promise<void> release;
  auto released = release.get_future().share();
  worker_options opts;
  opts.on_block = [entered, released] {
    entered->set_value();
    released.wait_for(std::chrono::milliseconds{event_deadline});
  };
  auto spec = worker("stuck", opts);
  spec.shutdown = shutdown_policy::brutal_kill();
  auto sup = start(flags, {spec});
  auto stuck = probe.next_start();
  auto inside = entered->get_future();
  caf::anon_send(stuck.handle, block_atom::value);
  REQUIRE(inside.wait_for(std::chrono::milliseconds{event_deadline})
          == std::future_status::ready);
  auto t0 = steady::now();
  CHECK_FALSE(terminate_child(self(), sup, "stuck"));
  CHECK(steady::now() - t0 >= 200ms);
  auto info = child_of(sup, "stuck");
  CHECK_EQ(info.state, child_state::stopped);
  CHECK_EQ(info.last_exit_reason, caf::exit_reason::kill);
  CHECK_MESSAGE(render(info.last_exit_reason).find("did not go down")
                  != std::string::npos,
                render(info.last_exit_reason));
  release.set_value(); // out of the handler, it finally processes the kill
  CHECK_EQ(probe.gone_reason(stuck.handle), caf::exit_reason::kill);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "an exit sent to a supervisor stops all children in reverse "
                  "start order before the supervisor goes down") {
  auto sup = start({}, {worker("a"), worker("b"), worker("c")});
  auto started = probe.next_starts({"a", "b", "c"});
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  CHECK_EQ(probe.next_saw_exit().id, "c");
  CHECK_EQ(probe.next_saw_exit().id, "b");
  CHECK_EQ(probe.next_saw_exit().id, "a");
  CHECK_EQ(probe.down_reason(sup), caf::exit_reason::user_shutdown);
  for (auto& x : started)
    CHECK_EQ(probe.gone_reason(x.handle), caf::exit_reason::user_shutdown);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a supervision tree stops from the top: each supervisor "
                  "stops its children before its older siblings stop") {
  auto sup = start({}, {worker("w1"),
                        supervisor_spec("sub", {}, {worker("w2"), worker("w3")}),
                        worker("w4")});
  auto started = probe.next_starts({"w1", "w2", "w3", "w4"});
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  for (auto id : {"w4", "w3", "w2", "w1"})
    CHECK_EQ(probe.next_saw_exit().id, id);
  CHECK_EQ(probe.down_reason(sup), caf::exit_reason::user_shutdown);
  for (auto& x : started)
    CHECK_EQ(probe.gone_reason(x.handle), caf::exit_reason::user_shutdown);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a killed supervisor still leaves no child running") {
  auto sup = start({}, {worker("a"), worker("b", stubborn())});
  auto started = probe.next_starts({"a", "b"});
  caf::anon_send_exit(sup, caf::exit_reason::kill);
  CHECK_EQ(probe.down_reason(sup), caf::exit_reason::kill);
  for (auto& x : started)
    CHECK_EQ(probe.gone_reason(x.handle), caf::exit_reason::kill);
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "a child that fails while its supervisor shuts down is not "
                  "restarted") {
  auto slow = worker("slow", stubborn());
  slow.shutdown = shutdown_policy::timeout_after(300ms);
  auto sup = start({}, {worker("a"), slow});
  auto started = probe.next_starts({"a", "slow"});
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  // The supervisor now waits for "slow"; meanwhile "a" crashes.
  CHECK_EQ(probe.next_saw_exit().id, "slow");
  probe.crash(started[0].handle, boom());
  CHECK_EQ(probe.gone_reason(started[0].handle), boom());
  CHECK_EQ(probe.down_reason(sup), caf::exit_reason::user_shutdown);
  CHECK_EQ(probe.gone_reason(started[1].handle), caf::exit_reason::kill);
  // A restart would have been reported before the supervisor went down.
  CHECK(probe.starts().empty());
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "down messages of children that were already replaced are "
                  "ignored, not counted as failures") {
  supervisor_flags flags;
  flags.strategy = restart_strategy::one_for_all;
  flags.intensity = 1; // one more counted failure would make it give up
  auto sup = start(flags, {worker("a"), worker("b")});
  auto old = probe.next_starts({"a", "b"});
  // Keep the supervisor busy in a start function while a and b crash, so
  // that both down_msgs wait in its mailbox.
  std::promise<void> release;
  auto released = release.get_future().share();
  worker_options gate;
  gate.on_start = [released](size_t attempt) {
    if (attempt == 0)
      released.wait_for(std::chrono::milliseconds{event_deadline});
  };
  caf::scoped_actor caller{sys};
  auto pending = caller->request(sup, caf::duration{10s},
                                 start_child_atom::value, worker("x", gate));
  probe.crash(old[0].handle, boom());
  probe.crash(old[1].handle, boom());
  CHECK_EQ(probe.gone_reason(old[0].handle), boom());
  CHECK_EQ(probe.gone_reason(old[1].handle), boom());
  release.set_value();
  pending.receive([](caf::actor&) {},
                  [&](caf::error& err) { FAIL("start_child: " << render(err)); });
  // x starts, then one group restart: a, b, x. The second down is stale.
  probe.next_starts({"x", "a", "b", "x"});
  auto xs = children_of(sup);
  REQUIRE_EQ(xs.size(), 3u);
  for (auto& x : xs) {
    CHECK_EQ(x.state, child_state::running);
    CHECK_EQ(x.restarts, 1u);
  }
  probe.drain();
  CHECK(probe.starts().empty());
}

TEST_CASE_FIXTURE(supervisor_fixture,
                  "an exit_msg from a child linked to its supervisor does not "
                  "stop the supervisor") {
  auto sup = start({}, {worker("a")});
  auto a = probe.next_start();
  // Messages from one thread arrive in order: the link exists before the crash.
  caf::anon_send(a.handle, link_atom::value, sup);
  caf::anon_send(a.handle, quit_atom::value, boom());
  CHECK_EQ(probe.gone_reason(a.handle), boom());
  auto again = probe.next_start();
  auto info = child_of(sup, "a"); // answered: the supervisor is alive
  CHECK_EQ(info.handle, again.handle);
  CHECK_EQ(info.restarts, 1u);
}
