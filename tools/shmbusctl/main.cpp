// shmbusctl: look at and clean up shmbus buses on this machine, without
// joining them (it only reads their segments).
//   shmbusctl list                       buses with files in /dev/shm
//   shmbusctl show BUS [--json]          nodes, counters, inboxes, names,
//                                        supervisors, error summary
//   shmbusctl watch BUS [--interval=1s] [--count=N]   live view with rates
//   shmbusctl metrics BUS                Prometheus text exposition
//   shmbusctl tree BUS [--json]          every supervisor's children
//   shmbusctl errors BUS [--json]        the distinct-error log
//   shmbusctl clean BUS                  remove a bus nobody runs
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "json_report.hpp"
#include "metrics.hpp"
#include "shmbus/transport/bus_admin.hpp"
#include "supervision_tree.hpp"
#include "text_report.hpp"
#include "watch.hpp"

using namespace shmbus::transport;

namespace {

constexpr int exit_usage = 64; // EX_USAGE

int usage() {
  std::fprintf(stderr,
               "usage: shmbusctl list\n"
               "       shmbusctl show BUS [--json]\n"
               "       shmbusctl watch BUS [--interval=1s] [--count=N]\n"
               "       shmbusctl metrics BUS\n"
               "       shmbusctl tree BUS [--json]\n"
               "       shmbusctl errors BUS [--json]\n"
               "       shmbusctl clean BUS\n");
  return exit_usage;
}

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

int list() {
  auto buses = list_buses();
  if (buses.empty()) {
    std::printf("no shmbus buses in /dev/shm\n");
    return 0;
  }
  for (auto& bus : buses) {
    auto report = inspect_bus(bus);
    if (!report) {
      std::printf("%-24s %s\n", bus.c_str(), report.err().message.c_str());
      continue;
    }
    size_t running = 0;
    for (auto& n : report->nodes)
      running += n.process_running ? 1 : 0;
    std::printf("%-24s server %s, %zu running node(s), %zu name(s)\n", bus.c_str(),
                report->server_running ? "running" : "gone (stale)", running,
                report->names.size());
  }
  return 0;
}

/// Reads the bus or says why not.
bool read_bus(const std::string& bus, bus_report& out) {
  auto report = inspect_bus(bus);
  if (!report) {
    std::fprintf(stderr, "shmbusctl: %s\n", report.err().message.c_str());
    return false;
  }
  out = std::move(*report);
  return true;
}

int clean(const std::string& bus) {
  if (auto err = remove_bus(bus)) {
    std::fprintf(stderr, "shmbusctl: %s\n", err.message.c_str());
    return 1;
  }
  std::printf("removed bus %s\n", bus.c_str());
  return 0;
}

/// show, tree, errors, metrics: one read, one view.
int view(const std::string& command, const std::string& bus, bool json) {
  bus_report r;
  if (!read_bus(bus, r))
    return 1;
  if (command == "show")
    print(json ? shmbusctl::dump(shmbusctl::to_json(r)) + "\n" : shmbusctl::show_text(r));
  else if (command == "tree")
    print(json ? shmbusctl::dump(shmbusctl::to_json(shmbusctl::build_trees(r))) + "\n"
               : shmbusctl::tree_text(r));
  else if (command == "errors")
    print(json ? shmbusctl::dump(shmbusctl::to_json(r.errors)) + "\n"
               : shmbusctl::errors_text(r));
  else
    print(shmbusctl::to_metrics(r));
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "list")
    return list();
  if (args.size() < 2)
    return usage();
  auto& command = args[0];
  auto& bus = args[1];
  std::vector<std::string> options(args.begin() + 2, args.end());
  if (command == "clean" && options.empty())
    return clean(bus);
  if (command == "metrics" && options.empty())
    return view(command, bus, false);
  if (command == "show" || command == "tree" || command == "errors") {
    if (options.empty())
      return view(command, bus, false);
    if (options.size() == 1 && options[0] == "--json")
      return view(command, bus, true);
    return usage();
  }
  if (command == "watch") {
    shmbusctl::watch_options opts;
    opts.bus = bus;
    for (auto& x : options) {
      if (x.rfind("--interval=", 0) == 0) {
        opts.interval = shmbusctl::parse_interval(x.substr(11));
        if (opts.interval.count() <= 0) {
          std::fprintf(stderr, "shmbusctl: --interval takes a duration such as 500ms or "
                               "2s, not '%s'\n", x.c_str() + 11);
          return exit_usage;
        }
      } else if (x.rfind("--count=", 0) == 0) {
        opts.count = std::strtoul(x.c_str() + 8, nullptr, 10);
      } else {
        return usage();
      }
    }
    return shmbusctl::watch(opts);
  }
  return usage();
}
