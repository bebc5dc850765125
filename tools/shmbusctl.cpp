// shmbusctl: look at and clean up shmbus buses on this machine.
//   shmbusctl list              buses with a lock file or socket in /dev/shm
//   shmbusctl show BUS          nodes, their state, heartbeats, counters, names
//                               (the segment is got from a live process of the
//                               bus and mapped read-only)
//   shmbusctl clean BUS         remove a bus nobody runs (refuses otherwise);
//                               exits non-zero, naming the file and why, if a
//                               file cannot be removed
#include <cstdio>
#include <cstring>
#include <string>

#include "shmbus/transport/bus_admin.hpp"

using namespace shmbus::transport;

namespace {

int usage() {
  std::fprintf(stderr, "usage: shmbusctl list | show BUS | clean BUS\n");
  return 64;
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

int show(const std::string& bus) {
  auto report = inspect_bus(bus);
  if (!report) {
    std::fprintf(stderr, "shmbusctl: %s\n", report.err().message.c_str());
    return 1;
  }
  auto& r = *report;
  std::printf("bus %s: server %s (created by pid %d)\n", r.bus.c_str(),
              r.server_running ? "running" : "gone", r.creator_pid);
  std::printf("  %u node slots, inbox %u bytes, max message %u bytes, "
              "heartbeat %lld ms / timeout %lld ms\n",
              r.limits.node_slots, r.limits.inbox_bytes, r.limits.max_message_bytes,
              static_cast<long long>(r.timing.heartbeat_interval.count() / 1'000'000),
              static_cast<long long>(r.timing.heartbeat_timeout.count() / 1'000'000));
  std::printf("  %-4s %-16s %-7s %-8s %-5s %-8s %-9s %10s %10s %6s %6s %s\n", "slot",
              "name", "role", "pid", "inc", "state", "heartbeat", "msgs in",
              "msgs out", "errors", "full", "lost because");
  for (auto& n : r.nodes) {
    std::string lost = n.cause == loss_cause::none ? "" : to_string(n.cause);
    if (n.cause == loss_cause::exited || n.cause == loss_cause::killed)
      lost += " " + std::to_string(n.detail);
    std::printf("  %-4u %-16s %-7s %-8d %-5u %-8s %7lldms %10llu %10llu %6llu %6llu %s%s\n",
                n.slot, n.name.c_str(), n.role == node_role::server ? "server" : "client",
                n.pid, n.incarnation, to_string(n.state),
                static_cast<long long>(n.heartbeat_age_ms),
                static_cast<unsigned long long>(n.counters.msgs_in),
                static_cast<unsigned long long>(n.counters.msgs_out),
                static_cast<unsigned long long>(
                  n.counters.send_errors + n.counters.corrupt_records
                  + n.counters.checksum_failures + n.counters.ring_repairs
                  + n.counters.producer_repairs),
                static_cast<unsigned long long>(n.counters.full_inbox_waits),
                lost.c_str(), n.process_running ? "" : " (process gone)");
  }
  if (!r.names.empty()) {
    std::printf("  names:\n");
    for (auto& name : r.names)
      std::printf("    %-32s slot %u, value %llu\n", name.name.c_str(), name.slot,
                  static_cast<unsigned long long>(name.value));
  }
  return 0;
}

int clean(const std::string& bus) {
  if (auto err = remove_bus(bus)) {
    std::fprintf(stderr, "shmbusctl: %s\n", err.message.c_str());
    return 1;
  }
  std::printf("removed bus %s\n", bus.c_str());
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "list") == 0)
    return list();
  if (argc == 3 && std::strcmp(argv[1], "show") == 0)
    return show(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "clean") == 0)
    return clean(argv[2]);
  return usage();
}
