#include "shmbus/process/process_watcher.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "shmbus/log/logger.hpp"
#include "shmbus/process/defaults.hpp"
#include "shmbus/process/os_process.hpp"

namespace shmbus::process {

namespace {

/// A line longer than this is forwarded in pieces.
constexpr size_t max_line_length = 64 * 1024;

/// Upper bound of one poll: the loop re-checks its stop flag on its own.
constexpr int max_poll_ms = 1000;

} // namespace

struct process_watcher::stream {
  int fd = -1;
  int default_fd = STDOUT_FILENO;
  line_sink sink;
  std::string buffer;
};

struct process_watcher::entry {
  std::shared_ptr<os_process> proc; // reset once reaped
  std::string prefix;
  stream out;
  stream err;
};

process_watcher& process_watcher::instance() {
  // Never destroyed: while the process exits, threads of an actor system
  // may still run and restart modules. At exit, shutdown() kills and reaps
  // every child and refuses new ones.
  static process_watcher* watcher = [] {
    auto* result = new process_watcher;
    std::atexit([] { instance().shutdown(); });
    return result;
  }();
  return *watcher;
}

process_watcher::process_watcher() {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread{[this] {
    // Else it inherits the name of whichever thread started it first.
    ::pthread_setname_np(::pthread_self(), "shmbus.watcher");
    run();
  }};
}

process_watcher::~process_watcher() {
  shutdown();
  ::close(wake_fd_);
}

void process_watcher::shutdown() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_)
      return;
    closed_ = true;
  }
  stop_.store(true, std::memory_order_release);
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable())
    thread_.join();
  take_incoming();
  kill_all(defaults::reap_timeout);
}

void process_watcher::watch(std::shared_ptr<os_process> proc,
                            std::string prefix, line_sink out,
                            line_sink err) {
  auto e = std::make_unique<entry>();
  auto [out_fd, err_fd] = proc->take_output_fds();
  e->prefix = std::move(prefix);
  e->out = stream{out_fd, STDOUT_FILENO, std::move(out), {}};
  e->err = stream{err_fd, STDERR_FILENO, std::move(err), {}};
  for (auto* s : {&e->out, &e->err})
    if (s->fd >= 0)
      ::fcntl(s->fd, F_SETFL, ::fcntl(s->fd, F_GETFL) | O_NONBLOCK);
  {
    std::unique_lock<std::mutex> guard{mtx_};
    if (closed_) {
      // The process exits: nothing may start any more.
      guard.unlock();
      proc->kill_and_reap(defaults::reap_timeout);
      for (auto* s : {&e->out, &e->err})
        if (s->fd >= 0)
          ::close(s->fd);
      return;
    }
    live_.push_back(proc);
    e->proc = std::move(proc);
    incoming_.push_back(std::move(e));
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
}

size_t process_watcher::running() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return live_.size();
}

void process_watcher::run() {
  enum class source { wake, end, out, err };
  std::vector<pollfd> fds;
  std::vector<std::pair<entry*, source>> owners; // parallel to fds
  while (!stop_.load(std::memory_order_acquire)) {
    take_incoming();
    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    owners.assign(1, {nullptr, source::wake});
    bool must_poll_status = false;
    for (auto& e : entries_) {
      if (e->proc && e->proc->pidfd() >= 0) {
        fds.push_back({e->proc->pidfd(), POLLIN, 0});
        owners.emplace_back(e.get(), source::end);
      } else if (e->proc) {
        must_poll_status = true; // no pidfd (kernel < 5.3)
      }
      if (e->out.fd >= 0) {
        fds.push_back({e->out.fd, POLLIN, 0});
        owners.emplace_back(e.get(), source::out);
      }
      if (e->err.fd >= 0) {
        fds.push_back({e->err.fd, POLLIN, 0});
        owners.emplace_back(e.get(), source::err);
      }
    }
    auto rc = ::poll(fds.data(), fds.size(), must_poll_status ? 10 : max_poll_ms);
    if (rc < 0 && errno != EINTR)
      break;
    std::vector<entry*> ended;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0)
        continue;
      auto [e, src] = owners[k];
      switch (src) {
        case source::wake: {
          uint64_t count;
          [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof(count));
          break;
        }
        case source::end: ended.push_back(e); break;
        case source::out: drain(*e, e->out); break;
        case source::err: drain(*e, e->err); break;
      }
    }
    if (must_poll_status)
      for (auto& e : entries_)
        if (e->proc && e->proc->pidfd() < 0)
          ended.push_back(e.get());
    for (auto* e : ended) {
      // Read what is left first: a process's last lines come before its end.
      drain(*e, e->out);
      drain(*e, e->err);
      if (e->proc->try_reap()) {
        std::lock_guard<std::mutex> guard{mtx_};
        live_.erase(std::remove(live_.begin(), live_.end(), e->proc),
                    live_.end());
        e->proc.reset();
      }
    }
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                  [](auto& e) {
                                    return !e->proc && e->out.fd < 0
                                           && e->err.fd < 0;
                                  }),
                   entries_.end());
  }
}

void process_watcher::take_incoming() {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& e : incoming_)
    entries_.push_back(std::move(e));
  incoming_.clear();
}

void process_watcher::drain(entry& e, stream& s) {
  char chunk[8192];
  while (s.fd >= 0) {
    auto n = ::read(s.fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n <= 0) {
      // EOF (or an error): a last line without newline still goes out.
      ::close(s.fd);
      s.fd = -1;
      flush(e, s);
      return;
    }
    s.buffer.append(chunk, static_cast<size_t>(n));
    size_t start = 0;
    for (;;) {
      auto pos = s.buffer.find('\n', start);
      if (pos == std::string::npos)
        break;
      emit(e, s, std::string_view{s.buffer}.substr(start, pos - start));
      start = pos + 1;
    }
    s.buffer.erase(0, start);
    while (s.buffer.size() >= max_line_length) {
      emit(e, s, std::string_view{s.buffer}.substr(0, max_line_length));
      s.buffer.erase(0, max_line_length);
    }
  }
}

void process_watcher::flush(entry& e, stream& s) {
  if (!s.buffer.empty()) {
    emit(e, s, s.buffer);
    s.buffer.clear();
  }
}

void process_watcher::emit(const entry& e, const stream& s,
                           std::string_view line) {
  std::string text = e.prefix;
  text.append(line);
  if (s.sink)
    s.sink(text);
  else
    log::write_line(s.default_fd, text);
}

void process_watcher::kill_all(std::chrono::nanoseconds timeout) {
  for (auto& e : entries_) {
    if (e->proc) {
      e->proc->kill_and_reap(timeout);
      e->proc.reset();
    }
    // What they wrote before dying still goes out; do not wait for EOF,
    // a grandchild may hold the pipes.
    for (auto* s : {&e->out, &e->err}) {
      drain(*e, *s);
      flush(*e, *s);
      if (s->fd >= 0)
        ::close(s->fd);
      s->fd = -1;
    }
  }
  entries_.clear();
  std::lock_guard<std::mutex> guard{mtx_};
  live_.clear();
}

} // namespace shmbus::process
