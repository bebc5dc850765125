#include "remote_bench.hpp"

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "child_process.hpp"
#include "loss_timing.hpp"
#include "clock.hpp"
#include "measurement.hpp"
#include "placement.hpp"
#include "process_pair.hpp"
#include "stats.hpp"
#include "shmbus/bus/config.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/transport/bus_admin.hpp"

namespace shmbus::bench {

namespace {

using namespace std::chrono_literals;

constexpr auto start_timeout = 10s;
constexpr auto loss_timeout = 5s;

/// Removes a bus's files now (a previous run's) and again when it goes out
/// of scope: declared before the processes of the bus, it outlives them
/// (remove_bus refuses while one runs).
class bus_files {
public:
  explicit bus_files(std::string name) : name_(std::move(name)) {
    transport::remove_bus(name_);
  }
  ~bus_files() { transport::remove_bus(name_); }
  bus_files(const bus_files&) = delete;
  bus_files& operator=(const bus_files&) = delete;
  const std::string& name() const noexcept { return name_; }

private:
  std::string name_;
};

/// The plain CAF processes run as the bus's do: BASP heartbeats (a peer
/// that sends none is cut off by a connection timeout) and the scheduler
/// bus::config picks, so that only the transport differs.
void like_bus_processes(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("middleman.heartbeat-interval", bus::bus_settings::default_remote_heartbeat_interval);
  cfg.set("middleman.connection-timeout", bus::bus_settings::default_remote_connection_timeout);
}

void remote_config(bus::config& cfg, const std::string& bus, const std::string& role,
                   const std::vector<std::string>& seeds) {
  cfg.shmbus.bus = bus;
  cfg.shmbus.role = role;
  cfg.shmbus.remote = true;
  cfg.shmbus.remote_seeds = seeds;
  cfg.shmbus.remote_refresh = 100ms;
}

bus::node join_bus(caf::actor_system& sys) {
  auto started = bus::node::start(sys);
  if (!started)
    throw std::runtime_error(sys.render(started.error()));
  return *started;
}

caf::behavior echo() {
  return {[](int32_t x) { return x; }};
}

/// A machine process: its address (BASP port) once it said ready.
std::pair<child_process, std::string> start_machine(const std::string& bus,
                                                    const std::string& role,
                                                    const std::string& seed,
                                                    bool remote = true) {
  role_args args;
  args.set("remote", remote ? 1LL : 0LL);
  args.set("bus", bus);
  args.set("role", role);
  args.set("seed", seed);
  args.set("parent", static_cast<long long>(::getpid()));
  auto child = child_process::spawn("remote-machine", args);
  auto line = child.read_line(deadline{start_timeout});
  if (!line || line->rfind("ready", 0) != 0)
    throw std::runtime_error("machine process did not start: " + line.value_or("(nothing)"));
  return {std::move(child), line->size() > 6 ? line->substr(6) : std::string{}};
}

std::string seed_of(const std::string& port) {
  return "127.0.0.1:" + port;
}

/// Round trips of int32 requests from a blocking actor, after a warm-up.
std::vector<double> round_trips(caf::actor_system& sys, const caf::actor& peer, int samples) {
  caf::scoped_actor self{sys};
  std::vector<double> rtt;
  rtt.reserve(static_cast<size_t>(samples));
  for (int i = -200; i < samples; ++i) {
    auto start = mono_clock::now();
    bool ok = false;
    self->request(peer, 5s, int32_t{i}).receive([&](int32_t) { ok = true; },
                                                 [](caf::error&) {});
    if (!ok)
      throw std::runtime_error("a request was not answered within 5 s");
    if (i >= 0)
      rtt.push_back(std::chrono::duration<double, std::micro>(mono_clock::now() - start).count());
  }
  return rtt;
}

/// SIGSTOP of a whole machine (its only process) until the down_msg of its
/// actor, `losses` times, each with a fresh machine.
std::vector<double> machine_losses(int losses) {
  bus_files bus{"bench-remote-a-" + std::to_string(::getpid())};
  bus::config cfg;
  remote_config(cfg, bus.name(), "server", {});
  caf::actor_system sys{cfg};
  auto node = join_bus(sys);
  std::vector<double> result;
  for (int i = 0; i < losses; ++i) {
    bus_files victim_bus{"bench-remote-v-" + std::to_string(::getpid()) + "-"
                         + std::to_string(i)};
    auto [victim, port] = start_machine(victim_bus.name(), "server", "");
    auto dir = sys.middleman().remote_actor("127.0.0.1", static_cast<uint16_t>(std::stoi(port)));
    if (!dir)
      throw std::runtime_error(sys.render(dir.error()));
    caf::scoped_actor self{sys};
    caf::actor target;
    self->request(*dir, 5s, bus::lookup_atom::value, std::string{"echo"}, uint64_t{0})
      .receive([&](caf::actor& x) { target = std::move(x); },
               [&](caf::error& err) { throw std::runtime_error(sys.render(err)); });
    auto down = std::make_shared<stamp>();
    auto watcher = sys.spawn(monitor_once, target, down);
    self->request(watcher, 5s, caf::ok_atom::value).receive([] {}, [](caf::error&) {});
    auto stopped = mono_clock::now();
    ::kill(victim.pid(), SIGSTOP);
    auto seen = down->wait(loss_timeout);
    victim.kill_and_reap();
    if (!seen)
      throw std::runtime_error("no down_msg within 5 s of SIGSTOP of a machine");
    result.push_back(std::chrono::duration<double, std::milli>(*seen - stopped).count());
  }
  node.stop();
  return result;
}

} // namespace

int remote_machine_role(const role_args& args) {
  bus::config cfg;
  std::vector<std::string> seeds;
  if (!args.get("seed").empty())
    seeds.push_back(args.get("seed"));
  remote_config(cfg, args.get("bus"), args.get("role"), seeds);
  cfg.shmbus.remote = args.get_int_or("remote", 1) != 0;
  caf::actor_system sys{cfg};
  auto node = join_bus(sys);
  auto peer = sys.spawn(echo);
  if (auto err = node.publish(peer, "echo"))
    throw std::runtime_error(sys.render(err));
  announce_ready(std::to_string(node.remote().port));
  for (;;)
    ::pause(); // until killed
}

int remote_plain_role(const role_args&) {
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  like_bus_processes(cfg);
  caf::actor_system sys{cfg};
  auto peer = sys.spawn(echo);
  auto port = sys.middleman().publish(peer, 0, "127.0.0.1");
  if (!port)
    throw std::runtime_error(sys.render(port.error()));
  announce_ready(std::to_string(*port));
  for (;;)
    ::pause();
}

int remote_driver_role(const role_args& args) {
  auto mechanism = args.get("mechanism");
  measurement result;
  if (args.get("bench") == "machine_lost") {
    auto lost = machine_losses(static_cast<int>(args.get_int("losses")));
    result.samples = lost.size();
    add_summary(result, "lost_ms", lost);
    result.add("heartbeat_interval_ms",
               std::chrono::duration<double, std::milli>(
                 bus::bus_settings::default_remote_heartbeat_interval)
                 .count());
    result.add("connection_timeout_ms",
               std::chrono::duration<double, std::milli>(
                 bus::bus_settings::default_remote_connection_timeout)
                 .count());
    write_measurement(stdout, result);
    return 0;
  }
  auto samples = static_cast<int>(args.get_int("samples"));
  auto pid = std::to_string(::getpid());
  if (mechanism == "caf-tcp") {
    role_args plain_args;
    plain_args.set("parent", static_cast<long long>(::getpid()));
    auto plain = child_process::spawn("remote-plain", plain_args);
    auto line = plain.read_line(deadline{start_timeout});
    if (!line || line->rfind("ready ", 0) != 0)
      throw std::runtime_error("plain CAF peer did not start: " + line.value_or("(nothing)"));
    caf::actor_system_config cfg;
    cfg.load<caf::io::middleman>();
    like_bus_processes(cfg);
    caf::actor_system sys{cfg};
    auto peer = sys.middleman().remote_actor("127.0.0.1",
                                             static_cast<uint16_t>(std::stoi(line->substr(6))));
    if (!peer)
      throw std::runtime_error(sys.render(peer.error()));
    result.rtt_us = round_trips(sys, *peer, samples);
    write_measurement(stdout, result);
    return 0;
  }
  // Machine A: this process (the server) and, for the local row, a client
  // with the echo; machine B: a server with the echo, for the remote row.
  bus_files files_a{"bench-remote-a-" + pid};
  bus_files files_b{"bench-remote-b-" + pid};
  auto& bus_a = files_a.name();
  auto& bus_b = files_b.name();
  std::optional<std::pair<child_process, std::string>> b;
  std::vector<std::string> seeds;
  if (mechanism == "shmbus-remote") {
    b.emplace(start_machine(bus_b, "server", ""));
    seeds.push_back(seed_of(b->second));
  }
  bus::config cfg;
  remote_config(cfg, bus_a, "server", seeds);
  auto remote = args.get_int_or("remote", 1) != 0;
  cfg.shmbus.remote = remote;
  caf::actor_system sys{cfg};
  auto node = join_bus(sys);
  std::optional<std::pair<child_process, std::string>> a2;
  std::string name = "echo@" + bus_b;
  if (mechanism != "shmbus-remote") {
    a2.emplace(start_machine(bus_a, "client", "", remote));
    name = "echo";
  }
  result.add("remote", remote ? "on" : "off");
  auto peer = node.lookup(name, caf::timespan{start_timeout});
  if (!peer)
    throw std::runtime_error(sys.render(peer.error()));
  result.rtt_us = round_trips(sys, *peer, samples);
  result.add("connections", static_cast<double>(node.remote().connections));
  node.stop();
  write_measurement(stdout, result);
  return 0;
}

void run_remote_suite(const run_options& options, report& out) {
  auto samples = options.quick ? 2000 : 20000;
  auto rtt_row = [&](const char* mechanism, bool remote) {
    if (!options.selects(mechanism))
      return;
    pair_spec spec;
    spec.suite = "remote";
    spec.bench = "remote_rtt";
    spec.mechanism = mechanism;
    spec.payload_bytes = sizeof(int32_t);
    spec.where = unpinned();
    spec.with_peer = false; // the driver starts its own machines
    spec.params.set("samples", static_cast<long long>(samples));
    spec.params.set("remote", remote ? 1LL : 0LL);
    spec.budget = 120s;
    out.add(run_pair(spec));
  };
  rtt_row("shmbus-adaptive", false);
  rtt_row("shmbus-adaptive", true);
  rtt_row("shmbus-remote", true);
  rtt_row("caf-tcp", false);
  if (options.selects("shmbus-remote")) {
    pair_spec spec;
    spec.suite = "remote";
    spec.bench = "machine_lost";
    spec.mechanism = "shmbus-remote";
    spec.where = unpinned();
    spec.with_peer = false;
    spec.params.set("losses", 20LL);
    spec.budget = 180s;
    out.add(run_pair(spec));
  }
  out.note("remote_rtt: a blocking actor in the driver (machine A's bus server) sends "
           "request(echo, int32) and waits, after 200 warm-up round trips; "
           "shmbus-adaptive = the echo in another process of machine A (shared memory), "
           "with shmbus.remote off and on (field remote), "
           "shmbus-remote = the echo on machine B, found as \"echo@<bus B>\" and reached "
           "over the direct BASP connection the directories set up, caf-tcp = the echo "
           "in a plain CAF process reached with remote_actor; machines are buses on this "
           "host over 127.0.0.1; every process sends BASP heartbeats; unpinned");
  out.note("machine_lost: a machine (one bus server process with remote on) is found "
           "through its directory, its actor monitored, then SIGSTOPped; lost_ms = until "
           "the down_msg, with middleman.heartbeat-interval and connection-timeout as "
           "shmbus.remote sets them by default (heartbeat_interval_ms, "
           "connection_timeout_ms); 20 machines in turn");
}

} // namespace shmbus::bench
