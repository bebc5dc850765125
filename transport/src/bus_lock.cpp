#include "shmbus/transport/bus_lock.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmbus/transport/bus_name.hpp"

namespace shmbus::transport {

namespace {

struct flock make_flock(short type, off_t byte) {
  struct flock fl;
  std::memset(&fl, 0, sizeof(fl));
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  fl.l_pid = 0; // required for OFD locks
  return fl;
}

} // namespace

bus_lock::bus_lock(bus_lock&& other) noexcept
  : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {
  // nop
}

bus_lock& bus_lock::operator=(bus_lock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

bus_lock::~bus_lock() {
  if (fd_ >= 0)
    ::close(fd_); // releases every lock this description holds
}

result<bus_lock> bus_lock::open(std::string_view bus, bool create,
                                unsigned file_mode) {
  bus_lock lock;
  lock.path_ = lock_file_path(bus);
  int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
  lock.fd_ = ::open(lock.path_.c_str(), flags, file_mode);
  if (lock.fd_ < 0) {
    auto code = errno;
    if (code == ENOENT)
      return make_error(errc::bus_not_found,
                        "no bus named '" + std::string(bus)
                          + "': no server has created it (" + lock.path_
                          + " does not exist); start the server first");
    return make_error(errc::system_error, "cannot open " + lock.path_ + ": "
                                            + std::strerror(code));
  }
  if (create)
    ::fchmod(lock.fd_, file_mode); // the umask must not widen or narrow it
  return lock;
}

bool bus_lock::try_lock(off_t byte, mode m) noexcept {
  auto fl = make_flock(m == mode::shared ? F_RDLCK : F_WRLCK, byte);
  while (::fcntl(fd_, F_OFD_SETLK, &fl) != 0) {
    if (errno != EINTR)
      return false;
  }
  return true;
}

void bus_lock::unlock(off_t byte) noexcept {
  auto fl = make_flock(F_UNLCK, byte);
  ::fcntl(fd_, F_OFD_SETLK, &fl);
}

bool bus_lock::held_by_other(off_t byte, mode m) const noexcept {
  auto fl = make_flock(m == mode::shared ? F_RDLCK : F_WRLCK, byte);
  if (::fcntl(fd_, F_OFD_GETLK, &fl) != 0)
    return false;
  return fl.l_type != F_UNLCK;
}

bool bus_lock::still_linked() const noexcept {
  struct stat by_fd;
  struct stat by_path;
  if (::fstat(fd_, &by_fd) != 0 || ::stat(path_.c_str(), &by_path) != 0)
    return false;
  return by_fd.st_ino == by_path.st_ino && by_fd.st_dev == by_path.st_dev;
}

std::optional<std::pair<uint64_t, uint64_t>> bus_lock::file_identity() const noexcept {
  struct stat st;
  if (::fstat(fd_, &st) != 0)
    return std::nullopt;
  return std::make_pair(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
}

} // namespace shmbus::transport
