#include "shmbus/actors/launcher_options.hpp"

#include <string_view>

#include "error_text.hpp"

#include "shmbus/transport/bus_name.hpp"

namespace shmbus::actors {

namespace {

bool has_option(const std::vector<std::string>& args, std::string_view key) {
  for (auto& x : args)
    if (x.rfind(key, 0) == 0)
      return true;
  return false;
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
    return usage_error("--bus=NAME is required (or bus=\"NAME\" in the config file)");
  if (auto err = transport::validate_bus_name(bus))
    return usage_error("--bus: " + err->message);
  if (executable.empty())
    return usage_error("no server: put `-- SERVER_EXECUTABLE ARGS...` last, or "
                       "server=[\"EXECUTABLE\", ARGS...] in the config file");
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

std::string describe_duration(caf::timespan x) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(x).count();
  if (ms < 1000 || ms % 1000 != 0)
    return std::to_string(ms) + " ms";
  return std::to_string(ms / 1000) + " s";
}

} // namespace shmbus::actors
