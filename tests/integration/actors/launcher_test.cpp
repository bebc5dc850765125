// shmbus-launch with real processes: one launcher per bus, restarts with
// backoff, giving up, stopping on SIGTERM, orphans of a dead server, and the
// seed's rule for a server crash with a real bus server and its module.
#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <string>

#include <unistd.h>

#include "bus_fixture.hpp"
#include "child_process.hpp"
#include "module_helpers.hpp"
#include "shmbus/actors/launcher_config.hpp"
#include "wait.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

/// Reads the launcher's (and its server's) output until a line starts with
/// `prefix`; returns the rest of that line. Fails the test on deadline.
std::string await_line(child_process& launcher, const std::string& prefix,
                       std::chrono::milliseconds deadline = 10000ms) {
  auto until = std::chrono::steady_clock::now() + deadline;
  std::string seen;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
    auto line = launcher.read_line(std::max(left, 0ms));
    if (!line) {
      FAIL("no line starting with '" << prefix << "' within the deadline; saw:\n"
                                      << seen);
      return {};
    }
    seen += *line + "\n";
    if (line->rfind(prefix, 0) == 0)
      return line->substr(prefix.size());
  }
}

/// Like await_line for several prefixes whose lines come in any order.
std::vector<std::string> await_lines(child_process& launcher,
                                     const std::vector<std::string>& prefixes,
                                     std::chrono::milliseconds deadline = 10000ms) {
  auto until = std::chrono::steady_clock::now() + deadline;
  std::vector<std::optional<std::string>> found(prefixes.size());
  std::string seen;
  auto missing = prefixes.size();
  while (missing > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
    auto line = launcher.read_line(std::max(left, 0ms));
    if (!line) {
      FAIL("not all of the expected lines came within the deadline; saw:\n"
           << seen);
      return {};
    }
    seen += *line + "\n";
    for (size_t i = 0; i < prefixes.size(); ++i)
      if (!found[i] && line->rfind(prefixes[i], 0) == 0) {
        found[i] = line->substr(prefixes[i].size());
        --missing;
      }
  }
  std::vector<std::string> result;
  for (auto& x : found)
    result.push_back(*x);
  return result;
}

child_process launch(const std::string& bus, std::vector<std::string> options,
                     std::vector<std::string> server) {
  std::vector<std::string> args{"--bus=" + bus};
  args.insert(args.end(), options.begin(), options.end());
  args.push_back("--");
  args.push_back(self_executable());
  args.insert(args.end(), server.begin(), server.end());
  return child_process::spawn("launcher", args);
}

/// An ini file that does not exist: the tests read no caf-application.ini.
constexpr const char* no_ini = "/nonexistent/caf-application.ini";

/// The number a line starts with, e.g. a pid.
int leading_int(const std::string& text) {
  auto digits = text.find_first_not_of("0123456789");
  REQUIRE_MESSAGE(digits != 0, "expected a number at the start of '" << text << "'");
  return std::stoi(text.substr(0, digits));
}

} // namespace

TEST_CASE("durations on the launcher's command line carry their unit") {
  auto parse = [](const std::string& flag) {
    actors::launcher_config cfg;
    auto err = cfg.parse_command_line({"--bus=x", flag, "--", "server"}, no_ini);
    return std::make_pair(std::move(err), cfg.options);
  };
  auto [err, opts] = parse("--restart-delay=250ms");
  CHECK_FALSE(err);
  CHECK_EQ(opts.restart_delay, caf::timespan{250ms});
  CHECK_EQ(parse("--restart-period=2min").second.restart_period, caf::timespan{120s});
  CHECK_EQ(parse("--orphan-timeout=0s").second.orphan_timeout, caf::timespan::zero());
  for (auto bad : {"--restart-delay=5", "--restart-delay=-1s", "--stop-timeout=fast"}) {
    auto refused = parse(bad).first;
    REQUIRE_MESSAGE(refused, bad);
    CHECK_MESSAGE(contains(caf::to_string(refused), "shmbus-launch --help"),
                  caf::to_string(refused));
  }
}

TEST_CASE("the launcher reads caf-application.ini; its flags and a command after -- win") {
  char dir[] = "/tmp/shmbus-launch-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  auto ini = std::string{dir} + "/launch.ini";
  {
    std::ofstream out{ini};
    out << "[global]\nbus=\"from-ini\"\nrestart-delay=250ms\nmax-restarts=7\n"
           "server=[\"/usr/bin/node\", \"--x=1\"]\n";
  }
  actors::launcher_config from_file;
  CHECK_FALSE(from_file.parse_command_line({"--restart-delay=2s"}, ini.c_str()));
  CHECK_EQ(from_file.options.bus, "from-ini");
  CHECK_EQ(from_file.options.restart_delay, caf::timespan{2s});
  CHECK_EQ(from_file.options.max_restarts, 7u);
  CHECK_EQ(from_file.options.executable, "/usr/bin/node");
  CHECK_EQ(from_file.options.args, std::vector<std::string>{"--x=1"});
  actors::launcher_config overridden;
  CHECK_FALSE(overridden.parse_command_line({"--bus=cli", "--", "other", "--y"}, ini.c_str()));
  CHECK_EQ(overridden.options.bus, "cli");
  CHECK_EQ(overridden.options.executable, "other");
  CHECK_EQ(overridden.options.args, std::vector<std::string>{"--y"});
  actors::launcher_config unknown;
  auto err = unknown.parse_command_line({"--bogus=1", "--", "x"}, ini.c_str());
  CHECK(err);
  ::unlink(ini.c_str());
  ::rmdir(dir);
}

TEST_CASE("the launcher needs a bus and a server, and says how to give them") {
  actors::launcher_config no_bus;
  auto err = no_bus.parse_command_line({"--", "server"}, no_ini);
  REQUIRE(err);
  CHECK_MESSAGE(contains(caf::to_string(err), "--bus=NAME is required"), caf::to_string(err));
  actors::launcher_config no_server;
  err = no_server.parse_command_line({"--bus=x"}, no_ini);
  REQUIRE(err);
  CHECK_MESSAGE(contains(caf::to_string(err), "no server"), caf::to_string(err));
}

TEST_CASE("shmbus-launch --help lists its options and exits 0") {
  auto launcher = child_process::spawn("launcher", {"--help"});
  std::string seen;
  while (auto line = launcher.read_line(10s))
    seen += *line + "\n";
  CHECK_MESSAGE(contains(seen, "--restart-delay"), seen);
  CHECK_MESSAGE(contains(seen, "--config-file"), seen);
  auto st = launcher.wait(5000ms);
  REQUIRE(st);
  CHECK_EQ(st->to_string(), "exited with code 0");
}

TEST_CASE("the launcher passes the bus to its server unless told otherwise") {
  actors::launcher_options opts;
  opts.bus = "demo";
  opts.executable = "server";
  opts.args = {"--shmbus.role=server", "--x=1"};
  opts.wait_for_clients = 3s;
  CHECK_EQ(opts.server_arguments(),
           std::vector<std::string>{"--shmbus.role=server", "--x=1",
                                    "--shmbus.bus=demo",
                                    "--shmbus.wait-for-clients=3000ms"});
}

TEST_CASE("the launcher refuses a bus name that is not one, as every entry point does") {
  for (std::string bad : {std::string(65, 'x'), std::string{"../../tmp/x"}, std::string{".."},
                          std::string{"a b"}, std::string{"x\n"}}) {
    actors::launcher_options opts;
    opts.bus = bad;
    opts.executable = "server";
    auto err = opts.validate();
    REQUIRE(err);
    CHECK_MESSAGE(to_string(err).find("invalid bus name") != std::string::npos, to_string(err));
  }
}

TEST_CASE("a second launcher for the same bus is refused") {
  scoped_bus bus{"second-launcher"};
  auto first = launch(bus.name, {}, {"--child", "dummy-server"});
  await_line(first, "dummy server pid ");
  auto second = launch(bus.name, {}, {"--child", "dummy-server"});
  auto refusal = await_line(second, "[launch] ");
  CHECK_MESSAGE(contains(refusal, "already has a launcher"), refusal);
  auto st = second.wait(5000ms);
  REQUIRE(st);
  CHECK_EQ(st->to_string(), "exited with code 3");
  first.signal(SIGTERM);
  REQUIRE(first.wait(10000ms));
}

TEST_CASE("a server killed with SIGKILL is restarted by its launcher after a backoff") {
  scoped_bus bus{"launch-restart"};
  auto launcher = launch(bus.name, {"--restart-delay=50ms"},
                         {"--child", "dummy-server"});
  auto first = leading_int(await_line(launcher, "dummy server pid "));
  REQUIRE_EQ(::kill(first, SIGKILL), 0);
  auto event = await_line(launcher, "[launch] server (pid ");
  CHECK_EQ(event, std::to_string(first)
                    + ") killed by signal 9 (SIGKILL), restarting in 50 ms");
  auto second = leading_int(await_line(launcher, "dummy server pid "));
  CHECK_NE(second, first);
  // The next failure waits twice as long.
  REQUIRE_EQ(::kill(second, SIGKILL), 0);
  event = await_line(launcher, "[launch] server (pid ");
  CHECK(contains(event, "restarting in 100 ms"));
  await_line(launcher, "dummy server pid ");
  launcher.signal(SIGTERM);
  auto st = launcher.wait(10000ms);
  REQUIRE(st);
  CHECK_EQ(st->to_string(), "exited with code 0");
}

TEST_CASE("a launcher forwards SIGTERM to its server and exits once the server stopped") {
  scoped_bus bus{"launch-stop"};
  auto launcher = launch(bus.name, {}, {"--child", "dummy-server"});
  await_line(launcher, "dummy server pid ");
  launcher.signal(SIGTERM);
  await_line(launcher, "[launch] SIGTERM received: stopping server pid");
  await_line(launcher, "dummy server stopping");
  auto last = await_line(launcher, "[launch] server (pid ");
  CHECK_MESSAGE(contains(last, "exited with code 0 after SIGTERM"), last);
  auto st = launcher.wait(10000ms);
  REQUIRE(st);
  CHECK_EQ(st->to_string(), "exited with code 0");
}

TEST_CASE("a server that keeps failing makes its launcher give up") {
  scoped_bus bus{"launch-give-up"};
  auto launcher = launch(bus.name,
                         {"--restart-delay=10ms", "--max-restarts=2",
                          "--restart-period=30s"},
                         {"--child", "dummy-server", "exit=3"});
  auto verdict = await_line(launcher, "[launch] server (pid ", 10000ms);
  while (!contains(verdict, "giving up"))
    verdict = await_line(launcher, "[launch] server (pid ", 10000ms);
  CHECK_MESSAGE(contains(verdict, "exited with code 3; giving up: more than 2 "
                                  "restart(s) within 30 s"),
                verdict);
  auto st = launcher.wait(5000ms);
  REQUIRE(st);
  CHECK_EQ(st->to_string(), "exited with code 1");
}

TEST_CASE("a server that exits with code 0 ends its launcher with code 0 and "
          "no lock file is left") {
  scoped_bus bus{"launch-done"};
  auto launcher = launch(bus.name, {}, {"--child", "dummy-server", "exit=0"});
  auto last = await_line(launcher, "[launch] server (pid ");
  CHECK(contains(last, "exited with code 0; done"));
  auto st = launcher.wait(5000ms);
  REQUIRE(st);
  CHECK_EQ(st->to_string(), "exited with code 0");
  // Nobody uses the bus any more: the launcher removed its lock file.
  CHECK_NE(::access(transport::lock_file_path(bus.name).c_str(), F_OK), 0);
}

TEST_CASE("the orphans of a killed server are reaped by its launcher before "
          "the next server starts") {
  scoped_bus bus{"launch-orphans"};
  auto launcher = launch(bus.name, {"--orphan-timeout=300ms",
                                    "--restart-delay=10ms"},
                         {"--child", "dummy-server", "orphan"});
  auto server = leading_int(await_line(launcher, "dummy server pid "));
  // Two processes write these, in either order. Once the orphan says
  // "pausing", it no longer dies with its parent.
  auto lines = await_lines(launcher, {"orphan pid ", "pausing "});
  auto orphan = leading_int(lines[0]);
  REQUIRE_EQ(leading_int(lines[1]), orphan);
  REQUIRE_EQ(::kill(server, SIGKILL), 0);
  // The orphan ignores its parent's death: the launcher, its new parent,
  // kills it after the orphan timeout and reaps it.
  auto killed = await_line(launcher, "[launch] orphan pid ");
  CHECK_EQ(killed, std::to_string(orphan) + " still runs after 300 ms: SIGKILL");
  auto reaped = await_line(launcher, "[launch] orphan pid ");
  CHECK_EQ(reaped, std::to_string(orphan)
                     + " of the old server killed by signal 9 (SIGKILL)");
  CHECK(contains(await_line(launcher, "[launch] server (pid "),
                 "killed by signal 9 (SIGKILL), restarting"));
  await_line(launcher, "dummy server pid ");
  CHECK_EQ(::kill(orphan, 0), -1); // gone for good, no zombie left
  launcher.signal(SIGTERM);
  REQUIRE(launcher.wait(10000ms));
}

TEST_CASE("a bus server killed under its launcher comes back with its module; "
          "the old module exits with code 75") {
  scoped_bus bus{"launch-bus"};
  auto launcher = launch(bus.name, {"--restart-delay=50ms"},
                         {"--child", "bus-server"});
  auto first_server = leading_int(await_line(launcher, "[launch] server started pid "));
  auto first_module = leading_int(await_line(launcher, "server up: echo is pid ", 15000ms));
  REQUIRE_EQ(::kill(first_server, SIGKILL), 0);
  // The module, a client of the dead server, exits by the seed's rule; the
  // launcher (a subreaper) is its parent now and reaps it.
  auto orphan = await_line(launcher, "[launch] orphan pid ");
  CHECK_EQ(orphan, std::to_string(first_module)
                     + " of the old server exited with code 75");
  CHECK(contains(await_line(launcher, "[launch] server (pid "),
                 "killed by signal 9 (SIGKILL), restarting in 50 ms"));
  auto second_server = leading_int(await_line(launcher, "[launch] server started pid "));
  auto second_module = leading_int(await_line(launcher, "server up: echo is pid ", 15000ms));
  CHECK_NE(second_server, first_server);
  CHECK_NE(second_module, first_module);
  launcher.signal(SIGTERM);
  await_line(launcher, "server stopped");
  auto st = launcher.wait(15000ms);
  REQUIRE(st);
  CHECK_EQ(st->to_string(), "exited with code 0");
}
