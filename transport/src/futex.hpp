// futex(2) on words in shared memory. No FUTEX_PRIVATE_FLAG: waiter and waker
// may live in different processes that map the segment at different addresses.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace shmbus::transport::detail {

/// Sleeps while `*word == expected`, at most `timeout`. Returns early on a
/// wake-up, a changed value, a signal or the timeout: callers re-check.
void futex_wait(std::atomic<uint32_t>* word, uint32_t expected,
                std::chrono::nanoseconds timeout) noexcept;

/// Wakes up to `count` waiters sleeping on `word`.
void futex_wake(std::atomic<uint32_t>* word, int count) noexcept;

} // namespace shmbus::transport::detail
