#include "shmbus/log/logger.hpp"

#include <atomic>
#include <cerrno>
#include <memory>
#include <mutex>

#include <unistd.h>

namespace shmbus::log {

namespace {

struct state {
  std::atomic<uint8_t> threshold{static_cast<uint8_t>(level::info)};
  /// Guards `custom` and serializes the calls of the sink.
  std::mutex mtx;
  sink custom;
};

state& global() {
  // Never destroyed: threads of static objects may log during exit.
  static auto* x = new state;
  return *x;
}

} // namespace

void set_sink(sink x) {
  auto& g = global();
  std::lock_guard<std::mutex> guard{g.mtx};
  g.custom = std::move(x);
}

void set_level(level x) noexcept {
  global().threshold.store(static_cast<uint8_t>(x), std::memory_order_relaxed);
}

level threshold() noexcept {
  return static_cast<level>(global().threshold.load(std::memory_order_relaxed));
}

bool enabled(level severity) noexcept {
  return severity != level::off
         && static_cast<uint8_t>(severity)
              >= global().threshold.load(std::memory_order_relaxed);
}

void write(record x) {
  if (!enabled(x.severity))
    return;
  if (x.time == std::chrono::system_clock::time_point{})
    x.time = std::chrono::system_clock::now();
  auto& g = global();
  std::lock_guard<std::mutex> guard{g.mtx};
  try {
    if (g.custom)
      g.custom(x);
    else
      write_to_stderr(x);
  } catch (...) {
    // A failing sink must not fail the bus or a supervisor.
  }
}

void write(level severity, std::string component, std::string event,
           std::string message, std::vector<field> fields) {
  if (!enabled(severity))
    return;
  record x;
  x.severity = severity;
  x.component = std::move(component);
  x.event = std::move(event);
  x.message = std::move(message);
  x.fields = std::move(fields);
  write(std::move(x));
}

void write_line(int fd, std::string_view line) noexcept {
  std::string buf;
  buf.reserve(line.size() + 1);
  buf.append(line);
  buf.push_back('\n');
  const char* p = buf.data();
  size_t left = buf.size();
  while (left > 0) {
    auto n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; // nowhere to write to (closed stdout): drop it
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void write_to_stderr(const record& x) {
  if (x.event == module_output_event) {
    auto fd = x.get("stream") == "err" ? STDERR_FILENO : STDOUT_FILENO;
    std::string line = "[";
    line += x.get("module");
    line += "] ";
    line += x.message;
    write_line(fd, line);
    return;
  }
  write_line(STDERR_FILENO, format(x));
}

} // namespace shmbus::log
