#include "segment_acceptor.hpp"

#include <cerrno>
#include <system_error>

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "segment_handout.hpp"

namespace shmbus::transport::detail {

namespace {

/// Connections answered per wake-up before looking at the stop descriptor
/// again.
constexpr int max_accepts_per_wake = 64;

/// Pause after an accept that failed for want of resources (EMFILE, ...),
/// so that a listener that stays readable does not spin the thread.
constexpr int accept_error_pause_ms = 10;

} // namespace

segment_acceptor::segment_acceptor(int listener, int memfd, uint64_t segment_bytes)
  : listener_(listener),
    memfd_(memfd),
    segment_bytes_(segment_bytes),
    stop_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!stop_fd_.valid())
    throw std::system_error(errno, std::generic_category(),
                            "cannot create the segment hand-out thread's descriptor");
}

segment_acceptor::~segment_acceptor() {
  stop();
}

void segment_acceptor::start() {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "shmbus.handout");
    run();
  });
}

void segment_acceptor::stop() noexcept {
  if (!thread_.joinable())
    return;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_fd_.get(), &one, sizeof(one));
  thread_.join();
}

void segment_acceptor::run() noexcept {
  pollfd fds[2] = {{listener_, POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
  int pause_ms = -1;
  for (;;) {
    // Waits for a joiner or for stop(); after a resource error, only for
    // stop() and at most the pause.
    auto n = ::poll(pause_ms < 0 ? fds : fds + 1, pause_ms < 0 ? 2 : 1, pause_ms);
    if (n < 0 && errno != EINTR)
      return;
    if (fds[1].revents != 0)
      return;
    pause_ms = -1;
    for (int i = 0; i < max_accepts_per_wake; ++i) {
      int connection = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (connection < 0) {
        // EAGAIN: another process of the bus took it, or none is left.
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
            && errno != ECONNABORTED)
          pause_ms = accept_error_pause_ms;
        break;
      }
      serve_joiner(connection, memfd_, listener_, segment_bytes_);
      ::close(connection);
    }
  }
}

} // namespace shmbus::transport::detail
