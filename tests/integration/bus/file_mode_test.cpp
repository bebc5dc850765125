// shmbus.file-mode with real users: a server started with 0660 lets a
// process of another user join when that user is in the files' group; with
// the default 0600 it is refused. The processes run under other uids and
// gids through setpriv(1), so the test needs root; it says so and passes
// without checking anything otherwise.
#include <doctest/doctest.h>

#include <cstdlib>

#include <sys/stat.h>
#include <unistd.h>

#include "other_user.hpp"
#include "role_helpers.hpp"
#include "test_types.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

/// Ids no account uses: setpriv needs no /etc/passwd entry for them.
constexpr int server_uid = 64901;
constexpr int client_uid = 64902;
constexpr int shared_gid = 64910;
constexpr int client_gid = 64920;

/// Runs `role` as uid/gid with `groups` as supplementary groups.
child_process run_as(int uid, int gid, const std::string& groups, const std::string& role,
                     const std::vector<std::string>& args) {
  std::vector<std::string> all{"--reuid=" + std::to_string(uid),
                               "--regid=" + std::to_string(gid),
                               groups.empty() ? "--clear-groups" : "--groups=" + groups,
                               "--",
                               self_executable(),
                               "--child",
                               role};
  all.insert(all.end(), args.begin(), args.end());
  return child_process::run("setpriv", all);
}

/// The first line of `child` that starts with one of `prefixes`.
std::string first_line(child_process& child, const std::vector<std::string>& prefixes) {
  while (auto line = child.read_line(10s))
    for (auto& p : prefixes)
      if (line->rfind(p, 0) == 0)
        return *line;
  FAIL("none of the expected lines came");
  return {};
}

/// Whether a server with `mode` lets a client of another uid in its group
/// join; the client's verdict line.
std::string join_across_users(const std::string& tag, const std::string& mode) {
  scoped_bus bus{tag};
  auto server = run_as(server_uid, shared_gid, "", "bus-mode-server", {bus.name, mode});
  auto up = first_line(server, {"up ", "error: "});
  REQUIRE_MESSAGE(up.rfind("up ", 0) == 0, up);
  // The files belong to the server's user and group, with the mode asked for.
  struct stat st;
  REQUIRE(::stat(transport::lock_file_path(bus.name).c_str(), &st) == 0);
  CHECK_EQ(st.st_uid, static_cast<uid_t>(server_uid));
  CHECK_EQ(st.st_gid, static_cast<gid_t>(shared_gid));
  CHECK_EQ(st.st_mode & 0777, std::stoul(mode, nullptr, 8));
  auto client = run_as(client_uid, client_gid, std::to_string(shared_gid), "bus-mode-client",
                       {bus.name});
  auto verdict = first_line(client, {"joined", "error: "});
  REQUIRE(client.wait(10s));
  server.signal(SIGTERM);
  REQUIRE(server.wait(10s));
  return verdict;
}

} // namespace

// args: bus, file mode. A bus server running as whoever started it; prints
// "up <mode>" and waits for SIGTERM.
SHMBUS_CHILD_ROLE("bus-mode-server") {
  block_stop_signals();
  child_bus<> p{args.at(0), "server", "mode-server", [&](test_config& cfg) {
                  cfg.shmbus.file_mode = args.at(1);
                  cfg.shmbus.heartbeat_timeout = 2s;
                }};
  say("up " + args.at(1));
  wait_for_stop_signal(std::chrono::seconds{30});
  return 0;
}

// args: bus. Joins the bus as a client: prints "joined" or "error: <why>".
SHMBUS_CHILD_ROLE("bus-mode-client") {
  child_bus<> p{args.at(0), "client", "mode-client"};
  say("joined");
  return 0;
}

TEST_CASE("file-mode 0660 lets a process of another user in the files' group join the bus") {
  if (auto why = why_no_other_user({self_executable(), "--version"}); !why.empty()) {
    MESSAGE("skipped: " << why);
    return;
  }
  auto verdict = join_across_users("mode-0660", "0660");
  CHECK_MESSAGE(verdict == "joined", verdict);
}

TEST_CASE("with the default file mode 0600 a process of another user cannot join") {
  if (auto why = why_no_other_user({self_executable(), "--version"}); !why.empty()) {
    MESSAGE("skipped: " << why);
    return;
  }
  auto verdict = join_across_users("mode-0600", "0600");
  CHECK_MESSAGE(verdict.rfind("error: ", 0) == 0, verdict);
  // Refused before any open that the kernel would deny: the error names
  // the owner of the bus's files.
  CHECK_MESSAGE(verdict.find("belongs to user") != std::string::npos, verdict);
}

TEST_CASE("file-mode takes octal modes that let the owner read and write") {
  using bus::bus_settings;
  CHECK_EQ(bus_settings::parse_file_mode("0660"), 0660u);
  CHECK_EQ(bus_settings::parse_file_mode("600"), 0600u);
  CHECK_EQ(bus_settings::default_file_mode(), "0600");
  CHECK_FALSE(bus_settings::parse_file_mode("0400")); // owner cannot write
  CHECK_FALSE(bus_settings::parse_file_mode("0770")); // executable
  CHECK_FALSE(bus_settings::parse_file_mode("0680"));
  CHECK_FALSE(bus_settings::parse_file_mode("rw"));
  bus_settings s;
  s.bus = "x";
  s.file_mode = "0644x";
  auto err = s.validate();
  REQUIRE(err);
  CHECK_MESSAGE(caf::to_string(err).find("file-mode") != std::string::npos,
                caf::to_string(err));
}
