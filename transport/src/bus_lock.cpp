#include "shmbus/transport/bus_lock.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmbus/transport/bus_name.hpp"

#include "bus_file.hpp"

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
  return open_file(bus, create, file_mode, detail::file_owner::us);
}

result<bus_lock> bus_lock::open_for_admin(std::string_view bus) {
  return open_file(bus, false, 0, detail::file_owner::any);
}

result<bus_lock> bus_lock::open_file(std::string_view bus, bool create, unsigned file_mode,
                                     detail::file_owner who) {
  if (auto err = validate_bus_name(bus))
    return *err;
  bus_lock lock;
  lock.path_ = lock_file_path(bus);
  auto* path = lock.path_.c_str();
  // O_NONBLOCK: a FIFO or device planted under our name must not block us.
  constexpr int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
  // Create with O_EXCL, else open what is there: never O_CREAT on a file
  // someone else may have made. Twice, in case a clean removes it between.
  bool created = false;
  for (int attempt = 0; attempt < 2 && lock.fd_ < 0; ++attempt) {
    if (create) {
      lock.fd_ = ::open(path, flags | O_CREAT | O_EXCL, file_mode);
      created = lock.fd_ >= 0;
      if (!created && errno != EEXIST)
        return detail::describe_open_failure(lock.path_, bus, S_IFREG, errno);
    }
    if (!created)
      lock.fd_ = ::open(path, flags);
    if (lock.fd_ < 0 && (errno != ENOENT || !create))
      break;
  }
  if (lock.fd_ < 0) {
    auto code = errno;
    if (code == ENOENT)
      return make_error(errc::bus_not_found,
                        "no bus named '" + std::string(bus)
                          + "': no server has created it (" + lock.path_
                          + " does not exist); start the server first");
    return detail::describe_open_failure(lock.path_, bus, S_IFREG, code);
  }
  struct stat st;
  if (::fstat(lock.fd_, &st) != 0)
    return make_error(errc::system_error,
                      "cannot stat " + lock.path_ + ": " + std::strerror(errno));
  if (auto err = detail::check_bus_file(st, lock.path_, bus, S_IFREG, who))
    return *err;
  if (created)
    ::fchmod(lock.fd_, file_mode); // ours: the umask must not widen or narrow it
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
  if (::fstat(fd_, &by_fd) != 0 || ::lstat(path_.c_str(), &by_path) != 0)
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
