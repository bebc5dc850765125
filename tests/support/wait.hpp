// Waiting for a condition with a deadline: the only way tests synchronise.
#pragma once

#include <chrono>
#include <string>
#include <thread>

#include <unistd.h>

namespace shmbus::test {

/// Polls `pred` until it returns true or `deadline` passes; returns the last
/// result. Backs off from 50 us to 5 ms between polls so a waiting test costs
/// little CPU next to the processes it watches.
template <class Pred>
bool wait_until(Pred&& pred, std::chrono::milliseconds deadline) {
  using clock = std::chrono::steady_clock;
  auto until = clock::now() + deadline;
  auto pause = std::chrono::microseconds{50};
  for (;;) {
    if (pred())
      return true;
    if (clock::now() >= until)
      return pred();
    std::this_thread::sleep_for(pause); // a poll interval, not a synchronisation
    if (pause < std::chrono::milliseconds{5})
      pause *= 2;
  }
}

/// A bus name unique to this test run and tag: tests never share segments.
inline std::string unique_bus_name(const std::string& tag) {
  static int counter = 0;
  return "t" + std::to_string(::getpid()) + "-" + std::to_string(++counter)
         + "-" + tag;
}

} // namespace shmbus::test
