// `shmbusctl watch BUS [--interval=1s] [--count=N]`: a live view of a bus,
// like top: each node's message and byte rates per second, inbox fill,
// heartbeat age, and the supervisors' children. On a terminal that can, it
// redraws in place; in a dumb terminal or a pipe it prints one frame after
// the other. Ends cleanly on Ctrl-C (SIGINT) or SIGTERM, when the bus
// disappears, or after `count` frames.
#pragma once

#include <chrono>
#include <string>

namespace shmbusctl {

struct watch_options {
  std::string bus;
  std::chrono::milliseconds interval{1000};
  /// Frames to show; 0: until stopped.
  unsigned long count = 0;
};

/// Runs the view on stdout; returns the exit code (0: stopped or the bus
/// went away, 1: the bus cannot be read).
/// @warning Blocks the caller until it ends.
int watch(const watch_options& opts);

/// "500ms", "2s": the interval; nullopt-like zero for anything else.
std::chrono::milliseconds parse_interval(const std::string& text);

} // namespace shmbusctl
