// The segment as a sealed memfd that the processes of a bus hand out to
// each other: it cannot be truncated, /dev/shm holds no segment file, any
// live process serves it, a bus whose processes are all gone or all hung
// is told apart, and a process of another PID namespace is refused.
#include <doctest/doctest.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>

#include <dirent.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus_fixture.hpp"
#include "child_process.hpp"
#include "shmbus/transport/bus_admin.hpp"
#include "transport_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;
using transport::errc;
using transport::node_role;

namespace {

/// Names in /dev/shm that start with `prefix`.
std::vector<std::string> shm_files(const std::string& prefix) {
  std::vector<std::string> result;
  if (auto* dir = ::opendir("/dev/shm")) {
    while (auto* e = ::readdir(dir))
      if (std::string(e->d_name).rfind(prefix, 0) == 0)
        result.emplace_back(e->d_name);
    ::closedir(dir);
  }
  std::sort(result.begin(), result.end());
  return result;
}

/// Whether every thread of `pid` is stopped (SIGSTOP takes effect a
/// little after kill() returns).
bool all_threads_stopped(pid_t pid) {
  auto dir_path = "/proc/" + std::to_string(pid) + "/task";
  auto* dir = ::opendir(dir_path.c_str());
  if (dir == nullptr)
    return false;
  bool stopped = true;
  int threads = 0;
  while (auto* e = ::readdir(dir)) {
    if (e->d_name[0] == '.')
      continue;
    std::ifstream stat(dir_path + "/" + e->d_name + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto paren = text.rfind(')');
    stopped = stopped && paren != std::string::npos && paren + 2 < text.size()
              && text[paren + 2] == 'T';
    ++threads;
  }
  ::closedir(dir);
  return stopped && threads > 0;
}

bool can_make_pid_namespaces() {
  return ::geteuid() == 0;
}

/// In a new PID namespace: fork, run `body` in the child (pid 1 there),
/// return its exit code.
template <class Body>
int in_new_pid_namespace(Body&& body) {
  if (::unshare(CLONE_NEWPID) != 0) {
    std::printf("unshare failed: %s\n", std::strerror(errno));
    std::fflush(stdout);
    return 90;
  }
  auto pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL); // and with it the whole namespace
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 91;
}

} // namespace

// args: bus: attaches from a PID namespace of its own and prints the result.
SHMBUS_CHILD_ROLE("attach-from-pidns") {
  return in_new_pid_namespace([&] {
    auto seg = transport::segment::attach(args.at(0));
    std::printf("%s %s\n", seg ? "attached" : to_string(seg.err().code),
                seg ? "" : seg.err().message.c_str());
    std::fflush(stdout);
    return 0;
  });
}

// args: bus: runs a bus server in a PID namespace of its own.
SHMBUS_CHILD_ROLE("server-in-pidns") {
  return in_new_pid_namespace([&] {
    transport::node_options opts;
    opts.bus = args.at(0);
    opts.role = node_role::server;
    opts.name = "namespaced";
    auto n = transport::node::start(opts);
    std::printf("%s\n", n ? "ready" : n.err().message.c_str());
    std::fflush(stdout);
    if (!n)
      return 2;
    for (;;)
      ::pause();
  });
}

TEST_CASE("the segment of a live bus cannot be truncated or grown, and is no file in /dev/shm") {
  scoped_bus bus{"sealed"};
  auto server = start_node(bus.name, node_role::server, "srv");
  auto seg = transport::segment::attach(bus.name);
  REQUIRE_MESSAGE(seg.has_value(), seg.err().message);
  auto size = seg->size_bytes();
  errno = 0;
  CHECK(::ftruncate(seg->memfd(), 0) == -1);
  CHECK(errno == EPERM);
  errno = 0;
  CHECK(::ftruncate(seg->memfd(), static_cast<off_t>(size * 2)) == -1);
  CHECK(errno == EPERM);
  CHECK(::fallocate(seg->memfd(), 0, 0, static_cast<off_t>(size * 2)) == -1);
  struct stat st;
  REQUIRE(::fstat(seg->memfd(), &st) == 0);
  CHECK(static_cast<uint64_t>(st.st_size) == size);
  CHECK(shm_files("shmbus-" + bus.name)
        == std::vector<std::string>{"shmbus-" + bus.name + ".lock",
                                    "shmbus-" + bus.name + ".sock"});
  // Everything still works.
  auto client = start_node(bus.name, node_role::client, "c");
  CHECK_FALSE(client->send(0, server->incarnation(), "x", 1));
}

TEST_CASE("any live process of a bus hands out its segment, the server included or not") {
  scoped_bus bus{"any-process"};
  auto server = child_process::spawn("node", {bus.name, "server", "srv"});
  REQUIRE(server.read_line(10s).value_or("").rfind("ready", 0) == 0);
  auto client = child_process::spawn("node", {bus.name, "client", "wallet"});
  REQUIRE(client.read_line(10s).value_or("").rfind("ready", 0) == 0);
  server.signal(SIGKILL);
  REQUIRE(server.wait(10s).has_value());
  // Only the client is left; tools still read the bus through it.
  auto report = transport::inspect_bus(bus.name);
  REQUIRE_MESSAGE(report.has_value(), report.err().message);
  CHECK_FALSE(report->server_running);
  bool wallet_running = false;
  for (auto& n : report->nodes)
    wallet_running = wallet_running || (n.name == "wallet" && n.process_running);
  CHECK(wallet_running);
}

TEST_CASE("a bus whose processes are all gone is refused at once with the remedy") {
  scoped_bus bus{"all-gone"};
  auto server = child_process::spawn("node", {bus.name, "server", "srv"});
  REQUIRE(server.read_line(10s).value_or("").rfind("ready", 0) == 0);
  server.signal(SIGKILL);
  REQUIRE(server.wait(10s).has_value());
  transport::attach_options how;
  how.timeout = 60s; // refused, not waited for
  auto seg = transport::segment::attach(bus.name, how);
  REQUIRE_FALSE(seg.has_value());
  CHECK(seg.err().code == errc::bus_not_found);
  CHECK_MESSAGE(contains(seg.err().message, "refuses connections"), seg.err().message);
  CHECK(contains(seg.err().message, "shmbusctl clean " + bus.name));
}

TEST_CASE("a bus whose processes are all stopped makes attach time out with the reason") {
  scoped_bus bus{"all-stopped"};
  auto server = child_process::spawn("node", {bus.name, "server", "srv"});
  REQUIRE(server.read_line(10s).value_or("").rfind("ready", 0) == 0);
  server.signal(SIGSTOP);
  REQUIRE(wait_until([&] { return all_threads_stopped(server.pid()); }, 10s));
  transport::attach_options how;
  how.timeout = 300ms;
  auto seg = transport::segment::attach(bus.name, how);
  server.signal(SIGCONT);
  REQUIRE_FALSE(seg.has_value());
  CHECK(seg.err().code == errc::timeout);
  CHECK_MESSAGE(contains(seg.err().message, "stopped or hung"), seg.err().message);
}

TEST_CASE("a read-only attachment reads the bus like any other") {
  scoped_bus bus{"read-only"};
  auto server = start_node(bus.name, node_role::server, "srv");
  transport::attach_options how;
  how.read_only = true;
  auto seg = transport::segment::attach(bus.name, how);
  REQUIRE_MESSAGE(seg.has_value(), seg.err().message);
  CHECK(seg->limits().node_slots == server->limits().node_slots);
  CHECK(seg->checksums());
  CHECK(seg->slot(0).name.load() == "srv");
}

TEST_CASE("a process in another PID namespace than the bus is refused with the remedy") {
  if (!can_make_pid_namespaces()) {
    MESSAGE("skipped: making a PID namespace needs root");
    return;
  }
  SUBCASE("joining from a namespace of its own") {
    scoped_bus bus{"pidns-joiner"};
    auto server = start_node(bus.name, node_role::server, "srv");
    auto child = child_process::spawn("attach-from-pidns", {bus.name});
    auto line = child.read_line(10s).value_or("");
    CHECK_MESSAGE(contains(line, "another PID namespace"), line);
    CHECK(contains(line, "one PID namespace"));
  }
  SUBCASE("a bus that runs in a namespace of its own") {
    scoped_bus bus{"pidns-bus"};
    auto server = child_process::spawn("server-in-pidns", {bus.name});
    REQUIRE(server.read_line(10s) == std::optional<std::string>{"ready"});
    auto seg = transport::segment::attach(bus.name);
    REQUIRE_FALSE(seg.has_value());
    CHECK_MESSAGE(contains(seg.err().message, "another PID namespace"), seg.err().message);
  }
}
