// The files a bus has in /dev/shm (lock file and hand-out socket) in a
// directory every user can write: planted symlinks, files of other users,
// names built to collide, and `shmbusctl clean` without permission.
#include <doctest/doctest.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fstream>

#include <grp.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "other_user.hpp"
#include "bus_fixture.hpp"
#include "child_process.hpp"
#include "shmbus/transport/bus_admin.hpp"
#include "shmbus/transport/bus_lock.hpp"
#include "transport_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;
using transport::errc;
using transport::node_role;

namespace {

constexpr uid_t nobody = 65534;
constexpr gid_t nogroup = 65534;

/// A file outside /dev/shm that a planted symlink points to; removed at
/// the end.
struct victim_file {
  victim_file() : path("/tmp/shmbus-victim-" + unique_bus_name("v")) {
    std::ofstream out(path);
    out << "precious";
    out.close();
    ::chmod(path.c_str(), 0644);
  }
  ~victim_file() { ::unlink(path.c_str()); }

  mode_t mode() const {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
  }
  std::string content() const {
    std::ifstream in(path);
    std::string text;
    std::getline(in, text);
    return text;
  }

  std::string path;
};

} // namespace

// args: uid gid program args...: becomes that user (no supplementary
// groups), then runs the program; its stdout and stderr go to our stdout.
SHMBUS_CHILD_ROLE("run-as") {
  auto uid = static_cast<uid_t>(std::stoul(args.at(0)));
  auto gid = static_cast<gid_t>(std::stoul(args.at(1)));
  if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0
      || ::setresuid(uid, uid, uid) != 0) {
    std::printf("cannot become uid %u: %s\n", uid, std::strerror(errno));
    return 3;
  }
  std::vector<char*> argv;
  for (size_t i = 2; i < args.size(); ++i)
    argv.push_back(const_cast<char*>(args[i].c_str()));
  argv.push_back(nullptr);
  std::fflush(stdout);
  ::dup2(STDOUT_FILENO, STDERR_FILENO); // the test reads both
  ::execv(argv[0], argv.data());
  std::printf("cannot run %s: %s\n", argv[0], std::strerror(errno));
  return 4;
}

TEST_CASE("a lock file planted as a symlink is refused and what it points to is left alone") {
  scoped_bus bus{"lock-symlink"};
  victim_file victim;
  REQUIRE(::symlink(victim.path.c_str(), transport::lock_file_path(bus.name).c_str()) == 0);
  for (auto role : {node_role::server, node_role::client}) {
    auto refused = try_start(bus.name, role, "srv", test_timing());
    REQUIRE_FALSE(refused.has_value());
    CHECK_MESSAGE(contains(refused.err().message, "is a symbolic link"), refused.err().message);
    CHECK(contains(refused.err().message, transport::lock_file_path(bus.name)));
  }
  CHECK(victim.mode() == 0644); // not chmod-ed to 0600
  CHECK(victim.content() == "precious");
  auto cleaned = transport::remove_bus(bus.name);
  CHECK(cleaned);
  CHECK(contains(cleaned.message, "symbolic link"));
  CHECK(victim.content() == "precious");
}

TEST_CASE("a socket path planted as a symlink is refused by servers and joiners") {
  scoped_bus bus{"sock-symlink"};
  victim_file victim;
  REQUIRE(::symlink(victim.path.c_str(), transport::socket_path(bus.name).c_str()) == 0);
  auto refused = try_start(bus.name, node_role::server, "srv", test_timing());
  REQUIRE_FALSE(refused.has_value());
  CHECK_MESSAGE(contains(refused.err().message, "is a symbolic link"), refused.err().message);
  auto attached = transport::segment::attach(bus.name);
  REQUIRE_FALSE(attached.has_value());
  CHECK(contains(attached.err().message, "is a symbolic link"));
  CHECK(victim.mode() == 0644);
  CHECK(victim.content() == "precious");
}

TEST_CASE("a lock file of another user is refused with that user's name, not taken for a server") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: only root can give a file to another user");
    return;
  }
  scoped_bus bus{"squatted"};
  auto path = transport::lock_file_path(bus.name);
  {
    std::ofstream out(path);
  }
  REQUIRE(::chown(path.c_str(), nobody, nogroup) == 0);
  ::chmod(path.c_str(), 0644);
  auto refused = try_start(bus.name, node_role::server, "srv", test_timing());
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.err().code != errc::server_running);
  CHECK_MESSAGE(contains(refused.err().message, "belongs to user nobody (uid 65534)"),
                refused.err().message);
  CHECK(contains(refused.err().message, "another user holds bus name '" + bus.name + "'"));
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644); // never chmod-ed
  CHECK(st.st_uid == nobody);
}

TEST_CASE("bus X.lock and bus X have files of their own: cleaning one leaves the other") {
  scoped_bus x{"pair"};
  scoped_bus x_lock{"pair"};
  x_lock.name = x.name + ".lock"; // the name built to hit X's lock file
  x_lock.remove();
  auto server_x = try_start(x.name, node_role::server, "x", test_timing());
  REQUIRE_MESSAGE(server_x.has_value(), server_x.err().message);
  // The old attack: `shmbusctl clean X.lock` removed X's lock file.
  CHECK(transport::remove_bus(x_lock.name).code == errc::bus_not_found);
  CHECK(::access(transport::lock_file_path(x.name).c_str(), F_OK) == 0);
  {
    auto server_x_lock = try_start(x_lock.name, node_role::server, "x-lock", test_timing());
    REQUIRE_MESSAGE(server_x_lock.has_value(), server_x_lock.err().message);
    CHECK(transport::remove_bus(x_lock.name).code == errc::bus_in_use);
  }
  // X.lock's server left and removed its files; X's are all there.
  CHECK(::access(transport::lock_file_path(x_lock.name).c_str(), F_OK) != 0);
  CHECK(::access(transport::lock_file_path(x.name).c_str(), F_OK) == 0);
  CHECK(::access(transport::socket_path(x.name).c_str(), F_OK) == 0);
  // X still refuses a second server and takes clients.
  auto second = try_start(x.name, node_role::server, "x2", test_timing());
  REQUIRE_FALSE(second.has_value());
  CHECK(second.err().code == errc::server_running);
  auto client = try_start(x.name, node_role::client, "c", test_timing());
  REQUIRE_MESSAGE(client.has_value(), client.err().message);
}

TEST_CASE("shmbusctl clean without permission exits non-zero and says which file and why") {
  if (auto why = why_no_other_user({SHMBUS_SHMBUSCTL, "list"}); !why.empty()) {
    MESSAGE("skipped: " << why);
    return;
  }
  scoped_bus bus{"clean-denied"};
  {
    auto server = child_process::spawn("node", {bus.name, "server", "srv"});
    REQUIRE(server.read_line(10s).value_or("").rfind("ready", 0) == 0);
    server.signal(SIGKILL);
    REQUIRE(server.wait(10s).has_value());
  }
  // A stale bus of root's: user nobody may not remove it.
  auto ctl = child_process::spawn("run-as", {std::to_string(nobody), std::to_string(nogroup),
                                             SHMBUS_SHMBUSCTL, "clean", bus.name});
  std::string output;
  while (auto line = ctl.read_line(10s))
    output += *line + "\n";
  auto status = ctl.wait(10s);
  REQUIRE(status.has_value());
  CHECK_MESSAGE((status->exited && status->code != 0), status->to_string());
  CHECK_FALSE(contains(output, "removed bus"));
  CHECK_MESSAGE(contains(output, transport::lock_file_path(bus.name)), output);
  CHECK(contains(output, "root (uid 0)"));
  CHECK(::access(transport::lock_file_path(bus.name).c_str(), F_OK) == 0);
  CHECK(::access(transport::socket_path(bus.name).c_str(), F_OK) == 0);
  // Its owner can.
  CHECK_FALSE(transport::remove_bus(bus.name));
  CHECK(::access(transport::lock_file_path(bus.name).c_str(), F_OK) != 0);
}

TEST_CASE("removing a bus whose files are gone already is an error, not a success") {
  scoped_bus bus{"nothing"};
  auto err = transport::remove_bus(bus.name);
  CHECK(err.code == errc::bus_not_found);
}
