#include "segment_handout.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shmbus/transport/bus_name.hpp"
#include "shmbus/transport/segment_layout.hpp"

#include "bus_file.hpp"
#include "duration_text.hpp"

namespace shmbus::transport::detail {

namespace {

using clock = std::chrono::steady_clock;

/// Descriptors a hello carries: the memfd and the listening socket.
constexpr size_t max_descriptors = 2;

/// Pause before connecting again to a socket whose backlog is full.
constexpr std::chrono::milliseconds backlog_retry{1};

error system_failure(const std::string& what) {
  return make_error(errc::system_error, what + ": " + std::strerror(errno));
}

sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1); // fits: bus_name.hpp
  return addr;
}

std::string stale_remedy(std::string_view bus) {
  return "start its server, or remove what is left with `shmbusctl clean "
         + std::string(bus) + "`";
}

/// Whether some process listens on the socket at `path` (a connection is
/// accepted or queued). It gets nothing from us but a closed connection.
bool socket_answers(const std::string& path) {
  unique_fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  auto addr = address_of(path);
  if (!fd.valid())
    return false;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0)
    return true;
  return errno == EAGAIN; // its queue is full: it lives
}

/// Descriptors from SCM_RIGHTS and the sender's credentials.
struct control_data {
  int fds[max_descriptors] = {-1, -1};
  size_t fd_count = 0;
  bool extra_fds = false;
  bool has_credentials = false;
  ucred credentials{};
};

control_data read_control(msghdr& msg) {
  control_data result;
  for (auto* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET)
      continue;
    if (c->cmsg_type == SCM_RIGHTS) {
      auto n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < n; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (result.fd_count < max_descriptors) {
          result.fds[result.fd_count++] = fd;
        } else {
          result.extra_fds = true;
          ::close(fd); // more than a hello carries: not ours to keep
        }
      }
    } else if (c->cmsg_type == SCM_CREDENTIALS
               && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
      std::memcpy(&result.credentials, CMSG_DATA(c), sizeof(ucred));
      result.has_credentials = true;
    }
  }
  return result;
}

/// Connects `fd` to `path`, retrying while the backlog is full.
error connect_until(int fd, const std::string& path, std::string_view bus,
                    clock::time_point until) {
  auto addr = address_of(path);
  for (;;) {
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0)
      return {};
    auto code = errno;
    if (code == EINTR)
      continue;
    if (code == ECONNREFUSED)
      return make_error(errc::bus_not_found,
                        "bus '" + std::string(bus) + "' has no live process: " + path
                          + " refuses connections (every process that used it is "
                            "gone); " + stale_remedy(bus));
    if (code == ENOENT)
      return make_error(errc::bus_not_found,
                        "no bus named '" + std::string(bus) + "' (" + path
                          + " does not exist); start the server first");
    if (code == EACCES || code == EPERM)
      return describe_open_failure(path, bus, S_IFSOCK, code);
    if (code != EAGAIN)
      return make_error(errc::system_error,
                        "cannot connect to " + path + ": " + std::strerror(code));
    if (clock::now() >= until)
      return make_error(errc::timeout,
                        "the processes of bus '" + std::string(bus)
                          + "' do not accept connections on " + path
                          + " (its queue is full): are they all stopped or hung?");
    std::this_thread::sleep_for(backlog_retry);
  }
}

} // namespace

result<unique_fd> listen_for_joiners(std::string_view bus, unsigned file_mode) {
  auto path = socket_path(bus);
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    // Left by a bus whose processes are all gone (the caller holds the
    // locks); anything but a socket of ours stays and stops us.
    if (auto err = check_bus_file(st, path, bus, S_IFSOCK))
      return *err;
    // The locks say no process of the bus lives, unless someone replaced
    // the lock file under them: then the socket still answers.
    if (socket_answers(path))
      return make_error(errc::server_running,
                        "bus '" + std::string(bus) + "' still runs (a process accepts on "
                          + path + ") although its lock file was removed or replaced; "
                          "stop its processes first, or use another bus name");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return system_failure("cannot remove the stale socket " + path);
  }
  unique_fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  if (!fd.valid())
    return system_failure("cannot create a Unix socket for bus '" + std::string(bus) + "'");
  auto addr = address_of(path);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    return system_failure("cannot bind " + path
                          + (errno == EADDRINUSE ? " (another process created it meanwhile)"
                                                 : ""));
  // Before listen(): until then a connect is refused whatever the mode.
  if (::fchmodat(AT_FDCWD, path.c_str(), file_mode, AT_SYMLINK_NOFOLLOW) != 0
      || ::listen(fd.get(), handout_backlog) != 0) {
    auto err = system_failure("cannot set up " + path);
    ::unlink(path.c_str());
    return err;
  }
  return fd;
}

result<received_segment> fetch_segment(std::string_view bus,
                                       std::chrono::nanoseconds timeout) {
  auto until = clock::now() + timeout;
  auto path = socket_path(bus);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return make_error(errc::bus_not_found,
                        "no bus named '" + std::string(bus) + "' (" + path
                          + " does not exist); start the server first");
    return system_failure("cannot look at " + path);
  }
  if (auto err = check_bus_file(st, path, bus, S_IFSOCK))
    return *err;
  unique_fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  if (!fd.valid())
    return system_failure("cannot create a Unix socket");
  int on = 1;
  // The kernel then attaches the sender's real pid and uid to what it sends.
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0)
    return system_failure("cannot ask for the credentials of bus '" + std::string(bus) + "'");
  if (auto err = connect_until(fd.get(), path, bus, until))
    return err;
  handout_hello hello{};
  iovec iov{&hello, sizeof(hello)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8) + CMSG_SPACE(sizeof(ucred))];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
    pollfd p{fd.get(), POLLIN, 0};
    auto ready = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0)
      return make_error(errc::timeout,
                        "no process of bus '" + std::string(bus)
                          + "' handed out its segment within " + ms_text(timeout)
                          + " (are they all stopped or hung?)");
    break;
  }
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = ::recvmsg(fd.get(), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return system_failure("cannot receive the segment of bus '" + std::string(bus) + "'");
  auto received = read_control(msg);
  received_segment result;
  result.memfd.reset(received.fds[0]);
  result.listener.reset(received.fds[1]);
  result.hello = hello;
  auto refuse = [&](errc code, const std::string& why) {
    return make_error(code, "refusing the segment of bus '" + std::string(bus)
                              + "' handed out on " + path + ": " + why);
  };
  if (static_cast<size_t>(n) != sizeof(hello) || hello.magic != handout_magic
      || hello.hello_version < handout_hello_version)
    return refuse(errc::layout_mismatch,
                  "the answer is not a shmbus hello (" + std::to_string(n) + " bytes)");
  if ((msg.msg_flags & MSG_CTRUNC) != 0 || received.extra_fds || !result.memfd.valid())
    return refuse(errc::system_error, "it came without the segment's descriptor, or with "
                                      "more descriptors than a hello carries");
  if (!received.has_credentials)
    return refuse(errc::system_error, "the kernel attached no credentials");
  auto& cred = received.credentials;
  bool trusted_user = cred.uid == ::geteuid() || cred.uid == st.st_uid
                      || ((st.st_mode & (S_IRGRP | S_IWGRP)) == (S_IRGRP | S_IWGRP)
                          && cred.gid == st.st_gid);
  if (!trusted_user)
    return refuse(errc::system_error,
                  "the process that answered runs as user " + user_text(cred.uid)
                    + ", neither this user nor the owner of the socket");
  if (cred.pid == 0 || cred.pid != hello.pid)
    return refuse(errc::system_error,
                  "this process is in another PID namespace than bus '" + std::string(bus)
                    + "' (process " + std::to_string(hello.pid) + " there is "
                    + (cred.pid == 0 ? std::string("invisible") : "pid " + std::to_string(cred.pid))
                    + " here): run all processes of a bus in one PID namespace "
                      "(docker --pid=container:..., a shared pod PID namespace)");
  if (hello.layout_version != layout_version)
    return make_error(errc::layout_mismatch,
                      "bus '" + std::string(bus) + "' was created by layout version "
                        + std::to_string(hello.layout_version)
                        + ", this build reads version " + std::to_string(layout_version)
                        + ": stop all processes of the other build, or run `shmbusctl "
                          "clean " + std::string(bus) + "` once none is running");
  auto seals = ::fcntl(result.memfd.get(), F_GET_SEALS);
  if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
    return refuse(errc::layout_mismatch,
                  "it is not sealed against truncation (seals "
                    + std::to_string(seals < 0 ? 0 : seals) + "): a process could make "
                    "every mapping of it fault with SIGBUS");
  struct stat memfd_stat;
  if (::fstat(result.memfd.get(), &memfd_stat) != 0
      || static_cast<uint64_t>(memfd_stat.st_size) != hello.segment_bytes)
    return refuse(errc::layout_mismatch, "its size differs from the size the hello names");
  return result;
}

bool serve_joiner(int connection, int memfd, int listener, uint64_t segment_bytes) noexcept {
  handout_hello hello{};
  hello.magic = handout_magic;
  hello.hello_version = handout_hello_version;
  hello.layout_version = layout_version;
  hello.pid = static_cast<int32_t>(::getpid());
  hello.descriptors = listener >= 0 ? 2 : 1;
  hello.segment_bytes = segment_bytes;
  iovec iov{&hello, sizeof(hello)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_descriptors)] = {};
  int fds[max_descriptors] = {memfd, listener};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * hello.descriptors);
  auto* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * hello.descriptors);
  std::memcpy(CMSG_DATA(c), fds, sizeof(int) * hello.descriptors);
  ssize_t n;
  do {
    n = ::sendmsg(connection, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof(hello));
}

} // namespace shmbus::transport::detail
