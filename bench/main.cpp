// shmbus-bench: compares shmbus with the mechanisms a user would otherwise
// pick (BENCH.md). The parent only plans rows and waits; every measurement
// runs in fresh child processes, which are this program re-executed with
// `--role NAME key=value...`.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "buffer_bench.hpp"
#include "bus_bench.hpp"
#include "failover_bench.hpp"
#include "group_bench.hpp"
#include "remote_bench.hpp"
#include "child_process.hpp"
#include "process_pair.hpp"
#include "report.hpp"
#include "run_options.hpp"
#include "soak_bench.hpp"
#include "transport_bench.hpp"

namespace shmbus::bench {
namespace {

struct subcommand {
  const char* name;
  const char* summary;
  void (*run)(const run_options&, report&);
  /// Part of `all`; the endurance run is not (it takes 10 minutes alone).
  bool in_all;
};

/// `failover` joins this table together with the shmbus rows.
const subcommand subcommands[] = {
  {"transport", "RTT, stream and idle CPU of process-to-process channels",
   run_transport_suite, true},
  {"bus", "request RTT, send stream and idle CPU of CAF actors in 2 processes",
   run_bus_suite, true},
  {"failover", "time from kill -9 of a process to its peers knowing",
   run_failover_suite, true},
  {"groups", "fan-out of a CAF group to subscriber actors in 3 processes",
   run_groups_suite, true},
  {"buffers", "request RTT carrying 64 B .. 16 MiB: shared_buffer, vector, CAF TCP",
   run_buffer_suite, true},
  {"remote", "request RTT within and across machines, and time to know a machine lost",
   run_remote_suite, true},
  {"soak", "8 processes for 10 minutes under kill -9 and SIGSTOP: nothing lost",
   run_soak_suite, false},
};

struct role {
  const char* name;
  role_main body;
};

const role roles[] = {
  {"transport-a", transport_driver_role},
  {"transport-b", transport_peer_role},
  {"bus-a", bus_driver_role},
  {"bus-b", bus_peer_role},
  {"buffers-a", buffer_driver_role},
  {"buffers-b", buffer_peer_role},
  {"failover-a", failover_driver_role},
  {"failover-victim", failover_victim_role},
  {"soak-a", soak_driver_role},
  {"groups-a", groups_driver_role},
  {"groups-sub", groups_subscriber_role},
  {"remote-a", remote_driver_role},
  {"remote-machine", remote_machine_role},
  {"remote-plain", remote_plain_role},
};

void print_usage(std::FILE* out) {
  std::fputs("usage: shmbus-bench SUBCOMMAND [options]\n\nsubcommands:\n", out);
  for (auto& cmd : subcommands)
    std::fprintf(out, "  %-10s %s\n", cmd.name, cmd.summary);
  std::fprintf(out, "  %-10s %s\n", "all", "every subcommand above but soak, in turn");
  std::fputs(
    "\noptions:\n"
    "  --quick              every row briefly (whole program < 60 s)\n"
    "  --json               one JSON object per row on stdout; header and\n"
    "                       notes go to stderr\n"
    "  --only=TEXT          only rows whose mechanism contains TEXT\n"
    "  --caf-policy=NAME    CAF scheduler policy: stealing | sharing\n"
    "  --caf-max-threads=N  CAF scheduler workers (default: CAF's)\n",
    out);
}

int run_role_by_name(int argc, char** argv) {
  std::vector<std::string> words(argv + 3, argv + argc);
  for (auto& r : roles)
    if (std::strcmp(r.name, argv[2]) == 0)
      return run_role(r.body, role_args::parse(words));
  std::fprintf(stderr, "shmbus-bench: unknown role '%s'\n", argv[2]);
  return 2;
}

bool take_value(const std::string& arg, const char* flag, std::string& value) {
  auto prefix = std::string(flag) + "=";
  if (arg.rfind(prefix, 0) != 0)
    return false;
  value = arg.substr(prefix.size());
  return true;
}

int run_main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], role_flag) == 0)
    return run_role_by_name(argc, argv);
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0
      || std::strcmp(argv[1], "-h") == 0) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string name = argv[1];
  run_options options;
  bool json = false;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (arg == "--quick") {
      options.quick = true;
    } else if (arg == "--json") {
      json = true;
    } else if (take_value(arg, "--only", value)) {
      options.only = value;
    } else if (take_value(arg, "--caf-policy", value)) {
      if (value != "stealing" && value != "sharing") {
        std::fprintf(stderr, "shmbus-bench: --caf-policy is stealing or sharing\n");
        return 2;
      }
      options.caf_policy = value;
    } else if (take_value(arg, "--caf-max-threads", value)) {
      options.caf_max_threads = std::stoul(value);
    } else {
      std::fprintf(stderr, "shmbus-bench: unknown option '%s'\n\n", arg.c_str());
      print_usage(stderr);
      return 2;
    }
  }
  std::vector<const subcommand*> selected;
  for (auto& cmd : subcommands)
    if (name == cmd.name || (name == "all" && cmd.in_all))
      selected.push_back(&cmd);
  if (selected.empty()) {
    std::fprintf(stderr, "shmbus-bench: unknown subcommand '%s'\n\n",
                 name.c_str());
    print_usage(stderr);
    return 2;
  }
  std::string command = "shmbus-bench";
  for (int i = 1; i < argc; ++i)
    command += std::string(" ") + argv[i];
  install_interrupt_handlers();
  report out{json ? output_format::json : output_format::table};
  out.print_header(command);
  try {
    for (auto* cmd : selected)
      cmd->run(options, out);
  } catch (const interrupted_error&) {
    // Unwinding has killed and reaped every child by now.
    out.finish();
    std::fputs("shmbus-bench: interrupted\n", stderr);
    return 130;
  }
  out.finish();
  return out.failed_rows() == 0 ? 0 : 1;
}

} // namespace
} // namespace shmbus::bench

int main(int argc, char** argv) {
  // The modules the failover and soak rows supervise parse their own (CAF)
  // command line.
  if (argc > 2 && std::strcmp(argv[1], shmbus::bench::role_flag) == 0
      && std::strcmp(argv[2], "failover-module") == 0)
    return shmbus::bench::failover_module_main(argc - 2, argv + 2);
  if (argc > 2 && std::strcmp(argv[1], shmbus::bench::role_flag) == 0
      && std::strcmp(argv[2], "soak-module") == 0)
    return shmbus::bench::soak_module_main(argc - 2, argv + 2);
  try {
    return shmbus::bench::run_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmbus-bench: %s\n", e.what());
    return 1;
  }
}
