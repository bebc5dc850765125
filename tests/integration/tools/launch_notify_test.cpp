// shmbus-launch under a service manager (systemd's Type=notify): READY=1
// comes once the server says its modules are started, STOPPING=1 when it is
// told to stop. The test plays systemd: it binds the socket that
// NOTIFY_SOCKET names and runs the built shmbus-launch with the actors
// tests' bus server (which calls notify_ready() once its module answers).
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus_fixture.hpp"
#include "module_helpers.hpp"
#include "shmbus/actors/ready_notice.hpp"
#include "shmbus/transport/bus_admin.hpp"
#include "tool_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

/// The service manager's end: an abstract datagram socket "@name".
struct notify_socket {
  explicit notify_socket(const std::string& tag)
    : name("@shmbus-test-notify/" + std::to_string(::getpid()) + "/" + tag) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, name.data() + 1, name.size() - 1);
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
  }
  ~notify_socket() { ::close(fd); }

  /// The next notification, or empty after `deadline`.
  std::string next(std::chrono::milliseconds deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(deadline.count())) != 1)
      return {};
    char buf[4096];
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string{};
  }

  std::string name;
  int fd = -1;
};

bool published(const std::string& bus, const std::string& name) {
  auto report = transport::inspect_bus(bus);
  if (!report)
    return false;
  return std::any_of(report->names.begin(), report->names.end(),
                     [&](auto& x) { return x.name == name; });
}

} // namespace

TEST_CASE("shmbus-launch tells its service manager READY=1 once the server's modules "
          "are up, and STOPPING=1 on SIGTERM") {
  scoped_bus bus{"notify"};
  notify_socket manager{"ready"};
  auto launcher = child_process::run(
    SHMBUS_LAUNCH_PATH,
    {"--bus=" + bus.name, "--", self_executable(), "--child", "bus-server"},
    {{"NOTIFY_SOCKET", manager.name}});
  auto ready = manager.next(20000ms);
  REQUIRE_MESSAGE(contains(ready, "READY=1"), "got '" << ready << "'");
  CHECK_MESSAGE(contains(ready, "STATUS=server pid "), ready);
  // Ready means started: the server's module has published its name.
  CHECK(published(bus.name, "echo"));
  launcher.signal(SIGTERM);
  auto stopping = manager.next(10000ms);
  CHECK_MESSAGE(contains(stopping, "STOPPING=1"), "got '" << stopping << "'");
  auto status = launcher.wait(20s);
  REQUIRE(status);
  CHECK_MESSAGE((status->exited && status->code == 0), status->to_string());
}

TEST_CASE("shmbus-launch does not believe a READY=1 from another process than its server") {
  scoped_bus bus{"notify-forged"};
  notify_socket manager{"forged"};
  auto launcher = child_process::run(
    SHMBUS_LAUNCH_PATH,
    {"--bus=" + bus.name, "--", self_executable(), "--child", "dummy-server"},
    {{"NOTIFY_SOCKET", manager.name}});
  bool started = false;
  while (!started) {
    auto line = launcher.read_line(10s);
    REQUIRE_MESSAGE(line, "the dummy server did not start");
    started = line->rfind("dummy server pid ", 0) == 0;
  }
  // The launcher's ready socket is named after the bus and its pid; this
  // test process is not its server.
  auto forged = "@shmbus-launch/" + bus.name + "/" + std::to_string(launcher.pid());
  ::setenv(actors::ready_socket_env, forged.c_str(), 1);
  CHECK(actors::notify_ready());
  ::unsetenv(actors::ready_socket_env);
  // An absence: nothing may come within a generous window.
  CHECK(manager.next(500ms).empty());
  launcher.signal(SIGTERM);
  CHECK(contains(manager.next(10000ms), "STOPPING=1"));
  REQUIRE(launcher.wait(20s));
}
