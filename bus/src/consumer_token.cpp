#include "consumer_token.hpp"

#include <ctime>

namespace shmbus::bus {

namespace {

/// CLOCK_MONOTONIC_COARSE: a few ns per read (one scheduler tick, 1-10 ms,
/// of resolution is plenty next to a budget of milliseconds).
int64_t coarse_now_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

} // namespace

consumer_token::consumer_token(std::chrono::nanoseconds budget,
                               std::chrono::nanoseconds idle_period)
  : budget_ns_(budget.count()), idle_period_ns_(idle_period.count()) {
  for (auto& x : busy_since_)
    x.store(0, std::memory_order_relaxed);
}

int64_t consumer_token::enter_actor(int me) noexcept {
  auto now = coarse_now_ns();
  busy_since_[me].store(now, std::memory_order_relaxed);
  return now;
}

void consumer_token::leave_actor(int me) noexcept {
  busy_since_[me].store(0, std::memory_order_relaxed);
  // Only the consumer runs actors, one thread at a time: no locked add.
  runs_.store(runs_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

bool consumer_token::stand_by(int me, const std::atomic<bool>& stopping) {
  auto other = 1 - me;
  auto seen_runs = runs_.load(std::memory_order_relaxed);
  std::unique_lock<std::mutex> guard(mtx_);
  for (;;) {
    if (stopping.load(std::memory_order_acquire))
      return false;
    if (is_consumer(me))
      return true;
    auto since = busy_since_[other].load(std::memory_order_relaxed);
    auto now = coarse_now_ns();
    if (since != 0 && now - since >= budget_ns_) {
      auto expected = other;
      if (consumer_.compare_exchange_strong(expected, me, std::memory_order_acq_rel)) {
        handovers_.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
      continue;
    }
    // Actors are running (or ran since the last look): look again when
    // the current one would exceed its budget; otherwise rarely.
    auto runs = runs_.load(std::memory_order_relaxed);
    int64_t wait = idle_period_ns_;
    if (since != 0)
      wait = since + budget_ns_ - now;
    else if (runs != seen_runs)
      wait = budget_ns_;
    seen_runs = runs;
    cv_.wait_for(guard, std::chrono::nanoseconds{wait});
  }
}

void consumer_token::wake_all() {
  std::lock_guard<std::mutex> guard(mtx_);
  cv_.notify_all();
}

} // namespace shmbus::bus
