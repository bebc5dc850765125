#include "shmbus/actors/launcher_config.hpp"

#include <algorithm>

#include <caf/config_option_adder.hpp>

#include "error_text.hpp"

namespace shmbus::actors {

launcher_config::launcher_config() {
  auto& o = options;
  opt_group{custom_options_, "global"}
    .add(o.bus, "bus", "the bus whose server runs under this launcher (required)")
    .add(server, "server",
         "the server: [\"EXECUTABLE\", ARGS...]; a command after `--` replaces it")
    .add(o.restart_delay, "restart-delay", "first delay before a restart (doubles)")
    .add(o.max_restart_delay, "max-restart-delay", "longest delay before a restart")
    .add(o.max_restarts, "max-restarts", "give up after more restarts than this ...")
    .add(o.restart_period, "restart-period", "... within this period")
    .add(o.stop_timeout, "stop-timeout",
         "SIGKILL the server this long after forwarding SIGTERM/SIGINT")
    .add(o.orphan_timeout, "orphan-timeout", "how long the dead server's children get to exit")
    .add(o.wait_for_clients, "wait-for-clients", "passed on as --shmbus.wait-for-clients");
}

caf::error launcher_config::parse_command_line(std::vector<std::string> args,
                                               const char* ini) {
  // CAF 0.17.6 mishandles `--` after options (it keeps options in its
  // remainder): the server's command is split off here.
  std::vector<std::string> command;
  auto dashes = std::find(args.begin(), args.end(), "--");
  if (dashes != args.end()) {
    command.assign(dashes + 1, args.end());
    args.erase(dashes, args.end());
  }
  if (auto err = parse(std::move(args), ini)) {
    auto text = caf::to_string(err);
    if (err.category() == caf::atom("parser"))
      return usage_error("cannot read the option in " + text
                         + "; durations need a unit (100ms, 5s, 1min)");
    return usage_error(text);
  }
  if (cli_helptext_printed)
    return caf::none;
  if (!remainder.empty())
    return usage_error("unexpected argument '" + remainder.front()
                       + "'; the server's command comes last, after `--`");
  if (!command.empty())
    server = std::move(command);
  if (!server.empty()) {
    options.executable = server.front();
    options.args.assign(server.begin() + 1, server.end());
  }
  return options.validate();
}

} // namespace shmbus::actors
