#include "text_report.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <ctime>

#include "group_list.hpp"
#include "supervision_tree.hpp"

namespace shmbusctl {

namespace {

using namespace shmbus::transport;

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

std::string format(const char* fmt, ...) {
  char buf[1024];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, args);
  va_end(args);
  return buf;
}

unsigned long long ull(uint64_t x) {
  return static_cast<unsigned long long>(x);
}

void tree_lines(const supervisor_node& s, const std::string& indent, std::string& out) {
  out += indent + "supervisor '" + printable(s.name) + "' (" + printable(s.strategy)
         + ") in node '" + printable(s.owner_name) + "', pid " + std::to_string(s.pid)
         + "\n";
  for (auto& c : s.children) {
    auto line = indent + "  " + printable(c.row.child_name) + "  "
                + to_string(c.row.kind) + ", " + to_string(c.row.state);
    if (c.row.pid != 0)
      line += ", pid " + std::to_string(c.row.pid);
    line += ", restarts " + std::to_string(c.row.restarts);
    if (!c.row.last_exit_reason.empty())
      line += ", last exit: " + printable(c.row.last_exit_reason);
    out += line + "\n";
    for (auto& nested : c.nested)
      tree_lines(nested, indent + "    ", out);
  }
}

} // namespace

std::string printable(const std::string& x) {
  std::string out = x;
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = '?';
  return out;
}

std::string time_text(int64_t unix_ns) {
  if (unix_ns <= 0)
    return "-";
  auto secs = static_cast<time_t>(unix_ns / 1'000'000'000);
  std::tm utc{};
  ::gmtime_r(&secs, &utc);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &utc);
  return buf;
}

std::string show_text(const bus_report& r) {
  std::string out;
  out += format("bus %s: server %s (created by pid %d at %s UTC)\n", printable(r.bus).c_str(),
                r.server_running ? "running" : "gone", r.creator_pid,
                time_text(r.created_unix_ns).c_str());
  out += format("  %u node slots, inbox %u bytes, max message %u bytes, "
                "heartbeat %lld ms / timeout %lld ms\n",
                r.limits.node_slots, r.limits.inbox_bytes, r.limits.max_message_bytes,
                static_cast<long long>(r.timing.heartbeat_interval.count() / 1'000'000),
                static_cast<long long>(r.timing.heartbeat_timeout.count() / 1'000'000));
  out += format("  %-4s %-16s %-7s %-8s %-5s %-8s %-9s %10s %10s %6s %6s %6s %s\n", "slot",
                "name", "role", "pid", "inc", "state", "heartbeat", "msgs in", "msgs out",
                "errors", "full", "inbox", "lost because");
  for (auto& n : r.nodes) {
    std::string lost = n.cause == loss_cause::none ? "" : to_string(n.cause);
    if (n.cause == loss_cause::exited || n.cause == loss_cause::killed)
      lost += " " + std::to_string(n.detail);
    auto inbox = n.inbox_bytes == 0 ? 0.0 : 100.0 * n.inbox_used_bytes / n.inbox_bytes;
    out += format("  %-4u %-16s %-7s %-8d %-5u %-8s %7lldms %10llu %10llu %6llu %6llu %5.1f%% %s%s\n",
                  n.slot, printable(n.name).c_str(),
                  n.role == node_role::server ? "server" : "client", n.pid, n.incarnation,
                  to_string(n.state), static_cast<long long>(n.heartbeat_age_ms),
                  ull(n.counters.msgs_in), ull(n.counters.msgs_out),
                  ull(problem_count(n.counters)),
                  ull(n.counters.full_inbox_waits), inbox, lost.c_str(),
                  n.process_running ? "" : " (process gone)");
  }
  if (!r.names.empty()) {
    out += "  names:\n";
    for (auto& name : r.names)
      out += format("    %-32s slot %u, value %llu\n", printable(name.name).c_str(),
                    name.slot, ull(name.value));
  }
  if (!r.pool.classes.empty()) {
    auto& p = r.pool;
    uint32_t blocks = 0;
    for (auto& c : p.classes)
      blocks += c.blocks;
    out += format("  buffer pool: %llu bytes, %u of %u blocks in use; %llu allocations, "
                  "%llu exhausted, %llu handles refused, %llu references of lost nodes "
                  "dropped\n",
                  ull(p.pool_bytes), p.used_blocks(), blocks, ull(p.allocations),
                  ull(p.exhausted), ull(p.refused_handles), ull(p.released_for_lost));
    for (auto& c : p.classes)
      out += format("    blocks of %10llu bytes: %5u of %5u in use\n", ull(c.block_bytes),
                    c.used, c.blocks);
    for (auto& h : p.holders) {
      std::string name = "?";
      for (auto& n : r.nodes)
        if (n.slot == h.slot)
          name = printable(n.name);
      out += format("    slot %-4u %-16s holds %u, sent %u not yet taken\n", h.slot,
                    name.c_str(), h.held, h.inflight);
    }
  }
  auto groups = build_groups(r);
  if (!groups.empty()) {
    out += "  groups:\n";
    for (auto& g : groups) {
      out += format("    %s%s: %llu subscribers in %u processes; published %llu, "
                    "records out %llu, undelivered %llu, records in %llu\n",
                    printable(g.name).c_str(), g.name_cut ? "..." : "", ull(g.subscribers),
                    g.subscribed_processes, ull(g.published), ull(g.records_out),
                    ull(g.undelivered), ull(g.records_in));
      for (auto& m : g.members)
        out += format("      slot %-4u %-16s subscribers %llu, published %llu, records out "
                      "%llu, undelivered %llu, records in %llu\n",
                      m.slot, printable(m.node).c_str(), ull(m.row.local_subscribers),
                      ull(m.row.published), ull(m.row.records_out), ull(m.row.undelivered),
                      ull(m.row.records_in));
    }
  }
  for (auto& p : r.groups.problems)
    out += "  group summary: " + printable(p) + " (left out)\n";
  auto trees = build_trees(r);
  if (!trees.empty()) {
    out += "  supervisors:\n";
    for (auto& t : trees)
      tree_lines(t, "    ", out);
  }
  if (!r.errors.empty()) {
    uint64_t total = 0;
    for (auto& e : r.errors)
      total += e.count;
    out += format("  errors: %zu distinct, %llu in all (shmbusctl errors %s)\n",
                  r.errors.size(), ull(total), printable(r.bus).c_str());
  }
  return out;
}

std::string tree_text(const bus_report& r) {
  auto trees = build_trees(r);
  if (trees.empty())
    return "no supervisor publishes on bus " + printable(r.bus) + "\n";
  std::string out;
  for (auto& t : trees)
    tree_lines(t, "", out);
  return out;
}

std::string errors_text(const bus_report& r) {
  if (r.errors.empty() && r.errors_dropped == 0)
    return "no errors reported on bus " + printable(r.bus) + "\n";
  auto errors = r.errors;
  std::stable_sort(errors.begin(), errors.end(),
                   [](auto& x, auto& y) { return x.count > y.count; });
  std::string out;
  for (auto& e : errors) {
    out += format("%8llu x %s  first %s UTC (node '%s', pid %d), last %s UTC (pid %d)\n",
                  ull(e.count), printable(e.kind).c_str(), time_text(e.first_unix_ns).c_str(),
                  printable(e.node).c_str(), e.first_pid, time_text(e.last_unix_ns).c_str(),
                  e.last_pid);
    out += "           " + printable(e.text) + "\n";
  }
  if (r.errors_dropped > 0)
    out += format("%llu report(s) of further errors found the log full\n",
                  ull(r.errors_dropped));
  return out;
}

} // namespace shmbusctl
