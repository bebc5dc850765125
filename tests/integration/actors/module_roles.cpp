// Processes that the module and launcher tests start: module programs built
// on run_module(), a bus server with a module supervisor, a dummy server and
// the launcher itself. Plain processes are in support/process_roles.cpp.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <caf/all.hpp>

#include "child_process.hpp"
#include "module_helpers.hpp"
#include "role_helpers.hpp"
#include "shmbus/actors/launcher.hpp"
#include "shmbus/actors/module_main.hpp"
#include "shmbus/actors/module_spec.hpp"
#include "shmbus/actors/ready_notice.hpp"
#include "shmbus/bus/config.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/process/os_process.hpp"
#include "shmbus/supervision/supervisor.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

/// argv for code that parses a command line: a program name, then `args`.
struct argv_builder {
  explicit argv_builder(const std::string& program,
                        const std::vector<std::string>& args) {
    storage.push_back(program);
    storage.insert(storage.end(), args.begin(), args.end());
    for (auto& x : storage)
      ptrs.push_back(x.data());
    ptrs.push_back(nullptr);
  }
  int argc() const {
    return static_cast<int>(storage.size());
  }
  char** argv() {
    return ptrs.data();
  }
  std::vector<std::string> storage;
  std::vector<char*> ptrs;
};

/// The server node of `bus` with default settings, or nothing (the error
/// printed as "server: <text>").
std::optional<bus::node> start_server(caf::actor_system& sys, const std::string& bus) {
  bus::bus_settings settings;
  settings.bus = bus;
  settings.role = "server";
  auto node = bus::node::start(sys, settings);
  if (!node) {
    std::printf("server: %s\n", sys.render(node.error()).c_str());
    return std::nullopt;
  }
  return std::move(*node);
}

} // namespace

// -- modules ------------------------------------------------------------------

// A module program. args (positional, before the --shmbus.* flags that
// module_child appends):
//   publish=NAME        spawn an echo actor and publish it as NAME
//   say=TEXT, warn=TEXT print TEXT on stdout / stderr once on the bus
//   fail-if-exists=PATH exit 3 at once if PATH exists
//   ignore-stop-request never return from init (SIGTERM still ends it)
//   ignore-sigterm      ... and ignore SIGTERM as well
//   watch=NAME          an actor that monitors the actor published as NAME
//                       and prints "down <reason>" for its down_msg and
//                       "exit <reason>" for its own exit_msg, then quits;
//                       prints "watching" once it monitors
SHMBUS_CHILD_ROLE("module") {
  // Like a real module program, it must not rely on dying with its parent
  // thread: the supervisor reaps it, and run_module returns 75 when the
  // server is lost.
  ::prctl(PR_SET_PDEATHSIG, 0);
  for (auto& path : values_of(args, "fail-if-exists"))
    if (::access(path.c_str(), F_OK) == 0) {
      std::fprintf(stderr, "failing at start: %s exists\n", path.c_str());
      return 3;
    }
  if (has_flag(args, "ignore-sigterm"))
    std::signal(SIGTERM, SIG_IGN);
  argv_builder av{"module", args};
  return actors::run_module(
    av.argc(), av.argv(),
    [&](caf::actor_system& sys, bus::node& node)
      -> caf::expected<std::vector<caf::actor>> {
      std::vector<caf::actor> actors;
      for (auto& name : values_of(args, "publish")) {
        auto echo = sys.spawn(echo_actor, name);
        if (auto err = node.publish(echo, name))
          return err;
        actors.push_back(echo);
      }
      for (auto& name : values_of(args, "watch")) {
        auto target = node.lookup(name, caf::timespan{std::chrono::seconds{5}});
        if (!target)
          return std::move(target.error());
        actors.push_back(sys.spawn([target = *target](caf::event_based_actor* self)
                                     -> caf::behavior {
          self->monitor(target);
          self->set_down_handler([self](caf::down_msg& dm) {
            std::printf("down %s\n", self->system().render(dm.reason).c_str());
            std::fflush(stdout);
          });
          self->set_exit_handler([self](caf::exit_msg& em) {
            std::printf("exit %s\n", self->system().render(em.reason).c_str());
            std::fflush(stdout);
            self->quit(em.reason);
          });
          return {[](const std::string&) {}};
        }));
        std::printf("watching\n");
      }
      for (auto& x : values_of(args, "say"))
        std::printf("%s\n", x.c_str());
      std::fflush(stdout);
      for (auto& x : values_of(args, "warn"))
        std::fprintf(stderr, "%s\n", x.c_str());
      if (has_flag(args, "ignore-stop-request") || has_flag(args, "ignore-sigterm"))
        for (;;)
          ::pause(); // until a signal that is not ignored ends the process
      return actors;
    });
}

// -- servers and the launcher -------------------------------------------------

// A bus server that supervises one module publishing "echo" and prints
//   "server up: echo is pid M" once the echo module answers through the bus,
// then runs until SIGTERM/SIGINT. args: the --shmbus.* flags.
SHMBUS_CHILD_ROLE("bus-server") {
  block_stop_signals();
  bus::config cfg;
  argv_builder av{"bus-server", args};
  if (auto err = cfg.parse(av.argc(), av.argv())) {
    std::printf("server: bad arguments: %s\n", caf::to_string(err).c_str());
    return 1;
  }
  caf::actor_system sys{cfg};
  auto node = bus::node::start(sys);
  if (!node) {
    std::printf("server: %s\n", sys.render(node.error()).c_str());
    return 1;
  }
  actors::module_spec spec;
  spec.name = "echo";
  spec.executable = self_executable();
  spec.args = {"--child", "module", "publish=echo"};
  spec.publishes = {"echo"};
  supervision::supervisor_flags flags;
  flags.intensity = 3;
  auto sup = supervision::start_supervisor(sys, flags,
                                           {actors::module_child(spec, *node)});
  if (!sup) {
    std::printf("server: %s\n", sys.render(sup.error()).c_str());
    return 1;
  }
  {
    caf::scoped_actor self{sys};
    auto echo = node->lookup("echo", std::chrono::seconds{5});
    std::string answer = "none";
    if (echo)
      self->request(*echo, std::chrono::seconds{5}, std::string{"pid"})
        .receive([&](std::string& x) { answer = x; },
                 [&](caf::error& err) { answer = sys.render(err); });
    std::printf("server up: echo is pid %s\n", answer.c_str());
    std::fflush(stdout);
  }
  actors::notify_ready(); // for a launcher's Type=notify readiness
  wait_for_stop_signal(std::chrono::seconds{60});
  {
    caf::scoped_actor self{sys};
    self->monitor(*sup);
    self->send_exit(*sup, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {},
                  caf::after(std::chrono::seconds{10}) >> [] {});
  }
  node->stop();
  std::printf("server stopped\n");
  return 0;
}

// A bus server (bus = args[0]) that starts a module publishing "echo",
// prints "module pid M" and calls exit() without stopping anything: the
// process-wide registry of child processes must kill and reap the module.
SHMBUS_CHILD_ROLE("exit-with-module") {
  bus::config cfg;
  caf::actor_system sys{cfg};
  auto node = start_server(sys, args.at(0));
  if (!node)
    return 1;
  actors::module_spec spec;
  spec.name = "echo";
  spec.executable = self_executable();
  spec.args = {"--child", "module", "publish=echo"};
  spec.publishes = {"echo"};
  auto sup = supervision::start_supervisor(sys, {},
                                           {actors::module_child(spec, *node)});
  auto echo = node->lookup("echo");
  if (!sup || !echo)
    return 1;
  std::printf("module pid %d\n", actors::process_id_of(*echo).value_or(0));
  std::fflush(stdout);
  std::exit(0);
}

// A bus server (bus = args[0]) that publishes an echo actor as "srv.echo",
// prints "ready" and waits for SIGTERM/SIGINT (or its SIGKILL).
SHMBUS_CHILD_ROLE("plain-server") {
  block_stop_signals();
  bus::config cfg;
  caf::actor_system sys{cfg};
  auto node = start_server(sys, args.at(0));
  if (!node)
    return 1;
  auto echo = sys.spawn(echo_actor, std::string{"srv.echo"});
  if (auto err = node->publish(echo, "srv.echo")) {
    std::printf("server: %s\n", sys.render(err).c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  wait_for_stop_signal(std::chrono::seconds{60});
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  return 0;
}

// A stand-in for a server: prints "dummy server pid P", then exits with
// `exit=N` at once, or waits for SIGTERM/SIGINT and exits 0.
// `orphan` first spawns a "pause" child that outlives it when it is killed.
SHMBUS_CHILD_ROLE("dummy-server") {
  block_stop_signals();
  std::printf("dummy server pid %d\n", static_cast<int>(::getpid()));
  if (has_flag(args, "orphan")) {
    process::os_process::spawn_options opts;
    opts.executable = self_executable();
    opts.args = {"--child", "pause", "outlive-parent"};
    auto child = process::os_process::spawn(opts);
    if (child) {
      std::printf("orphan pid %d\n", static_cast<int>((*child)->pid()));
      std::fflush(stdout);
      // Kept until exit; the tests SIGKILL this server before that, and
      // the launcher must deal with the orphan.
      static auto keep = std::move(*child);
    }
  }
  std::fflush(stdout);
  auto code = values_of(args, "exit");
  if (!code.empty())
    return std::stoi(code.front());
  wait_for_stop_signal(std::chrono::seconds{60});
  std::printf("dummy server stopping\n");
  return 0;
}

// shmbus-launch itself; args: its command line.
SHMBUS_CHILD_ROLE("launcher") {
  argv_builder av{"shmbus-launch", args};
  return actors::launcher_main(av.argc(), av.argv());
}
