// The shmbus.* options: read from --shmbus.* flags and from a [shmbus]
// section of caf-application.ini (flags win), shown by --dump-config, and
// refused with an error that names the option when a value is invalid.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include <dirent.h>
#include <sched.h>
#include <unistd.h>

#include "test_types.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

/// A temporary directory, removed with its files when the test ends.
struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/shmbus-config-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      FAIL("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() {
    for (auto& file : files)
      ::unlink(file.c_str());
    ::rmdir(path.c_str());
  }
  void write(const std::string& name, const std::string& content) {
    auto file = path + "/" + name;
    std::ofstream out{file};
    out << content;
    files.push_back(file);
  }
  std::string path;
  std::vector<std::string> files;
};

std::vector<std::string> all_lines(child_process& child) {
  std::vector<std::string> result;
  while (auto line = child.read_line(10s))
    result.push_back(*line);
  auto status = child.wait(5s);
  CHECK_MESSAGE(status, "the child did not exit");
  if (status)
    CHECK_MESSAGE((status->exited && status->code == 0), status->to_string());
  return result;
}

bool has_line(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

bool any_contains(const std::vector<std::string>& lines, const std::string& what) {
  for (auto& line : lines)
    if (line.find(what) != std::string::npos)
      return true;
  return false;
}

} // namespace

// args: directory, command-line arguments. Parses the arguments in that
// directory (where caf-application.ini is looked for) and prints what the
// config holds, "dumped" after --dump-config, or the error.
SHMBUS_CHILD_ROLE("bus-config") {
  if (::chdir(args.at(0).c_str()) != 0) {
    say("error: cannot chdir");
    return 3;
  }
  std::vector<std::string> storage{"bus-config"};
  storage.insert(storage.end(), args.begin() + 1, args.end());
  std::vector<char*> argv;
  for (auto& arg : storage)
    argv.push_back(arg.data());
  test_config cfg;
  if (auto err = cfg.parse(static_cast<int>(argv.size()), argv.data())) {
    say("parse error: " + caf::actor_system_config::render(err));
    return 0;
  }
  if (cfg.cli_helptext_printed) {
    say("dumped");
    return 0;
  }
  auto settings = bus::bus_settings::from(cfg);
  if (!settings) {
    caf::actor_system sys{cfg};
    say("invalid: " + sys.render(settings.error()));
    return 0;
  }
  auto ms = [](caf::timespan x) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(x).count());
  };
  say("bus=" + settings->bus);
  say("role=" + settings->role);
  say("heartbeat-timeout=" + ms(settings->heartbeat_timeout));
  say("inbox-size=" + std::to_string(settings->inbox_size));
  say("on-server-lost=" + settings->on_server_lost);
  return 0;
}

// args: directory. An application config that is not shmbus::bus::config
// (and declares no shmbus options): bus_settings reads its shmbus.* entries
// from caf-application.ini in that directory.
SHMBUS_CHILD_ROLE("bus-plain-config") {
  if (::chdir(args.at(0).c_str()) != 0) {
    say("error: cannot chdir");
    return 3;
  }
  caf::actor_system_config cfg;
  char name[] = "bus-plain-config";
  char* argv[] = {name, nullptr};
  if (auto err = cfg.parse(1, argv)) {
    say("parse error: " + caf::actor_system_config::render(err));
    return 0;
  }
  auto settings = bus::bus_settings::from(cfg);
  if (!settings) {
    say("invalid: " + caf::actor_system_config::render(settings.error()));
    return 0;
  }
  say("bus=" + settings->bus);
  say("on-server-lost=" + settings->on_server_lost);
  say("server-lost-exit-code=" + std::to_string(settings->server_lost_exit_code));
  say("full-inbox-timeout="
      + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                         settings->full_inbox_timeout)
                         .count()));
  return 0;
}

TEST_CASE("shmbus options are read from --shmbus flags") {
  temp_dir dir;
  auto child = child_process::spawn(
    "bus-config", {dir.path, "--shmbus.bus=from-flags", "--shmbus.role=server",
                   "--shmbus.heartbeat-timeout=750ms", "--shmbus.inbox-size=262144",
                   "--shmbus.on-server-lost=continue"});
  auto lines = all_lines(child);
  CAPTURE(lines.size());
  CHECK(has_line(lines, "bus=from-flags"));
  CHECK(has_line(lines, "role=server"));
  CHECK(has_line(lines, "heartbeat-timeout=750"));
  CHECK(has_line(lines, "inbox-size=262144"));
  CHECK(has_line(lines, "on-server-lost=continue"));
}

TEST_CASE("a [shmbus] section in caf-application.ini is read and flags override it") {
  temp_dir dir;
  dir.write("caf-application.ini", "[shmbus]\n"
                                   "bus=\"from-ini\"\n"
                                   "role=\"server\"\n"
                                   "heartbeat-timeout=2s\n"
                                   "inbox-size=262144\n");
  auto child = child_process::spawn("bus-config", {dir.path, "--shmbus.inbox-size=524288"});
  auto lines = all_lines(child);
  CHECK(has_line(lines, "bus=from-ini"));
  CHECK(has_line(lines, "role=server"));
  CHECK(has_line(lines, "heartbeat-timeout=2000"));
  CHECK(has_line(lines, "inbox-size=524288"));
  // Not set anywhere: the default.
  CHECK(has_line(lines, "on-server-lost=continue"));
}

TEST_CASE("--dump-config shows the shmbus group with its defaults") {
  temp_dir dir;
  auto child = child_process::spawn("bus-config", {dir.path, "--dump-config",
                                                   "--shmbus.bus=dumped-bus"});
  auto lines = all_lines(child);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back() == "dumped");
  CHECK(any_contains(lines, "shmbus"));
  CHECK(any_contains(lines, "dumped-bus"));
  // Options nobody set appear too.
  CHECK(any_contains(lines, "heartbeat-timeout"));
  CHECK(any_contains(lines, "full-inbox-timeout"));
  CHECK(any_contains(lines, "on-server-lost"));
}

TEST_CASE("an invalid option value gives an error that names the option") {
  temp_dir dir;
  struct bad_case {
    std::string arg;
    std::string named;
  };
  for (auto& c : std::vector<bad_case>{
         {"--shmbus.heartbeat-timeout=soon", "shmbus.heartbeat-timeout"},
         {"--shmbus.inbox-size=-5", "shmbus.inbox-size"},
         {"--shmbus.on-server-lost=maybe", "shmbus.on-server-lost"},
         {"--shmbus.role=observer", "shmbus.role"},
         {"--shmbus.heartbeat-timeout=10ms", "shmbus.heartbeat-timeout"},
         {"--shmbus.inbox-size=5000", "inbox-size"},
         {"--shmbus.idle-strategy=sleepy", "shmbus.idle-strategy"},
         {"--shmbus.dispatch=elsewhere", "shmbus.dispatch"},
         {"--shmbus.io-cpu=-2", "shmbus.io-cpu"},
         {"--shmbus.io-cpu=99999", "shmbus.io-cpu"},
       }) {
    CAPTURE(c.arg);
    auto child = child_process::spawn("bus-config", {dir.path, "--shmbus.bus=x", c.arg});
    auto lines = all_lines(child);
    REQUIRE(lines.size() == 1);
    CHECK_MESSAGE((lines[0].rfind("parse error: ", 0) == 0 || lines[0].rfind("invalid: ", 0) == 0),
                  lines[0]);
    CHECK_MESSAGE(lines[0].find(c.named) != std::string::npos, lines[0]);
  }
}

TEST_CASE("an application's own config is read from its shmbus entries") {
  temp_dir dir;
  dir.write("caf-application.ini", "[shmbus]\n"
                                   "bus=\"own-config\"\n"
                                   "on-server-lost=\"continue\"\n"
                                   "server-lost-exit-code=42\n"
                                   "full-inbox-timeout=250ms\n");
  auto child = child_process::spawn("bus-plain-config", {dir.path});
  auto lines = all_lines(child);
  CHECK(has_line(lines, "bus=own-config"));
  CHECK(has_line(lines, "on-server-lost=continue"));
  CHECK(has_line(lines, "server-lost-exit-code=42"));
  CHECK(has_line(lines, "full-inbox-timeout=250"));
}


namespace {

/// The CPUs thread `tid` of this process may run on.
std::vector<int> cpus_of(pid_t tid) {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  std::vector<int> result;
  if (::sched_getaffinity(tid, sizeof(mask), &mask) != 0)
    return result;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &mask))
      result.push_back(cpu);
  return result;
}

/// The ids of this process's threads named `name`.
std::vector<pid_t> threads_named(const std::string& name) {
  std::vector<pid_t> result;
  auto* dir = ::opendir("/proc/self/task");
  if (dir == nullptr)
    return result;
  while (auto* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.')
      continue;
    std::ifstream comm{std::string{"/proc/self/task/"} + entry->d_name + "/comm"};
    std::string text;
    std::getline(comm, text);
    if (text == name)
      result.push_back(static_cast<pid_t>(std::stoi(entry->d_name)));
  }
  ::closedir(dir);
  return result;
}

} // namespace

TEST_CASE("shmbus.io-cpu pins the I/O thread, and only it, to that CPU") {
  auto allowed = cpus_of(0);
  REQUIRE_FALSE(allowed.empty());
  // The last CPU we may run on: with two or more, unpinned threads differ.
  int cpu = allowed.back();
  scoped_bus bus{"io-cpu"};
  bus_process<test_config> server{bus.name, "server", "srv",
                                  [cpu](test_config& cfg) { cfg.shmbus.io_cpu = cpu; }};
  // The threads name and pin themselves once they run.
  std::vector<pid_t> io;
  auto pinned = [&] {
    io = threads_named("shmbus.io");
    return io.size() == 1 && cpus_of(io.front()) == std::vector<int>{cpu};
  };
  CHECK(wait_until(pinned, std::chrono::seconds{5}));
  auto standby = threads_named("shmbus.io2");
  for (auto tid : standby)
    CHECK(cpus_of(tid) == allowed);
  CHECK(cpus_of(0) == allowed);
  // It still carries messages.
  caf::scoped_actor self{*server.sys};
  auto doubler = server.sys->spawn([]() -> caf::behavior {
    return {[](int32_t x) { return x * 2; }};
  });
  REQUIRE(!server.node.publish(doubler, "doubler"));
  auto found = must_lookup(server.node, "doubler");
  self->request(found, std::chrono::seconds{5}, int32_t{21})
    .receive([](int32_t x) { CHECK(x == 42); },
             [&](caf::error& err) { FAIL_CHECK(server.sys->render(err)); });
  self->send_exit(doubler, caf::exit_reason::user_shutdown);
}

TEST_CASE("shmbus.io-cpu outside the CPUs the process may use is refused, naming them") {
  auto allowed = cpus_of(0);
  int outside = 0;
  while (std::find(allowed.begin(), allowed.end(), outside) != allowed.end())
    ++outside;
  REQUIRE(outside < CPU_SETSIZE);
  scoped_bus bus{"io-cpu-outside"};
  test_config cfg;
  configure(cfg, bus.name, "server", "srv");
  cfg.shmbus.io_cpu = outside;
  caf::actor_system sys{cfg};
  auto started = bus::node::start(sys);
  REQUIRE_FALSE(started);
  auto text = sys.render(started.error());
  CHECK_MESSAGE(text.find("shmbus.io-cpu") != std::string::npos, text);
  CHECK_MESSAGE(text.find("may not run on CPU " + std::to_string(outside)) != std::string::npos,
                text);
}
