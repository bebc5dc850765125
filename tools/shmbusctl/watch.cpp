#include "watch.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>

#include <unistd.h>

#include "shmbus/transport/bus_admin.hpp"
#include "supervision_tree.hpp"
#include "text_report.hpp"

namespace shmbusctl {

namespace {

using namespace shmbus::transport;
using clock_type = std::chrono::steady_clock;

/// A node is the same node across frames while slot and incarnation stay.
using node_key = std::pair<uint32_t, uint32_t>;

struct sample {
  clock_type::time_point at;
  std::map<node_key, node_counters> counters;
};

bool can_redraw() {
  auto* term = std::getenv("TERM");
  return ::isatty(STDOUT_FILENO) == 1 && term != nullptr && *term != '\0'
         && std::strcmp(term, "dumb") != 0;
}

double rate(uint64_t now, uint64_t before, double seconds) {
  return seconds > 0 && now >= before ? static_cast<double>(now - before) / seconds : 0.0;
}

std::string frame(const bus_report& r, const std::optional<sample>& last,
                  clock_type::time_point now, const watch_options& opts) {
  char line[512];
  std::string out;
  size_t running = 0;
  for (auto& n : r.nodes)
    running += n.process_running ? 1 : 0;
  std::snprintf(line, sizeof(line),
                "bus %s: server %s, %zu node(s) running, %zu name(s)  [every %lld ms; "
                "Ctrl-C ends]\n",
                printable(r.bus).c_str(), r.server_running ? "running" : "gone", running,
                r.names.size(), static_cast<long long>(opts.interval.count()));
  out += line;
  std::snprintf(line, sizeof(line), "%-4s %-16s %-8s %-8s %9s %10s %10s %10s %10s %6s %7s\n",
                "slot", "name", "pid", "state", "heartbeat", "msgs in/s", "msgs out/s",
                "KiB in/s", "KiB out/s", "inbox", "errors");
  out += line;
  double seconds = last ? std::chrono::duration<double>(now - last->at).count() : 0.0;
  for (auto& n : r.nodes) {
    if (!n.process_running && n.state != node_state::alive)
      continue;
    node_counters before = n.counters;
    if (last) {
      auto it = last->counters.find({n.slot, n.incarnation});
      if (it != last->counters.end())
        before = it->second;
    }
    auto& c = n.counters;
    auto inbox = n.inbox_bytes == 0 ? 0.0 : 100.0 * n.inbox_used_bytes / n.inbox_bytes;
    std::snprintf(line, sizeof(line),
                  "%-4u %-16s %-8d %-8s %7lldms %10.0f %10.0f %10.1f %10.1f %5.1f%% %7llu\n",
                  n.slot, printable(n.name).c_str(), n.pid, to_string(n.state),
                  static_cast<long long>(n.heartbeat_age_ms),
                  rate(c.msgs_in, before.msgs_in, seconds),
                  rate(c.msgs_out, before.msgs_out, seconds),
                  rate(c.bytes_in, before.bytes_in, seconds) / 1024,
                  rate(c.bytes_out, before.bytes_out, seconds) / 1024, inbox,
                  static_cast<unsigned long long>(problem_count(c)));
    out += line;
  }
  auto trees = build_trees(r);
  if (!trees.empty())
    out += "\n" + tree_text(r);
  if (!r.errors.empty()) {
    uint64_t total = 0;
    for (auto& e : r.errors)
      total += e.count;
    std::snprintf(line, sizeof(line), "\nerrors: %zu distinct, %llu in all\n",
                  r.errors.size(), static_cast<unsigned long long>(total));
    out += line;
  }
  return out;
}

void write_all(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

} // namespace

std::chrono::milliseconds parse_interval(const std::string& text) {
  char* end = nullptr;
  auto n = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || n <= 0)
    return std::chrono::milliseconds{0};
  std::string unit{end};
  if (unit == "ms")
    return std::chrono::milliseconds{n};
  if (unit == "s")
    return std::chrono::seconds{n};
  return std::chrono::milliseconds{0};
}

int watch(const watch_options& opts) {
  // Ctrl-C and SIGTERM end the view between two frames: they are taken by
  // sigtimedwait, which doubles as the pause.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &stop, nullptr);
  auto redraw = can_redraw();
  std::optional<sample> last;
  for (unsigned long shown = 0; opts.count == 0 || shown < opts.count; ++shown) {
    auto report = inspect_bus(opts.bus);
    auto now = clock_type::now();
    if (!report) {
      if (report.err().code == errc::bus_not_found) {
        write_all("bus " + opts.bus + " is gone\n");
        return 0;
      }
      std::fprintf(stderr, "shmbusctl: %s\n", report.err().message.c_str());
      return 1;
    }
    auto text = frame(*report, last, now, opts);
    // Home and clear, then the frame; a dumb terminal gets a blank line.
    write_all(redraw ? "\033[H\033[2J" + text : (shown > 0 ? "\n" : "") + text);
    sample s;
    s.at = now;
    for (auto& n : report->nodes)
      s.counters[{n.slot, n.incarnation}] = n.counters;
    last = std::move(s);
    if (opts.count != 0 && shown + 1 == opts.count)
      break;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(opts.interval).count();
    timespec pause{static_cast<time_t>(ns / 1'000'000'000),
                   static_cast<long>(ns % 1'000'000'000)};
    if (::sigtimedwait(&stop, nullptr, &pause) > 0)
      return 0;
  }
  return 0;
}

} // namespace shmbusctl
