#include "shmbus/actors/module_spec.hpp"

#include <algorithm>
#include <csignal>
#include <memory>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/node_id.hpp>
#include <caf/sec.hpp>

#include "module_actor.hpp"
#include "module_registry.hpp"
#include "shmbus/log/logger.hpp"
#include "shmbus/bus/errc.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/process/defaults.hpp"
#include "shmbus/process/os_process.hpp"
#include "shmbus/process/process_watcher.hpp"

namespace shmbus::actors {

namespace {

using process::os_process;
using process::process_watcher;
using supervision::child_spec;
using supervision::restart_type;
using supervision::shutdown_policy;
using clock_type = std::chrono::steady_clock;

/// Longest single lookup while waiting for a name: between two, the start
/// function checks whether the process died.
constexpr caf::timespan lookup_slice = std::chrono::milliseconds{50};

/// Wait between lookups when a name still resolves to a previous
/// incarnation of the module (its old entry is about to go).
constexpr caf::timespan stale_name_pause = std::chrono::milliseconds{10};

/// Longest node name of the transport.
constexpr size_t max_name_length = 63;

std::string in_ms(caf::timespan x) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  return std::to_string(duration_cast<milliseconds>(x).count()) + " ms";
}

std::string quoted_list(const std::vector<std::string>& xs) {
  std::string result;
  for (auto& x : xs)
    result += (result.empty() ? "'" : ", '") + x + "'";
  return result;
}

/// Stops a module whose start failed: SIGTERM, then SIGKILL; always reaps.
void stop_failed_start(os_process& proc, const module_spec& spec) {
  if (proc.status())
    return;
  proc.signal(SIGTERM);
  proc.signal(SIGCONT); // a stopped process acts on SIGTERM only once it runs
  if (!proc.wait_for(spec.kill_after - spec.term_after))
    proc.kill_and_reap(process::defaults::reap_timeout);
}

caf::expected<caf::actor> start_module(caf::actor_system& sys,
                                       const module_spec& spec,
                                       const bus::node& bus) {
  if (auto err = spec.validate())
    return err;
  os_process::spawn_options opts;
  opts.executable = spec.executable;
  opts.args = module_arguments(spec, bus.settings().bus);
  opts.env = spec.env;
  opts.capture_stdout = true;
  opts.capture_stderr = true;
  auto proc = os_process::spawn(opts);
  if (!proc) {
    // E.g. no such executable: glibc reports a failed exec synchronously.
    return caf::make_error(caf::sec::runtime_error,
                           "module '" + spec.name + "': " + proc.err().message);
  }
  auto pid = (*proc)->pid();
  process_watcher::line_sink out;
  process_watcher::line_sink err;
  std::string prefix;
  if (spec.output) {
    prefix = "[" + spec.name + "] ";
    out = [f = spec.output](std::string_view line) {
      f(output_stream::out, line);
    };
    err = [f = spec.output](std::string_view line) {
      f(output_stream::err, line);
    };
  } else {
    // To shmbus::log, whose default sink writes "[name] line" to the
    // stream the module wrote it to.
    auto to_log = [name = spec.name, pid](const char* stream, log::level severity) {
      return [name, pid, stream, severity](std::string_view line) {
        log::write(severity, "actors", log::module_output_event, std::string{line},
                   {{"module", name}, {"stream", stream}, {"pid", std::to_string(pid)}});
      };
    };
    out = to_log("out", log::level::info);
    err = to_log("err", log::level::warning);
  }
  process_watcher::instance().watch(*proc, prefix, std::move(out), std::move(err));
  auto who = "module '" + spec.name + "' (pid " + std::to_string(pid) + ")";
  auto deadline = clock_type::now() + spec.start_timeout;
  std::vector<module_actor::published> found;
  std::string stale; // why a name did not count, for the error
  auto fail = [&](const std::string& why) -> caf::expected<caf::actor> {
    std::vector<std::string> missing;
    for (auto& x : spec.publishes)
      if (std::none_of(found.begin(), found.end(),
                       [&](auto& f) { return f.name == x; }))
        missing.push_back(x);
    stop_failed_start(**proc, spec);
    return make_error(errc::module_start_timeout,
                      who + " did not publish " + quoted_list(missing)
                        + " within " + in_ms(spec.start_timeout) + why
                        + stale);
  };
  for (auto& name : spec.publishes) {
    for (;;) {
      if (auto st = (*proc)->status())
        return fail(": it " + to_string(*st) + " meanwhile");
      auto remaining = deadline - clock_type::now();
      if (remaining <= caf::timespan::zero())
        return fail("");
      auto x = bus.lookup(name, std::min<caf::timespan>(remaining, lookup_slice));
      if (!x) {
        if (x.error() != bus::errc::name_not_found)
          return fail(": looking it up failed: " + sys.render(x.error()));
        continue;
      }
      auto owner = process_id_of(*x);
      if (owner == pid) {
        found.push_back({name, std::move(*x)});
        break;
      }
      stale = "; '" + name + "' resolved to an actor of "
              + (owner ? "pid " + std::to_string(*owner) : "an unknown process")
              + " instead";
      // Waiting for the process to end doubles as the pause between tries.
      (*proc)->wait_for(std::min<caf::timespan>(remaining, stale_name_pause));
    }
  }
  // Event-based: it waits for nothing itself, the process_watcher thread
  // reaps the process and tells it. Registered before anyone sees the
  // handle; the actor removes itself when it ends.
  auto hdl = sys.spawn<module_actor>(spec.name, std::move(*proc), bus,
                                     std::move(found), spec.term_after,
                                     spec.kill_after);
  module_registry::add(sys, hdl.id(), pid);
  return hdl;
}

} // namespace

caf::error module_spec::validate() const {
  auto invalid = [this](const std::string& what) {
    return caf::make_error(caf::sec::invalid_argument,
                           "module '" + name + "': " + what);
  };
  if (name.empty() || name.size() > max_name_length)
    return invalid("a module needs a name of 1 to 63 characters");
  if (executable.empty())
    return invalid("no executable");
  if (start_timeout <= caf::timespan::zero())
    return invalid("start_timeout must be positive");
  if (term_after < caf::timespan::zero() || kill_after <= term_after)
    return invalid("need 0 <= term_after < kill_after (SIGTERM comes before "
                   "SIGKILL)");
  for (auto& x : publishes)
    if (x.empty() || x.size() > max_name_length)
      return invalid("published names have 1 to 63 characters");
  return caf::none;
}

child_spec module_child(module_spec spec, bus::node bus,
                        restart_type restart) {
  auto id = spec.name;
  auto margin = spec.kill_after + defaults::module_reap_margin;
  auto shared = std::make_shared<const module_spec>(std::move(spec));
  child_spec result{std::move(id),
                    [shared, bus](caf::actor_system& sys) {
                      return start_module(sys, *shared, bus);
                    },
                    restart};
  result.shutdown = shutdown_policy::timeout_after(margin);
  return result;
}

std::optional<int> process_id_of(const caf::actor& x) {
  if (!x)
    return std::nullopt;
  auto pid = bus::process_id_of(x.node());
  if (pid == 0)
    return std::nullopt;
  return pid;
}

std::vector<std::string> module_arguments(const module_spec& spec,
                                          const std::string& bus_name) {
  auto result = spec.args;
  result.push_back("--shmbus.bus=" + bus_name);
  result.push_back("--shmbus.role=client");
  result.push_back("--shmbus.node-name=" + spec.name);
  return result;
}

} // namespace shmbus::actors
