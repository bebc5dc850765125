#include "liveness_watcher.hpp"

#include <cerrno>
#include <csignal>
#include <system_error>

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "process_info.hpp"

namespace shmbus::transport {

namespace {

constexpr uint64_t stop_tag = ~uint64_t{0};

/// Exits handled per wake-up; more wait for the next epoll_wait.
constexpr int max_events_per_wait = 16;

bool is_present(node_state s) {
  return s == node_state::alive || s == node_state::leaving
         || s == node_state::lost;
}

} // namespace

liveness_watcher::liveness_watcher(inbox_consumer& events, const segment& seg,
                                   uint32_t own_slot, uint32_t own_incarnation,
                                   bool kill_hung_peers)
  : events_(events),
    seg_(seg),
    own_slot_(own_slot),
    own_incarnation_(own_incarnation),
    kill_hung_peers_(kill_hung_peers),
    peers_(seg.node_slots()) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd_ < 0 || stop_fd_ < 0)
    throw std::system_error(errno, std::generic_category(),
                            "cannot create the liveness thread's descriptors");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = stop_tag;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev);
}

liveness_watcher::~liveness_watcher() {
  stop();
  std::lock_guard<std::mutex> guard(mutex_);
  for (uint32_t i = 0; i < peers_.size(); ++i)
    forget_locked(i);
  ::close(epoll_fd_);
  ::close(stop_fd_);
}

void liveness_watcher::start() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    tick(); // watch the peers present now before start() returns
  }
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "shmbus.watch");
    run();
  });
}

void liveness_watcher::stop() noexcept {
  if (!thread_.joinable())
    return;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof(one));
  thread_.join();
}

void liveness_watcher::watch(uint32_t slot, uint32_t incarnation) {
  if (slot >= peers_.size() || slot == own_slot_)
    return;
  std::lock_guard<std::mutex> guard(mutex_);
  auto& p = peers_[slot];
  if (p.incarnation == incarnation)
    return;
  auto word = seg_.slot(slot).state.load(std::memory_order_acquire);
  if (incarnation_of(word) == incarnation && is_present(state_of(word))) {
    watch_locked(slot, word);
    return;
  }
  // Already gone (or replaced): report it lost right away.
  forget_locked(slot);
  p.incarnation = incarnation;
  p.lost = false;
  events_.post({inbox_event::kind::joined, slot, incarnation});
  auto cause = static_cast<loss_cause>(
    seg_.slot(slot).loss_cause.load(std::memory_order_acquire));
  report_locked(slot, incarnation_of(word) == incarnation && cause != loss_cause::none
                        ? cause
                        : loss_cause::vanished,
                seg_.slot(slot).loss_detail.load(std::memory_order_acquire));
}

void liveness_watcher::run() {
  using namespace std::chrono;
  auto interval = duration_cast<milliseconds>(seg_.timing().heartbeat_interval);
  auto next_tick = detail::monotonic_ns() + duration_cast<nanoseconds>(interval).count();
  epoll_event events[max_events_per_wait];
  for (;;) {
    auto now = detail::monotonic_ns();
    auto wait_ms = static_cast<int>(std::max<int64_t>(0, (next_tick - now + 999'999) / 1'000'000));
    auto n = ::epoll_wait(epoll_fd_, events, max_events_per_wait, wait_ms);
    std::lock_guard<std::mutex> guard(mutex_);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == stop_tag)
        return;
      on_exit_locked(static_cast<uint32_t>(events[i].data.u64));
    }
    now = detail::monotonic_ns();
    if (now >= next_tick) {
      tick();
      next_tick += duration_cast<nanoseconds>(interval).count();
      if (next_tick <= now) // we were starved; do not fire a burst of ticks
        next_tick = now + duration_cast<nanoseconds>(interval).count();
    }
  }
}

void liveness_watcher::tick() {
  auto now = detail::monotonic_ns();
  auto& self = seg_.slot(own_slot_);
  self.heartbeat_ns.store(now, std::memory_order_release);
  auto own = self.state.load(std::memory_order_acquire);
  if (!evicted_ && own != make_state_word(node_state::alive, own_incarnation_)
      && own != make_state_word(node_state::leaving, own_incarnation_)) {
    evicted_ = true;
    events_.post({inbox_event::kind::lost, own_slot_, own_incarnation_,
                       loss_cause::evicted, 0});
  }
  for (uint32_t i = 0; i < peers_.size(); ++i) {
    if (i == own_slot_)
      continue;
    auto word = seg_.slot(i).state.load(std::memory_order_acquire);
    auto& p = peers_[i];
    if (p.incarnation != 0 && p.incarnation != incarnation_of(word) && !p.lost) {
      // Replaced between two ticks without our pidfd firing: it is gone.
      report_locked(i, loss_cause::vanished, 0);
      forget_locked(i);
    }
    if (is_present(state_of(word)) && p.incarnation != incarnation_of(word))
      watch_locked(i, word);
    if (p.incarnation == incarnation_of(word) && !p.lost) {
      if (state_of(word) == node_state::dead) {
        auto cause = static_cast<loss_cause>(
          seg_.slot(i).loss_cause.load(std::memory_order_acquire));
        report_locked(i, cause == loss_cause::none ? loss_cause::vanished : cause,
                      seg_.slot(i).loss_detail.load(std::memory_order_acquire));
        forget_locked(i);
      } else {
        check_heartbeat_locked(i, now);
      }
    }
  }
}

void liveness_watcher::watch_locked(uint32_t slot, uint64_t word) {
  forget_locked(slot);
  auto& p = peers_[slot];
  auto& s = seg_.slot(slot);
  p.incarnation = incarnation_of(word);
  p.lost = false;
  p.pid = s.pid.load(std::memory_order_acquire);
  auto start = s.process_start.load(std::memory_order_acquire);
  events_.post({inbox_event::kind::joined, slot, p.incarnation});
  p.pidfd = detail::open_pidfd(p.pid);
  p.proc_dir = p.pidfd >= 0 ? detail::open_proc_dir(p.pid) : -1;
  // The pid must still belong to the process that wrote the slot: same
  // start time, and the slot unchanged after we opened the descriptors.
  bool same_process = p.proc_dir >= 0
                      && detail::process_start_time(p.proc_dir) == start
                      && s.state.load(std::memory_order_acquire) == word;
  if (!same_process) {
    mark_dead_locked(slot, loss_cause::vanished, 0);
    report_locked(slot, loss_cause::vanished, 0);
    forget_locked(slot);
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = slot;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, p.pidfd, &ev);
}

void liveness_watcher::on_exit_locked(uint32_t slot) {
  if (slot >= peers_.size())
    return;
  auto& p = peers_[slot];
  if (p.incarnation == 0) {
    forget_locked(slot);
    return;
  }
  auto& s = seg_.slot(slot);
  auto word = s.state.load(std::memory_order_acquire);
  auto recorded = static_cast<loss_cause>(s.loss_cause.load(std::memory_order_acquire));
  auto cause = loss_cause::vanished;
  int32_t detail = 0;
  bool ours = incarnation_of(word) == p.incarnation;
  if (ours && (state_of(word) == node_state::leaving
               || (state_of(word) == node_state::dead && recorded == loss_cause::left))) {
    cause = loss_cause::left;
  } else if (ours && (state_of(word) == node_state::lost
                      || (state_of(word) == node_state::dead
                          && recorded == loss_cause::heartbeat_timeout))) {
    cause = loss_cause::heartbeat_timeout;
    detail = s.loss_detail.load(std::memory_order_acquire);
  } else if (auto status = detail::zombie_exit_status(p.proc_dir)) {
    cause = status->signaled ? loss_cause::killed : loss_cause::exited;
    detail = status->value;
  }
  mark_dead_locked(slot, cause, detail);
  report_locked(slot, cause, detail);
  forget_locked(slot);
}

void liveness_watcher::check_heartbeat_locked(uint32_t slot, int64_t now) {
  auto& s = seg_.slot(slot);
  auto last = s.heartbeat_ns.load(std::memory_order_acquire);
  auto silent = now - last;
  if (silent <= seg_.timing().heartbeat_timeout.count())
    return;
  auto& p = peers_[slot];
  auto alive = make_state_word(node_state::alive, p.incarnation);
  auto lost = make_state_word(node_state::lost, p.incarnation);
  auto expected = alive;
  if (s.state.compare_exchange_strong(expected, lost, std::memory_order_acq_rel)) {
    auto silent_ms = static_cast<int32_t>(silent / 1'000'000);
    s.loss_cause.store(static_cast<uint32_t>(loss_cause::heartbeat_timeout),
                       std::memory_order_relaxed);
    s.loss_detail.store(silent_ms, std::memory_order_release);
    // Fence it off: only a dead producer's unfinished records may be
    // skipped, and its supervisor restarts it once it is gone. The pidfd
    // stays watched and marks the slot dead when the kill lands.
    if (kill_hung_peers_ && p.pidfd >= 0)
      detail::signal_pidfd(p.pidfd, SIGKILL);
    report_locked(slot, loss_cause::heartbeat_timeout, silent_ms);
  } else if (expected == lost) {
    report_locked(slot, loss_cause::heartbeat_timeout,
                  s.loss_detail.load(std::memory_order_acquire));
  }
}

void liveness_watcher::mark_dead_locked(uint32_t slot, loss_cause cause,
                                        int32_t detail) noexcept {
  auto& s = seg_.slot(slot);
  auto incarnation = peers_[slot].incarnation;
  for (auto from : {node_state::alive, node_state::leaving, node_state::lost}) {
    auto expected = make_state_word(from, incarnation);
    if (s.state.compare_exchange_strong(
          expected, make_state_word(node_state::dead, incarnation),
          std::memory_order_acq_rel)) {
      // A lost node already has its cause recorded by whoever declared it.
      if (from != node_state::lost) {
        s.loss_cause.store(static_cast<uint32_t>(cause), std::memory_order_relaxed);
        s.loss_detail.store(detail, std::memory_order_release);
      }
      seg_.header().membership_epoch.fetch_add(1, std::memory_order_release);
      return;
    }
  }
}

void liveness_watcher::report_locked(uint32_t slot, loss_cause cause,
                                     int32_t detail) {
  auto& p = peers_[slot];
  if (p.lost)
    return;
  p.lost = true;
  events_.post({inbox_event::kind::lost, slot, p.incarnation, cause, detail});
}

void liveness_watcher::forget_locked(uint32_t slot) noexcept {
  auto& p = peers_[slot];
  if (p.pidfd >= 0) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, p.pidfd, nullptr);
    ::close(p.pidfd);
  }
  if (p.proc_dir >= 0)
    ::close(p.proc_dir);
  p.pidfd = -1;
  p.proc_dir = -1;
  p.pid = 0;
}

} // namespace shmbus::transport
