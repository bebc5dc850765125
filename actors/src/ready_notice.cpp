#include "shmbus/actors/ready_notice.hpp"

#include <cstdlib>
#include <cstring>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ready_listener.hpp"

namespace shmbus::actors {

bool notify_ready() noexcept {
  auto* name = std::getenv(ready_socket_env);
  if (name == nullptr || name[0] != '@')
    return false;
  sockaddr_un addr{};
  socklen_t len = 0;
  if (!ready_listener::address_of(name, addr, len))
    return false;
  auto fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return false;
  auto n = ::sendto(fd, ready_listener::ready_message, std::strlen(ready_listener::ready_message),
                    MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), len);
  ::close(fd);
  return n >= 0;
}

} // namespace shmbus::actors
