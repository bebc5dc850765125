#include "shmbus/actors/module_main.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>

#include "shmbus/actors/defaults.hpp"
#include "shmbus/actors/errc.hpp"
#include "shmbus/bus/config.hpp"
#include "shmbus/bus/node.hpp"

namespace shmbus::actors {

namespace {

/// One wait for a stop request; the loop around it re-waits.
constexpr caf::timespan stop_poll = std::chrono::seconds{1};

std::string program_name(int argc, char** argv) {
  if (argc < 1 || argv[0] == nullptr)
    return "module";
  std::string path{argv[0]};
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// CAF stops parsing at the first positional argument, and module_child
/// appends the `--shmbus.*` flags after the module's own arguments: move
/// them to the front.
std::vector<std::string> shmbus_flags_first(int argc, char** argv) {
  std::vector<std::string> flags;
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    std::string arg{argv[i]};
    (arg.rfind("--shmbus.", 0) == 0 ? flags : rest).push_back(std::move(arg));
  }
  flags.insert(flags.end(), rest.begin(), rest.end());
  return flags;
}

/// Stops `xs` one by one, newest first: an exit, then its down_msg, all
/// within defaults::module_actors_stop_timeout; what is left then is killed.
void stop_actors(caf::actor_system& sys, const std::vector<caf::actor>& xs) {
  caf::scoped_actor self{sys};
  auto until = std::chrono::steady_clock::now() + defaults::module_actors_stop_timeout;
  for (auto i = xs.rbegin(); i != xs.rend(); ++i) {
    if (!*i)
      continue;
    self->monitor(*i);
    self->send_exit(*i, caf::exit_reason::user_shutdown);
    auto left = until - std::chrono::steady_clock::now();
    bool down = false;
    if (left > decltype(left)::zero())
      self->receive(
        [&](caf::down_msg& dm) { down = dm.source == *i; },
        caf::after(std::chrono::duration_cast<caf::timespan>(left)) >> [] {});
    if (!down) {
      // Out of time: the rest go at once.
      for (auto j = i; j != xs.rend(); ++j)
        if (*j)
          self->send_exit(*j, caf::exit_reason::kill);
      return;
    }
  }
}

} // namespace

int run_module(bus::config& cfg, int argc, char** argv, module_init init) {
  auto prog = program_name(argc, argv);
  auto complain = [&](const std::string& what) {
    std::fprintf(stderr, "%s: %s\n", prog.c_str(), what.c_str());
    return module_exit_code::setup_failed;
  };
  // Our stdout and stderr are pipes to the supervising process, which may
  // die first (then we return the server-lost code): a write to them must
  // fail with EPIPE, not kill us with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  // Errors of supervisors and modules inside the module render by name.
  configure(cfg);
  try {
    // The seed's rule for module programs; a flag or the config file may
    // say "continue".
    cfg.shmbus.on_server_lost = "exit";
    auto ordered = shmbus_flags_first(argc, argv);
    if (auto err = cfg.parse(std::move(ordered)))
      return complain("invalid arguments: " + caf::to_string(err)
                      + " (see --help)");
    if (cfg.cli_helptext_printed)
      return module_exit_code::stopped;
    if (cfg.shmbus.bus.empty())
      return complain("no bus to join: pass --shmbus.bus=NAME (a supervisor "
                      "starting this module with module_child() does)");
    caf::actor_system sys{cfg};
    auto bus = bus::node::start(sys);
    if (!bus)
      return complain("cannot join bus '" + cfg.shmbus.bus
                      + "': " + sys.render(bus.error()));
    auto actors = init ? init(sys, *bus)
                       : caf::expected<std::vector<caf::actor>>{
                         std::vector<caf::actor>{}};
    if (!actors) {
      auto what = "setting up the module failed: " + sys.render(actors.error());
      bus->stop();
      return complain(what);
    }
    bus::stop_reason why;
    while (!why)
      why = bus->await_stop_request(stop_poll);
    auto code = module_exit_code::stopped;
    if (why.cause == bus::stop_cause::server_lost && bus->settings().on_server_lost == "exit")
      code = bus->settings().server_lost_exit_code;
    else if (why.cause == bus::stop_cause::evicted)
      code = module_exit_code::evicted;
    if (why.cause == bus::stop_cause::server_lost || why.cause == bus::stop_cause::evicted)
      std::fprintf(stderr, "%s: %s; stopping its actors and exiting with code %d\n",
                   prog.c_str(), why.text.c_str(), code);
    // Leave the bus first: peers see our actors go down as a lost node, not
    // one by one as if they had failed.
    bus->stop();
    stop_actors(sys, *actors);
    actors->clear();
    return code;
  } catch (const std::exception& e) {
    return complain(std::string{"failed: "} + e.what());
  }
}

int run_module(int argc, char** argv, module_init init) {
  bus::config cfg;
  return run_module(cfg, argc, argv, std::move(init));
}

} // namespace shmbus::actors
