#include "uds_mechanism.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.hpp"

namespace shmbus::bench {

namespace {

/// A send that cannot make progress for this long means the peer is stuck.
constexpr auto send_timeout = std::chrono::seconds{10};

/// Busy loops look at the clock once per this many polls.
constexpr unsigned clock_check_interval = 1024;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

/// Abstract-namespace address ("@name" in text): no file to clean up.
sockaddr_un make_address(const std::string& text, socklen_t& length) {
  if (text.size() < 2 || text[0] != '@' || text.size() >= sizeof(sockaddr_un::sun_path))
    throw std::runtime_error("bad unix socket address '" + text
                             + "': expected @name");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  addr.sun_path[0] = '\0';
  std::memcpy(addr.sun_path + 1, text.data() + 1, text.size() - 1);
  length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + text.size());
  return addr;
}

class uds_endpoint : public endpoint {
public:
  uds_endpoint(int fd, uds_framing framing, uds_wait wait)
    : fd_(fd), framing_(framing), wait_(wait) {
    if (wait_ == uds_wait::busy_poll) {
      auto flags = ::fcntl(fd_, F_GETFL);
      if (flags < 0 || ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) != 0)
        throw_errno("fcntl(O_NONBLOCK)");
    } else {
      auto tv = to_timeval(send_timeout);
      if (::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        throw_errno("setsockopt(SO_SNDTIMEO)");
    }
    if (framing_ == uds_framing::stream)
      rx_.resize(256 * 1024);
  }

  ~uds_endpoint() override {
    ::close(fd_);
  }

  void send(const std::byte* data, std::size_t size) override {
    if (framing_ == uds_framing::seqpacket) {
      iovec iov{const_cast<std::byte*>(data), size};
      send_iov(&iov, 1);
    } else {
      auto length = static_cast<std::uint32_t>(size);
      iovec iov[2] = {{&length, sizeof(length)},
                      {const_cast<std::byte*>(data), size}};
      send_iov(iov, 2);
    }
  }

  std::size_t receive(std::byte* buf, std::size_t capacity,
                      std::chrono::milliseconds timeout) override {
    if (wait_ == uds_wait::blocking)
      set_receive_timeout(timeout);
    else
      rcv_timeout_ = timeout;
    deadline until{timeout};
    if (framing_ == uds_framing::seqpacket) {
      // MSG_TRUNC makes recv return the real length of a too-long message.
      auto n = recv_some(buf, capacity, MSG_TRUNC, until);
      if (n > capacity)
        throw std::runtime_error("received a message of " + std::to_string(n)
                                 + " bytes into a buffer of "
                                 + std::to_string(capacity));
      return n;
    }
    for (;;) {
      auto buffered = end_ - begin_;
      if (buffered >= sizeof(std::uint32_t)) {
        std::uint32_t length = 0;
        std::memcpy(&length, rx_.data() + begin_, sizeof(length));
        if (length > capacity || length > max_message_size)
          throw std::runtime_error("stream framing broken: length prefix "
                                   + std::to_string(length));
        if (buffered >= sizeof(length) + length) {
          std::memcpy(buf, rx_.data() + begin_ + sizeof(length), length);
          begin_ += sizeof(length) + length;
          if (begin_ == end_)
            begin_ = end_ = 0;
          return length;
        }
      }
      if (rx_.size() - end_ < sizeof(std::uint32_t) + max_message_size) {
        std::memmove(rx_.data(), rx_.data() + begin_, buffered);
        begin_ = 0;
        end_ = buffered;
      }
      end_ += recv_some(rx_.data() + end_, rx_.size() - end_, 0, until);
    }
  }

private:
  void set_receive_timeout(std::chrono::milliseconds timeout) {
    // One setsockopt per change, not per call: the benchmark loop then costs
    // exactly one recv per message.
    if (timeout == rcv_timeout_)
      return;
    auto tv = to_timeval(timeout);
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
      throw_errno("setsockopt(SO_RCVTIMEO)");
    rcv_timeout_ = timeout;
  }

  std::size_t recv_some(std::byte* buf, std::size_t capacity, int flags,
                        const deadline& until) {
    for (unsigned polls = 1;; ++polls) {
      auto n = ::recv(fd_, buf, capacity, flags);
      if (n > 0)
        return static_cast<std::size_t>(n);
      if (n == 0)
        throw std::runtime_error("peer closed the unix socket");
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        throw_errno("recv");
      // Blocking: SO_RCVTIMEO expired. Busy polling: nothing there yet.
      if (wait_ == uds_wait::blocking
          || (polls % clock_check_interval == 0 && until.expired()))
        throw std::runtime_error("no message within "
                                 + std::to_string(rcv_timeout_.count())
                                 + " ms");
    }
  }

  void send_iov(iovec* iov, int count) {
    deadline until{send_timeout};
    for (unsigned polls = 1;;) {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<std::size_t>(count);
      auto n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
          throw_errno("send on unix socket");
        if (wait_ == uds_wait::blocking
            || (++polls % clock_check_interval == 0 && until.expired()))
          throw std::runtime_error("unix socket full for 10 s: peer stuck?");
        continue;
      }
      // A stream socket may take part of a message: send the rest.
      auto sent = static_cast<std::size_t>(n);
      while (count > 0 && sent >= iov->iov_len) {
        sent -= iov->iov_len;
        ++iov;
        --count;
      }
      if (count == 0)
        return;
      iov->iov_base = static_cast<char*>(iov->iov_base) + sent;
      iov->iov_len -= sent;
    }
  }

  int fd_;
  uds_framing framing_;
  uds_wait wait_;
  std::chrono::milliseconds rcv_timeout_{0};
  std::vector<std::byte> rx_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

class uds_mechanism : public transport_mechanism {
public:
  uds_mechanism(std::string name, uds_framing framing, uds_wait wait)
    : name_(std::move(name)), framing_(framing), wait_(wait) {
    // nop
  }

  std::string name() const override {
    return name_;
  }

  std::string description() const override {
    std::string text = name_ + ": AF_UNIX ";
    text += framing_ == uds_framing::seqpacket
              ? "SOCK_SEQPACKET, one recv per message"
              : "SOCK_STREAM with 4-byte length prefix, buffered reads";
    text += wait_ == uds_wait::blocking
              ? ", blocking socket (receiver sleeps in recv)"
              : ", non-blocking socket polled in a loop (busy, 100% of a core)";
    return text + ", default buffer sizes";
  }

  std::unique_ptr<endpoint>
  accept(const std::function<void(const std::string&)>& announce,
         std::chrono::milliseconds timeout) override {
    int listener = ::socket(AF_UNIX, socket_type() | SOCK_CLOEXEC, 0);
    if (listener < 0)
      throw_errno("socket(AF_UNIX)");
    auto text = "@shmbus-bench." + std::to_string(::getpid());
    socklen_t length = 0;
    auto addr = make_address(text, length);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), length) != 0
        || ::listen(listener, 1) != 0) {
      auto err = errno;
      ::close(listener);
      errno = err;
      throw_errno("bind/listen " + text);
    }
    announce(text);
    pollfd pfd{listener, POLLIN, 0};
    auto rc = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    int fd = rc > 0 ? ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC) : -1;
    auto err = errno;
    ::close(listener);
    if (rc == 0)
      throw std::runtime_error("A did not connect to " + text + " within "
                               + std::to_string(timeout.count()) + " ms");
    if (fd < 0) {
      errno = err;
      throw_errno("accept on " + text);
    }
    return std::make_unique<uds_endpoint>(fd, framing_, wait_);
  }

  std::unique_ptr<endpoint> connect(const std::string& address,
                                    std::chrono::milliseconds) override {
    // B listens before it announces: connect succeeds or fails at once.
    socklen_t length = 0;
    auto addr = make_address(address, length);
    int fd = ::socket(AF_UNIX, socket_type() | SOCK_CLOEXEC, 0);
    if (fd < 0)
      throw_errno("socket(AF_UNIX)");
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), length) != 0) {
      auto err = errno;
      ::close(fd);
      errno = err;
      throw_errno("connect to " + address);
    }
    return std::make_unique<uds_endpoint>(fd, framing_, wait_);
  }

private:
  int socket_type() const {
    return framing_ == uds_framing::seqpacket ? SOCK_SEQPACKET : SOCK_STREAM;
  }

  std::string name_;
  uds_framing framing_;
  uds_wait wait_;
};

} // namespace

std::unique_ptr<transport_mechanism>
make_uds_mechanism(std::string name, uds_framing framing, uds_wait wait) {
  return std::make_unique<uds_mechanism>(std::move(name), framing, wait);
}

} // namespace shmbus::bench
