#include "shmbus/process/line_reader.hpp"

#include <cerrno>
#include <utility>

#include <poll.h>
#include <unistd.h>

namespace shmbus::process {

namespace {

/// Rounded up, so that a wait with time left never polls for 0 ms and spins.
int poll_ms(std::chrono::steady_clock::duration left) {
  if (left <= left.zero())
    return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  // A wait of ~24 days is "forever" for poll(2).
  return ms > 0x7fffffff ? -1 : static_cast<int>(ms);
}

} // namespace

line_reader::line_reader(int fd) noexcept : fd_(fd) {
  // nop
}

line_reader::line_reader(line_reader&& other) noexcept
  : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {
  // nop
}

line_reader& line_reader::operator=(line_reader&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

line_reader::~line_reader() {
  close();
}

void line_reader::close() noexcept {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

bool line_reader::at_end() const noexcept {
  return fd_ < 0 && buffer_.find('\n') == std::string::npos;
}

std::optional<std::string>
line_reader::read_line(std::chrono::nanoseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto pos = buffer_.find('\n'); pos != std::string::npos) {
      auto line = buffer_.substr(0, pos);
      buffer_.erase(0, pos + 1);
      return line;
    }
    if (fd_ < 0)
      return std::nullopt;
    pollfd pfd{fd_, POLLIN, 0};
    auto rc = ::poll(&pfd, 1, poll_ms(until - std::chrono::steady_clock::now()));
    if (rc <= 0)
      return std::nullopt; // deadline, or a signal handler ran (EINTR)
    char chunk[65536];
    auto n = ::read(fd_, chunk, sizeof(chunk));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n <= 0) {
      close();
      continue;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

} // namespace shmbus::process
