#include "liveness_watcher.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <system_error>
#include <utility>

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace shmbus::transport {

namespace {

constexpr uint64_t stop_tag = ~uint64_t{0};
constexpr uint64_t request_tag = ~uint64_t{0} - 1;

/// Exits handled per wake-up; more wait for the next epoll_wait.
constexpr int max_events_per_wait = 16;

bool is_present(node_state s) {
  return s == node_state::alive || s == node_state::leaving
         || s == node_state::lost;
}

int32_t to_ms(int64_t ns) {
  return static_cast<int32_t>(std::min<int64_t>(ns / 1'000'000, INT32_MAX));
}

std::string hex(uint64_t x) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016llx", static_cast<unsigned long long>(x));
  return buf;
}

/// Counters only this node's liveness thread writes.
void bump(std::atomic<uint64_t>& counter) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

} // namespace

liveness_watcher::liveness_watcher(inbox_consumer& consumer, const segment& seg,
                                   bus_lock& lock, settings config)
  : consumer_(consumer),
    seg_(seg),
    lock_(lock),
    config_(std::move(config)),
    prover_(lock),
    guard_(seg.slot(config_.own_slot), config_.own_incarnation),
    interval_ns_(seg.timing().heartbeat_interval.count()),
    timeout_ns_(seg.timing().heartbeat_timeout.count()),
    peers_(seg.node_slots()),
    watching_(new std::atomic<uint32_t>[seg.node_slots()]),
    requests_(seg.node_slots(), 0) {
  for (uint32_t i = 0; i < seg.node_slots(); ++i)
    watching_[i].store(0, std::memory_order_relaxed);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  request_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd_ < 0 || stop_fd_ < 0 || request_fd_ < 0)
    throw std::system_error(errno, std::generic_category(),
                            "cannot create the liveness thread's descriptors");
  for (auto [fd, tag] : {std::pair{stop_fd_, stop_tag}, std::pair{request_fd_, request_tag}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
}

liveness_watcher::~liveness_watcher() {
  stop();
  for (uint32_t i = 0; i < peers_.size(); ++i)
    forget(i);
  ::close(epoll_fd_);
  ::close(stop_fd_);
  ::close(request_fd_);
}

void liveness_watcher::start() {
  // Incarnations that ended before we joined are history, not news.
  for (uint32_t i = 0; i < peers_.size(); ++i) {
    auto word = seg_.slot(i).state.load(std::memory_order_acquire);
    if (i != config_.own_slot && state_of(word) == node_state::dead) {
      peers_[i].incarnation = incarnation_of(word);
      peers_[i].lost = true;
    }
  }
  last_tick_ = detail::monotonic_ns();
  tick(); // watch the peers present now before start() returns
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
  if (slot >= peers_.size() || slot == config_.own_slot || incarnation == 0)
    return;
  // Pairs with the release store in watch_slot().
  if (watching_[slot].load(std::memory_order_acquire) == incarnation)
    return;
  {
    std::lock_guard<std::mutex> guard(requests_mutex_);
    requests_[slot] = incarnation;
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(request_fd_, &one, sizeof(one));
}

// -- the thread ---------------------------------------------------------------

void liveness_watcher::run() {
  auto next_tick = detail::monotonic_ns() + interval_ns_;
  epoll_event events[max_events_per_wait];
  for (;;) {
    auto now = detail::monotonic_ns();
    auto wait_ms = static_cast<int>(std::max<int64_t>(0, (next_tick - now + 999'999) / 1'000'000));
    auto n = ::epoll_wait(epoll_fd_, events, max_events_per_wait, wait_ms);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == stop_tag)
        return;
      if (events[i].data.u64 == request_tag)
        take_requests();
      else
        on_exit(static_cast<uint32_t>(events[i].data.u64));
    }
    now = detail::monotonic_ns();
    if (now >= next_tick) {
      tick();
      next_tick += interval_ns_;
      if (next_tick <= now) // we were starved; do not fire a burst of ticks
        next_tick = now + interval_ns_;
    }
  }
}

void liveness_watcher::tick() {
  // Time this thread saw pass since its last tick, at most two intervals:
  // verdicts rest on silences observed while this thread ran regularly, so
  // a machine that froze everyone (a stopped VM, a starved process) does not
  // make a peer, or this node, look stuck when it runs again.
  auto now = detail::monotonic_ns();
  auto observed = std::min(now - last_tick_, 2 * interval_ns_);
  guard_own_slot(observed);
  for (uint32_t i = 0; i < peers_.size(); ++i) {
    if (i == config_.own_slot)
      continue;
    auto& p = peers_[i];
    if (p.incarnation != 0 && !p.lost) {
      check_peer(i, now, observed);
      if (!p.lost)
        continue;
    }
    // Nothing watched here (or it is gone): a new member shows in the table.
    // watch_slot() asks the kernel whether its incarnation lives; one that
    // died before we looked (or never lived: garbage) is reported joined,
    // then lost, and its slot marked dead, so nobody sends into a dead inbox.
    // A member can also join and die between two ticks, and a peer that saw
    // it mark its slot dead: it is reported all the same (the server drops
    // its buffer references on that report), once the kernel says that its
    // slot is vacant: a "dead" word over a live member (whose slot lock is
    // held) is another process's scribble, and its owner puts it back.
    auto word = seg_.slot(i).state.load(std::memory_order_acquire);
    auto incarnation = incarnation_of(word);
    if (incarnation == 0 || incarnation == p.incarnation)
      continue;
    if (is_present(state_of(word))) {
      watch_slot(i, incarnation);
    } else if (state_of(word) == node_state::dead && !prover_.slot_held(i)) {
      forget(i);
      p = watched_peer{};
      p.incarnation = incarnation;
      p.lost = true;
      watching_[i].store(incarnation, std::memory_order_release);
      report_unwatched_end(i, incarnation);
    }
  }
  last_tick_ = detail::monotonic_ns();
}

void liveness_watcher::take_requests() {
  uint64_t count;
  [[maybe_unused]] auto n = ::read(request_fd_, &count, sizeof(count));
  std::vector<std::pair<uint32_t, uint32_t>> todo;
  {
    std::lock_guard<std::mutex> guard(requests_mutex_);
    for (uint32_t i = 0; i < requests_.size(); ++i)
      if (requests_[i] != 0)
        todo.emplace_back(i, std::exchange(requests_[i], 0));
  }
  for (auto [slot, incarnation] : todo)
    on_request(slot, incarnation);
}

void liveness_watcher::on_request(uint32_t slot, uint32_t incarnation) {
  auto& p = peers_[slot];
  if (p.incarnation == incarnation)
    return;
  if (prover_.incarnation_held(slot, incarnation)) {
    // A newer member than the one we watch: that one must have ended.
    if (p.incarnation != 0 && !p.lost)
      check_peer(slot, detail::monotonic_ns(), 0);
    if (p.lost || p.incarnation == 0)
      watch_slot(slot, incarnation);
    return;
  }
  // Gone already (or never alive): the consumer announced it from a record,
  // so it gets its loss, without disturbing what we watch in that slot.
  report_unwatched_end(slot, incarnation);
}

void liveness_watcher::report_unwatched_end(uint32_t slot, uint32_t incarnation) {
  auto& s = seg_.slot(slot);
  auto word = s.state.load(std::memory_order_acquire);
  auto cause = loss_cause::vanished;
  int32_t detail = 0;
  if (incarnation_of(word) == incarnation && state_of(word) == node_state::dead) {
    auto recorded = static_cast<loss_cause>(s.loss_cause.load(std::memory_order_acquire));
    if (recorded != loss_cause::none && recorded <= loss_cause::stalled) {
      cause = recorded;
      detail = s.loss_detail.load(std::memory_order_acquire);
    }
  }
  consumer_.post({inbox_event::kind::joined, slot, incarnation});
  consumer_.post({inbox_event::kind::lost, slot, incarnation, cause, detail});
}

// -- starting to watch a peer ---------------------------------------------------

void liveness_watcher::watch_slot(uint32_t slot, uint32_t incarnation) {
  forget(slot);
  auto& p = peers_[slot];
  p = watched_peer{};
  p.incarnation = incarnation;
  p.last_word = seg_.slot(slot).heartbeat_ns.load(std::memory_order_acquire);
  p.last_change = detail::monotonic_ns();
  // Pairs with the acquire load in watch().
  watching_[slot].store(incarnation, std::memory_order_release);
  // Proven before it is announced: whoever sees the join and then kills the
  // peer gets its exit status from the pidfd.
  auto now = detail::monotonic_ns();
  if (prover_.incarnation_held(slot, incarnation))
    prove(slot, now);
  // Unproven (the proof raced an exit, or the kernel did not tell): follow
  // the process the slot names for its exit, so a kill -9 is still seen at
  // once; on_exit believes it only once the incarnation's lock is gone.
  if (!peers_[slot].proven)
    follow_claimed_exit(slot);
  consumer_.post({inbox_event::kind::joined, slot, incarnation});
  if (!prover_.incarnation_held(slot, incarnation))
    incarnation_ended(slot, now); // gone before (or while) we looked
}

void liveness_watcher::prove(uint32_t slot, int64_t now) {
  auto& p = peers_[slot];
  auto claimed = static_cast<pid_t>(seg_.slot(slot).pid.load(std::memory_order_acquire));
  // A search reads every process's fdinfo (milliseconds): at most one per
  // slot per timeout, and one per tick in all.
  bool search = now >= p.next_search && now >= next_search_;
  auto result = prover_.prove(slot, claimed, search);
  p.claimed_pid = claimed;
  if (search) {
    p.next_search = now + timeout_ns_;
    next_search_ = now + interval_ns_;
  }
  switch (result.status) {
    case proof_status::proven:
      if (result.member.incarnation != 0 && result.member.incarnation != p.incarnation) {
        // The member lives as another incarnation than the one we watch:
        // ours is gone (checked on the next tick by its lock).
        result.member.close();
        return;
      }
      forget(slot); // drops a process followed for its exit only
      p.member = result.member;
      p.proven = true;
      if (p.member.pid != claimed) {
        bump(seg_.slot(config_.own_slot).false_identities);
        post_problem(slot, problem_kind::false_identity,
                     "slot " + std::to_string(slot) + " of bus '" + seg_.bus()
                       + "' names pid " + std::to_string(claimed)
                       + ", which does not hold the slot's lock; its member is pid "
                       + std::to_string(p.member.pid)
                       + " (the kernel says so): the node table was written by another "
                         "process; pid "
                       + std::to_string(claimed) + " is not watched or signalled");
      }
      {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = slot;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, p.member.pidfd, &ev);
      }
      return;
    case proof_status::lie:
      bump(seg_.slot(config_.own_slot).false_identities);
      post_problem(slot, problem_kind::false_identity,
                   "slot " + std::to_string(slot) + " of bus '" + seg_.bus() + "' names pid "
                     + std::to_string(claimed)
                     + ", which does not hold the slot's lock although some process "
                       "does: the node table was written by another process; pid "
                     + std::to_string(claimed)
                     + " is never signalled, the slot is watched through its lock");
      return;
    case proof_status::vacant:
    case proof_status::unknown:
      // Vacant: its lock went meanwhile, the next tick sees the incarnation
      // end. Unknown: the kernel does not tell; lock and heartbeat watch it.
      return;
  }
}

// -- watching a peer -------------------------------------------------------------

void liveness_watcher::check_peer(uint32_t slot, int64_t now, int64_t observed) {
  auto& p = peers_[slot];
  if (!prover_.incarnation_held(slot, p.incarnation)) {
    incarnation_ended(slot, now);
    return;
  }
  p.ended_at = 0;
  if (!p.proven) {
    // Retry the proof when the pid word changed (its owner repairs it) or a
    // search for the real holder is due.
    auto claimed = static_cast<pid_t>(seg_.slot(slot).pid.load(std::memory_order_acquire));
    if (claimed != p.claimed_pid || now >= p.next_search)
      prove(slot, now);
  }
  check_heartbeat(slot, now, observed);
}

void liveness_watcher::incarnation_ended(uint32_t slot, int64_t now) {
  auto& p = peers_[slot];
  if (p.member.pidfd >= 0 && detail::pidfd_exited(p.member.pidfd)) {
    on_exit(slot);
    return;
  }
  auto& s = seg_.slot(slot);
  auto word = s.state.load(std::memory_order_acquire);
  auto recorded = static_cast<loss_cause>(s.loss_cause.load(std::memory_order_acquire));
  bool ours = incarnation_of(word) == p.incarnation;
  bool left = ours
              && (state_of(word) == node_state::leaving
                  || (state_of(word) == node_state::dead && recorded == loss_cause::left));
  if (!left && p.ended_at == 0 && p.member.pidfd >= 0) {
    // A process that exits drops its locks a moment before its pidfd turns
    // readable: wait for the pidfd (on_exit), at most until the next tick.
    p.ended_at = now;
    return;
  }
  auto cause = left ? loss_cause::left : loss_cause::vanished;
  int32_t detail = 0;
  if (!left && p.member.proc_dir >= 0)
    if (auto status = detail::zombie_exit_status(p.member.proc_dir)) {
      cause = status->signaled ? loss_cause::killed : loss_cause::exited;
      detail = status->value;
    }
  mark_dead(slot, p.incarnation, cause, detail);
  post_loss(slot, cause, detail);
  forget(slot);
}

void liveness_watcher::follow_claimed_exit(uint32_t slot) {
  auto& s = seg_.slot(slot);
  auto& m = peers_[slot].member;
  if (m.pidfd >= 0)
    return;
  auto pid = static_cast<pid_t>(s.pid.load(std::memory_order_acquire));
  if (pid <= 0)
    return;
  m.pidfd = detail::open_pidfd(pid);
  if (m.pidfd < 0)
    return;
  m.pid = pid;
  m.proc_dir = detail::open_proc_dir(pid);
  if (m.proc_dir < 0
      || detail::process_start_time(m.proc_dir)
           != s.process_start.load(std::memory_order_acquire)) {
    m.close();
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = slot;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, m.pidfd, &ev);
}

void liveness_watcher::on_exit(uint32_t slot) {
  if (slot >= peers_.size())
    return;
  auto& p = peers_[slot];
  if (p.incarnation == 0 || p.member.pidfd < 0) {
    forget(slot);
    return;
  }
  if (!p.proven && !p.lost && prover_.incarnation_held(slot, p.incarnation)) {
    // The process the slot named exited, but the incarnation lives on (its
    // locks go before an exit completes): it was not the member.
    forget(slot);
    return;
  }
  auto& s = seg_.slot(slot);
  auto word = s.state.load(std::memory_order_acquire);
  auto recorded = static_cast<loss_cause>(s.loss_cause.load(std::memory_order_acquire));
  bool ours = incarnation_of(word) == p.incarnation;
  bool declared_hung
    = ours
      && (state_of(word) == node_state::lost
          || (state_of(word) == node_state::dead
              && (recorded == loss_cause::heartbeat_timeout || recorded == loss_cause::stalled)));
  bool said_goodbye
    = ours
      && (state_of(word) == node_state::leaving
          || (state_of(word) == node_state::dead && recorded == loss_cause::left));
  // The kernel's exit status first; the table only explains a SIGKILL that
  // a peer sent for a hang, or a clean exit after leaving.
  auto status = detail::zombie_exit_status(p.member.proc_dir);
  auto cause = loss_cause::vanished;
  int32_t detail = 0;
  if (declared_hung && (!status || (status->signaled && status->value == SIGKILL))) {
    cause = recorded == loss_cause::stalled ? loss_cause::stalled : loss_cause::heartbeat_timeout;
    detail = s.loss_detail.load(std::memory_order_acquire);
  } else if (said_goodbye && (!status || !status->signaled)) {
    cause = loss_cause::left;
  } else if (status) {
    cause = status->signaled ? loss_cause::killed : loss_cause::exited;
    detail = status->value;
  }
  mark_dead(slot, p.incarnation, cause, detail);
  post_loss(slot, cause, detail);
  forget(slot);
}

void liveness_watcher::check_heartbeat(uint32_t slot, int64_t now, int64_t observed) {
  auto& p = peers_[slot];
  auto& s = seg_.slot(slot);
  auto word = s.heartbeat_ns.load(std::memory_order_acquire);
  if (word != p.last_word) {
    p.last_word = word;
    p.last_change = now;
  }
  // Silent since we last saw the word move, or since the time it holds if
  // that is earlier (a word frozen by another process, or set back, shows
  // here too: the kernel then tells the truth).
  auto silent = now - p.last_change;
  if (word <= now)
    silent = std::max(silent, now - word);
  // A peer that declared itself stuck holds its stall lock: no need to wait.
  bool self_declared = state_of(s.state.load(std::memory_order_acquire)) == node_state::lost
                       && p.proven && prover_.stall_held(slot)
                       && prover_.declared_stall(p.member, slot).value_or(false);
  if (self_declared) {
    declare_hung(slot, loss_cause::stalled, silent, true);
    return;
  }
  if (silent <= timeout_ns_ / 2) {
    p.suspect = false;
    return;
  }
  if (!p.suspect) {
    p.suspect = true;
    take_baseline(p, slot);
  } else {
    p.window_ns += observed;
  }
  // Progress needs a window in which a parked consumer wakes at least once
  // (a park lasts at most one interval, less than half the timeout).
  if (silent <= timeout_ns_ || p.window_ns < timeout_ns_ / 2)
    return;
  if (!p.proven) {
    // Nobody proven to ask the kernel about: the heartbeat decides, and an
    // unproven process is never signalled.
    declare_hung(slot, loss_cause::heartbeat_timeout, silent, false);
    return;
  }
  switch (judge(p, slot)) {
    case verdict::hung:
      declare_hung(slot, loss_cause::heartbeat_timeout, silent, true);
      return;
    case verdict::stalled:
      declare_hung(slot, loss_cause::stalled, silent, true);
      return;
    case verdict::unknown:
      declare_hung(slot, loss_cause::heartbeat_timeout, silent, false);
      return;
    case verdict::progressing:
      // Its own liveness thread declares a consumer that is stuck while its
      // thread runs (an actor spinning) within a tick: wait for that.
      if (silent <= timeout_ns_ + 2 * interval_ns_)
        return;
      bump(seg_.slot(config_.own_slot).stale_heartbeats);
      post_problem(slot, problem_kind::stale_heartbeat,
                   "the heartbeat word of " + describe(slot) + " stood still for "
                     + std::to_string(to_ms(silent))
                     + " ms while its bus thread runs (the kernel shows it progressing): "
                       "was the word tampered with? The node is not declared lost");
      take_baseline(p, slot); // judge the next silent period on its own
      return;
  }
}

void liveness_watcher::take_baseline(watched_peer& p, uint32_t slot) {
  p.window_ns = 0;
  p.baseline_tid = seg_.slot(slot).consumer_tid.load(std::memory_order_acquire);
  p.baseline_thread = p.proven ? detail::task_progress(p.member.proc_dir, p.baseline_tid)
                               : std::nullopt;
  p.baseline_process = p.proven ? detail::process_progress(p.member.proc_dir) : std::nullopt;
}

liveness_watcher::verdict liveness_watcher::judge(watched_peer& p, uint32_t slot) {
  if (auto state = detail::process_state(p.member.proc_dir); state && (*state == 'T' || *state == 't'))
    return verdict::hung; // stopped (SIGSTOP) or stopped by a tracer
  if (prover_.stall_held(slot) && prover_.declared_stall(p.member, slot).value_or(false))
    return verdict::stalled;
  auto tid = seg_.slot(slot).consumer_tid.load(std::memory_order_acquire);
  if (tid == p.baseline_tid && p.baseline_thread) {
    // The thread the peer says consumes, verified to be one of its threads.
    if (auto progress = detail::task_progress(p.member.proc_dir, tid))
      return *progress == *p.baseline_thread ? verdict::hung : verdict::progressing;
  }
  // The consumer moved to another thread, or its id word is no thread of
  // the peer: the whole process must have stood still.
  auto whole = detail::process_progress(p.member.proc_dir);
  if (!whole || !p.baseline_process)
    return verdict::unknown;
  return *whole == *p.baseline_process ? verdict::hung : verdict::progressing;
}

void liveness_watcher::declare_hung(uint32_t slot, loss_cause cause, int64_t silent_ns,
                                    bool may_signal) {
  auto& p = peers_[slot];
  auto& s = seg_.slot(slot);
  auto silent_ms = to_ms(silent_ns);
  auto alive = make_state_word(node_state::alive, p.incarnation);
  if (s.state.compare_exchange_strong(alive, make_state_word(node_state::lost, p.incarnation),
                                      std::memory_order_acq_rel)) {
    s.loss_cause.store(static_cast<uint32_t>(cause), std::memory_order_relaxed);
    s.loss_detail.store(silent_ms, std::memory_order_release);
    seg_.header().membership_epoch.fetch_add(1, std::memory_order_release);
  }
  // Fence it off: only a dead producer's unfinished records may be skipped,
  // and its supervisor restarts it once it is gone. The pidfd stays watched
  // and marks the slot dead when the kill lands.
  if (may_signal && config_.kill_hung_peers && p.proven)
    detail::signal_pidfd(p.member.pidfd, SIGKILL);
  post_loss(slot, cause, silent_ms);
}

// -- the own slot ------------------------------------------------------------------

void liveness_watcher::guard_own_slot(int64_t observed) {
  auto last_round = consumer_.last_round_ns();
  auto now = detail::monotonic_ns();
  own_quiet_ns_ = last_round != prev_round_ ? 0 : own_quiet_ns_ + observed;
  // Silences long enough that a peer may rightly have declared us lost: the
  // consumer's (between two stamps, or now), or this thread's own (the
  // process was stopped).
  auto silent = last_round == 0 ? 0 : now - last_round;
  if (prev_round_ != 0 && last_round - prev_round_ > timeout_ns_ / 2)
    last_long_gap_ = now;
  if (silent > timeout_ns_ / 2 || now - last_tick_ > timeout_ns_ / 2)
    last_long_gap_ = now;
  prev_round_ = last_round;
  bool may_be_lost = last_long_gap_ != 0 && now - last_long_gap_ <= 2 * timeout_ns_;
  if (last_round != 0 && silent > timeout_ns_ && own_quiet_ns_ > timeout_ns_
      && !stall_declared_ && !leaving_.load(std::memory_order_acquire))
    declare_stall(silent);
  uint64_t seen = 0;
  switch (guard_.check_state(may_be_lost, seen)) {
    case own_slot_guard::state_check::ok:
      break;
    case own_slot_guard::state_check::evicted:
      if (!evicted_) {
        evicted_ = true;
        if (config_.on_evicted)
          config_.on_evicted();
        consumer_.post({inbox_event::kind::lost, config_.own_slot, config_.own_incarnation,
                        loss_cause::evicted, 0});
      }
      break;
    case own_slot_guard::state_check::restored:
      post_problem(config_.own_slot, problem_kind::own_slot,
                   "the state word of " + config_.own_description + " was changed to "
                     + hex(seen)
                     + " by another process; restored (a live member is never evicted "
                       "by what its slot says)");
      break;
  }
  auto restored = guard_.restore_identity();
  if (!restored.empty()) {
    std::string fields;
    for (auto& f : restored)
      fields += (fields.empty() ? "" : ", ") + f;
    post_problem(config_.own_slot, problem_kind::own_slot,
                 "words of the slot of " + config_.own_description
                   + " were changed by another process (" + fields + "); restored");
  }
  if (guard_.restore_heartbeat(last_round, detail::monotonic_ns()))
    post_problem(config_.own_slot, problem_kind::own_heartbeat,
                 "the heartbeat word of " + config_.own_description
                   + " was set back by another process; restored (peers ask the kernel "
                     "before they act on a heartbeat)");
  auto tid = consumer_.consumer_tid();
  if (guard_.restore_consumer_tid(tid, prev_tid_))
    post_problem(config_.own_slot, problem_kind::own_slot,
                 "the consumer thread id of " + config_.own_description
                   + " was changed by another process; restored");
  prev_tid_ = tid;
}

void liveness_watcher::declare_stall(int64_t silent_ns) {
  stall_declared_ = true;
  auto& s = seg_.slot(config_.own_slot);
  auto silent_ms = to_ms(silent_ns);
  // The stall lock first: peers believe the declaration only from the
  // kernel (the state word below is for tools and for peers of this build).
  lock_.try_lock(bus_lock::stall_byte(config_.own_slot), bus_lock::mode::exclusive);
  guard_.declared_lost();
  for (auto from : {node_state::alive, node_state::leaving}) {
    auto expected = make_state_word(from, config_.own_incarnation);
    if (s.state.compare_exchange_strong(
          expected, make_state_word(node_state::lost, config_.own_incarnation),
          std::memory_order_acq_rel)) {
      s.loss_cause.store(static_cast<uint32_t>(loss_cause::stalled), std::memory_order_relaxed);
      s.loss_detail.store(silent_ms, std::memory_order_release);
      seg_.header().membership_epoch.fetch_add(1, std::memory_order_release);
      break;
    }
  }
  if (config_.on_evicted)
    config_.on_evicted();
  consumer_.post({inbox_event::kind::lost, config_.own_slot, config_.own_incarnation,
                  loss_cause::stalled, silent_ms});
  if (config_.on_stall)
    config_.on_stall(make_error(
      errc::timeout, "the bus thread of " + config_.own_description + " was stuck for "
                       + std::to_string(silent_ms)
                       + " ms (it consumed nothing for longer than the heartbeat timeout): "
                         "this node declared itself lost, its peers kill it"));
}

// -- bookkeeping -----------------------------------------------------------------

void liveness_watcher::mark_dead(uint32_t slot, uint32_t incarnation, loss_cause cause,
                                 int32_t detail) noexcept {
  auto& s = seg_.slot(slot);
  for (auto from : {node_state::alive, node_state::leaving, node_state::lost}) {
    auto expected = make_state_word(from, incarnation);
    if (s.state.compare_exchange_strong(expected,
                                        make_state_word(node_state::dead, incarnation),
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

void liveness_watcher::post_loss(uint32_t slot, loss_cause cause, int32_t detail) {
  auto& p = peers_[slot];
  if (p.lost)
    return;
  p.lost = true;
  consumer_.post({inbox_event::kind::lost, slot, p.incarnation, cause, detail});
}

void liveness_watcher::post_problem(uint32_t slot, problem_kind kind, std::string text) {
  auto& last = slot == config_.own_slot ? own_reports_[static_cast<size_t>(kind)]
                                        : peers_[slot].last_report[static_cast<size_t>(kind)];
  auto now = detail::monotonic_ns();
  if (last != 0 && now - last < timeout_ns_)
    return; // counted, reported at most once per timeout
  last = now;
  inbox_event e{inbox_event::kind::problem, slot, 0};
  e.problem = make_error(errc::table_tampered, std::move(text));
  consumer_.post(std::move(e));
}

void liveness_watcher::forget(uint32_t slot) noexcept {
  auto& p = peers_[slot];
  if (p.member.pidfd >= 0)
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, p.member.pidfd, nullptr);
  p.member.close();
  p.proven = false;
}

std::string liveness_watcher::describe(uint32_t slot) const {
  auto& p = peers_[slot];
  return "node '" + seg_.slot(slot).name.load() + "' (slot " + std::to_string(slot) + ", pid "
         + std::to_string(p.proven ? p.member.pid : p.claimed_pid) + ")";
}

} // namespace shmbus::transport
