#include <doctest/doctest.h>

#include <csignal>

#include "bus_fixture.hpp"
#include "bus_helpers.hpp"
#include "child_process.hpp"

using namespace shmbus;
using namespace shmbus::test;

// args: bus
SHMBUS_CHILD_ROLE("echo-client") {
  bus_process<> p{args.at(0), "client", "echo"};
  auto echo = p.sys->spawn([]() -> caf::behavior {
    return {[](int x) { return x * 2; }};
  });
  if (auto err = p.node.publish(echo, "echo")) {
    std::printf("error %s\n", p.sys->render(err).c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  auto why = p.node.await_stop_request(caf::timespan{std::chrono::seconds{60}});
  std::printf("stopping: %s\n", why.text.c_str());
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  return 0;
}

TEST_CASE("a request to an actor in another process gets its answer") {
  scoped_bus bus{"smoke"};
  bus_process<> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("echo-client", {bus.name});
  REQUIRE(child.read_line(10s) == std::optional<std::string>{"ready"});
  auto echo = server.node.lookup("echo", caf::timespan{5s});
  REQUIRE_MESSAGE(echo, server.sys->render(echo.error()));
  caf::scoped_actor self{*server.sys};
  int answer = 0;
  self->request(*echo, 5s, 21).receive([&](int x) { answer = x; },
                                        [&](caf::error& err) {
                                          FAIL(server.sys->render(err));
                                        });
  CHECK(answer == 42);
  REQUIRE_FALSE(server.node.request_stop(child.pid()));
  auto line = child.read_line(10s);
  REQUIRE(line.has_value());
  CHECK(line->rfind("stopping: stop requested", 0) == 0);
  auto status = child.wait(10s);
  REQUIRE(status.has_value());
  CHECK(status->exited);
  CHECK(status->code == 0);
}
