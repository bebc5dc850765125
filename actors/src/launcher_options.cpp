#include "shmbus/actors/launcher_options.hpp"

#include <charconv>
#include <cstdio>

#include <caf/sec.hpp>

#include "shmbus/transport/bus_name.hpp"

namespace shmbus::actors {

namespace {

bool has_option(const std::vector<std::string>& args, std::string_view key) {
  for (auto& x : args)
    if (x.rfind(key, 0) == 0)
      return true;
  return false;
}

caf::error usage_error(const std::string& what) {
  return caf::make_error(caf::sec::invalid_argument,
                         "shmbus-launch: " + what
                           + " (shmbus-launch --help shows the usage)");
}

} // namespace

std::vector<std::string> launcher_options::server_arguments() const {
  auto result = args;
  if (!has_option(args, "--shmbus.bus="))
    result.push_back("--shmbus.bus=" + bus);
  if (!has_option(args, "--shmbus.role="))
    result.push_back("--shmbus.role=server");
  if (!has_option(args, "--shmbus.wait-for-clients="))
    result.push_back("--shmbus.wait-for-clients="
                     + std::to_string(std::chrono::duration_cast<
                                        std::chrono::milliseconds>(
                                        wait_for_clients)
                                        .count())
                     + "ms");
  return result;
}

caf::error launcher_options::validate() const {
  if (bus.empty())
    return usage_error("--bus=NAME is required");
  if (auto err = transport::validate_bus_name(bus))
    return usage_error("--bus: " + err->message);
  if (executable.empty())
    return usage_error("no server: put `-- SERVER_EXECUTABLE ARGS...` last");
  if (restart_delay < caf::timespan::zero()
      || max_restart_delay < restart_delay)
    return usage_error("need 0 <= --restart-delay <= --max-restart-delay");
  if (restart_period <= caf::timespan::zero())
    return usage_error("--restart-period must be positive");
  if (stop_timeout <= caf::timespan::zero()
      || orphan_timeout < caf::timespan::zero()
      || wait_for_clients < caf::timespan::zero())
    return usage_error("timeouts must not be negative (and --stop-timeout "
                       "positive)");
  return caf::none;
}

caf::expected<launcher_options> launcher_options::parse(int argc,
                                                        char** argv) {
  launcher_options result;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view arg{argv[i]};
    if (arg == "--")
      break;
    if (arg == "--help" || arg == "-h")
      return caf::make_error(caf::sec::invalid_argument, usage());
    auto eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string_view::npos)
      return usage_error("unexpected argument '" + std::string{arg} + "'");
    auto key = arg.substr(2, eq - 2);
    auto value = arg.substr(eq + 1);
    auto duration = [&](caf::timespan& dst) -> caf::error {
      if (auto x = parse_duration(value)) {
        dst = *x;
        return caf::none;
      }
      return usage_error("--" + std::string{key} + " takes a duration such as "
                         "100ms or 5s, not '" + std::string{value} + "'");
    };
    caf::error err;
    if (key == "bus") {
      result.bus = std::string{value};
    } else if (key == "restart-delay") {
      err = duration(result.restart_delay);
    } else if (key == "max-restart-delay") {
      err = duration(result.max_restart_delay);
    } else if (key == "restart-period") {
      err = duration(result.restart_period);
    } else if (key == "stop-timeout") {
      err = duration(result.stop_timeout);
    } else if (key == "orphan-timeout") {
      err = duration(result.orphan_timeout);
    } else if (key == "wait-for-clients") {
      err = duration(result.wait_for_clients);
    } else if (key == "max-restarts") {
      size_t n = 0;
      auto [end, ec] = std::from_chars(value.data(),
                                       value.data() + value.size(), n);
      if (ec != std::errc{} || end != value.data() + value.size())
        err = usage_error("--max-restarts takes a count, not '"
                          + std::string{value} + "'");
      result.max_restarts = n;
    } else {
      err = usage_error("unknown option '--" + std::string{key} + "'");
    }
    if (err)
      return err;
  }
  if (i + 1 < argc) {
    result.executable = argv[i + 1];
    result.args.assign(argv + i + 2, argv + argc);
  }
  if (auto err = result.validate())
    return err;
  return result;
}

std::string launcher_options::usage() {
  return "usage: shmbus-launch --bus=NAME [options] -- SERVER_EXECUTABLE "
         "ARGS...\n"
         "Runs the server of bus NAME and restarts it when it dies; one "
         "launcher per bus.\n"
         "  --restart-delay=100ms     first delay before a restart (doubles)\n"
         "  --max-restart-delay=5s    longest delay before a restart\n"
         "  --max-restarts=5          give up after more restarts than this "
         "...\n"
         "  --restart-period=60s      ... within this period\n"
         "  --stop-timeout=10s        SIGKILL the server this long after "
         "forwarding SIGTERM/SIGINT\n"
         "  --orphan-timeout=5s       how long the dead server's children "
         "get to exit\n"
         "  --wait-for-clients=5s     passed on as "
         "--shmbus.wait-for-clients\n"
         "The server gets --shmbus.bus=NAME --shmbus.role=server "
         "--shmbus.wait-for-clients=... appended unless ARGS has them.";
}

std::optional<caf::timespan> parse_duration(std::string_view text) {
  int64_t count = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                   count);
  if (ec != std::errc{} || count < 0)
    return std::nullopt;
  std::string_view unit{end, static_cast<size_t>(text.data() + text.size()
                                                 - end)};
  using namespace std::chrono;
  if (unit == "ns")
    return nanoseconds{count};
  if (unit == "us")
    return microseconds{count};
  if (unit == "ms")
    return milliseconds{count};
  if (unit == "s")
    return seconds{count};
  if (unit == "min")
    return minutes{count};
  if (unit.empty() && count == 0)
    return caf::timespan::zero();
  return std::nullopt;
}

std::string describe_duration(caf::timespan x) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(x).count();
  if (ms < 1000 || ms % 1000 != 0)
    return std::to_string(ms) + " ms";
  return std::to_string(ms / 1000) + " s";
}

} // namespace shmbus::actors
