// Every default time and limit of the process layer, in one place.
#pragma once

#include <chrono>

namespace shmbus::process::defaults {

/// Longest wait for a SIGKILLed process to be reaped in the paths that must
/// not leave a zombie (an os_process dropped while its process runs, the
/// process_watcher's clean-up at exit, a launcher's orphans). A SIGKILLed
/// process ends at once unless it is stuck in the kernel.
constexpr std::chrono::nanoseconds reap_timeout = std::chrono::seconds{5};

} // namespace shmbus::process::defaults
