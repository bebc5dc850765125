#include "ready_listener.hpp"

#include <cerrno>
#include <cstddef>
#include <cstring>

#include <unistd.h>

namespace shmbus::actors {

ready_listener::~ready_listener() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool ready_listener::address_of(const std::string& name, sockaddr_un& addr,
                                socklen_t& len) noexcept {
  // "@x" is the abstract name "\0x", as systemd writes NOTIFY_SOCKET.
  if (name.size() < 2 || name[0] != '@' || name.size() > sizeof(addr.sun_path))
    return false;
  std::memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data() + 1, name.size() - 1);
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  return true;
}

transport::error ready_listener::open(const std::string& bus) {
  name_ = "@shmbus-launch/" + bus + "/" + std::to_string(::getpid());
  sockaddr_un addr{};
  socklen_t len = 0;
  if (!address_of(name_, addr, len))
    return transport::make_error(transport::errc::invalid_argument,
                                 "the ready socket name " + name_ + " is too long");
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int on = 1;
  if (fd_ < 0 || ::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0
      || ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), len) != 0)
    return transport::make_error(transport::errc::system_error,
                                 "cannot open the ready socket " + name_ + ": "
                                   + std::strerror(errno));
  return {};
}

bool ready_listener::ready_from(pid_t pid) noexcept {
  bool ready = false;
  for (;;) {
    char buf[256];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{buf, sizeof(buf) - 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    auto n = ::recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return ready; // drained (EAGAIN) or broken: nothing more to read
    }
    buf[n] = '\0';
    const ucred* cred = nullptr;
    for (auto* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
        cred = reinterpret_cast<const ucred*>(CMSG_DATA(c));
    // Anyone in this network namespace can send here: only the server counts.
    if (cred != nullptr && cred->pid == pid
        && std::strstr(buf, ready_message) != nullptr)
      ready = true;
  }
}

} // namespace shmbus::actors
