// The launcher's end of notify_ready() (ready_notice.hpp): an abstract Unix
// datagram socket that hears READY=1 from its server. Abstract: no file to
// clean up, gone with the launcher. Owned by the launcher's thread.
#pragma once

#include <string>

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "shmbus/transport/error.hpp"

namespace shmbus::actors {

class ready_listener {
public:
  static constexpr const char* ready_message = "READY=1";

  ready_listener() = default;
  ready_listener(const ready_listener&) = delete;
  ready_listener& operator=(const ready_listener&) = delete;
  ~ready_listener();

  /// Binds "@shmbus-launch/<bus>/<pid>". Never blocks.
  transport::error open(const std::string& bus);

  /// Readable (poll) when a notice came; -1 before open().
  int fd() const noexcept { return fd_; }

  /// "@shmbus-launch/...": the value of ready_socket_env for the server.
  const std::string& name() const noexcept { return name_; }

  /// Reads every pending notice; true if one was READY=1 from `pid` (the
  /// kernel vouches for the sender's pid). Never blocks.
  bool ready_from(pid_t pid) noexcept;

  /// The socket address of an abstract name "@...". False if it is too long.
  static bool address_of(const std::string& name, sockaddr_un& addr,
                         socklen_t& len) noexcept;

private:
  int fd_ = -1;
  std::string name_;
};

} // namespace shmbus::actors
