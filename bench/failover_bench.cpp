#include "failover_bench.hpp"

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <mutex>
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
#include "shmbus/actors/errc.hpp"
#include "shmbus/actors/module_main.hpp"
#include "shmbus/actors/module_spec.hpp"
#include "shmbus/bus/config.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/process/os_process.hpp"
#include "shmbus/supervision/supervisor.hpp"
#include "shmbus/transport/bus_admin.hpp"
#include "shmbus/transport/node.hpp"

namespace shmbus::bench {

namespace {

using namespace std::chrono_literals;

constexpr auto victim_ready_timeout = 10s;
constexpr auto loss_timeout = 5s;

/// Starts a victim and returns it once it says ready (with its address).
std::pair<child_process, std::string> start_victim(const std::string& mechanism,
                                                   const std::string& bus) {
  role_args args;
  args.set("mechanism", mechanism);
  args.set("bus", bus);
  args.set("parent", static_cast<long long>(::getpid()));
  auto victim = child_process::spawn("failover-victim", args);
  auto line = victim.read_line(deadline{victim_ready_timeout});
  if (!line || line->rfind("ready", 0) != 0)
    throw std::runtime_error("victim did not start: " + line.value_or("(nothing)"));
  auto address = line->size() > 6 ? line->substr(6) : std::string{};
  return {std::move(victim), address};
}

/// The bus node of `sys` per its config, or an exception saying why not.
bus::node join_bus(caf::actor_system& sys) {
  auto started = bus::node::start(sys);
  if (!started)
    throw std::runtime_error(sys.render(started.error()));
  return *started;
}

double ms_between(mono_clock::time_point from, mono_clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// -- shmbus transport: kill -9 -> loss event --------------------------------

class loss_recorder : public transport::inbox_handler {
public:
  void on_message(const transport::message_view&) override {}
  void on_peer_lost(const transport::peer_loss& loss) override {
    if (loss.peer.pid == watched_pid.load())
      lost.set();
  }
  std::atomic<int> watched_pid{0};
  stamp lost;
};

std::vector<double> transport_losses(int kills) {
  auto bus = "bench-fail-" + std::to_string(::getpid());
  transport::remove_bus(bus);
  transport::node_options opts;
  opts.bus = bus;
  opts.role = transport::node_role::server;
  opts.name = "survivor";
  auto started = transport::node::start(opts);
  if (!started)
    throw std::runtime_error(started.err().message);
  auto& self = **started;
  loss_recorder handler;
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    while (!stop)
      self.run_once(handler, 20ms);
  });
  std::vector<double> result;
  try {
    for (int i = 0; i < kills; ++i) {
      auto [victim, address] = start_victim("shmbus-transport", bus);
      std::optional<transport::peer_info> peer;
      deadline until{victim_ready_timeout};
      for (;;) {
        for (auto& p : self.peers())
          if (p.pid == victim.pid())
            peer = p;
        if (peer || until.expired())
          break;
        std::this_thread::yield();
      }
      if (!peer)
        throw std::runtime_error("victim never joined the bus");
      self.watch(peer->slot, peer->incarnation); // pidfd watched before the kill
      handler.lost.reset();
      handler.watched_pid = victim.pid();
      auto killed = mono_clock::now();
      ::kill(victim.pid(), SIGKILL);
      auto seen = handler.lost.wait(loss_timeout);
      if (!seen)
        throw std::runtime_error("loss of a killed peer not reported within 5 s");
      result.push_back(ms_between(killed, *seen));
    }
  } catch (...) {
    stop = true;
    self.wake();
    consumer.join();
    throw;
  }
  stop = true;
  self.wake();
  consumer.join();
  return result;
}

// -- CAF actors: kill -9 -> down_msg at a local monitor ------------------------

std::vector<double> actor_losses(const std::string& mechanism, int kills) {
  caf::actor_system_config plain;
  bus::config shm;
  caf::actor_system_config& cfg = mechanism == "shmbus-bus" ? shm : plain;
  if (mechanism == "caf-tcp")
    cfg.load<caf::io::middleman>();
  auto bus = "bench-fail-" + std::to_string(::getpid());
  if (mechanism == "shmbus-bus") {
    transport::remove_bus(bus);
    shm.shmbus.bus = bus;
    shm.shmbus.role = "server";
    shm.shmbus.node_name = "survivor";
  }
  caf::actor_system sys{cfg};
  bus::node node;
  if (mechanism == "shmbus-bus")
    node = join_bus(sys);
  std::vector<double> result;
  for (int i = 0; i < kills; ++i) {
    auto [victim, address] = start_victim(mechanism, bus);
    caf::actor target;
    if (node) {
      auto found = node.lookup("victim", caf::timespan{victim_ready_timeout});
      if (!found)
        throw std::runtime_error(sys.render(found.error()));
      target = *found;
    } else {
      auto found = sys.middleman().remote_actor("127.0.0.1",
                                                static_cast<uint16_t>(std::stoi(address)));
      if (!found)
        throw std::runtime_error(sys.render(found.error()));
      target = *found;
    }
    auto down = std::make_shared<stamp>();
    auto watcher = sys.spawn(monitor_once, target, down);
    // The monitor is in place once the watcher answered a message.
    caf::scoped_actor self{sys};
    self->request(watcher, 5s, caf::ok_atom::value).receive([] {}, [](caf::error&) {});
    auto killed = mono_clock::now();
    ::kill(victim.pid(), SIGKILL);
    auto seen = down->wait(loss_timeout);
    if (!seen)
      throw std::runtime_error("down_msg of a killed peer's actor not seen within 5 s");
    result.push_back(ms_between(killed, *seen));
  }
  node.stop();
  return result;
}

// -- module processes under a supervisor ------------------------------------

constexpr auto module_name = "svc";

/// Asks `target` once and tells whether it answered.
bool answers(caf::actor_system& sys, const caf::actor& target) {
  caf::scoped_actor self{sys};
  bool ok = false;
  self->request(target, 5s, caf::ok_atom::value).receive([&] { ok = true; },
                                                          [](caf::error&) {});
  return ok;
}

/// Waits until `name` resolves to an actor of a process other than
/// `old_pid` that answers; returns that process id.
int await_serving(caf::actor_system& sys, bus::node& node, int old_pid) {
  deadline until{10s};
  while (!until.expired()) {
    auto found = node.lookup(module_name, caf::timespan{until.remaining()});
    if (!found)
      continue;
    auto pid = bus::process_id_of(found->node());
    if (pid != old_pid && answers(sys, *found))
      return pid;
    std::this_thread::yield(); // the old incarnation's entry is going away
  }
  throw std::runtime_error("the module did not serve again within 10 s");
}

void module_failover(int kills, measurement& out) {
  bus::config cfg;
  actors::configure(cfg);
  auto bus = "bench-sup-" + std::to_string(::getpid());
  transport::remove_bus(bus);
  cfg.shmbus.bus = bus;
  cfg.shmbus.role = "server";
  cfg.shmbus.node_name = "supervisor";
  caf::actor_system sys{cfg};
  auto node = join_bus(sys);
  actors::module_spec spec;
  spec.name = module_name;
  spec.executable = self_executable();
  spec.args = {role_flag, "failover-module"};
  spec.publishes = {module_name};
  spec.output = [](actors::output_stream, std::string_view) {}; // quiet
  // The module's start-up alone: spawn -> its name answers.
  std::vector<double> startup;
  for (int i = 0; i < 10; ++i) {
    process::os_process::spawn_options opts;
    opts.executable = spec.executable;
    opts.args = actors::module_arguments(spec, bus);
    auto spawned_at = mono_clock::now();
    auto proc = process::os_process::spawn(opts);
    if (!proc)
      throw std::runtime_error(proc.err().message);
    await_serving(sys, node, 0);
    startup.push_back(ms_between(spawned_at, mono_clock::now()));
    node.request_stop((*proc)->pid());
    (*proc)->wait_for(5s);
  }
  add_summary(out, "startup_ms", startup);
  // Under a supervisor: kill -9 -> down_msg, and -> serving again.
  supervision::supervisor_flags flags;
  flags.intensity = kills + 10; // every kill is a restart: never give up here
  flags.period = std::chrono::seconds{3600};
  auto sup = supervision::start_supervisor(sys, flags,
                                      {actors::module_child(spec, node)});
  if (!sup)
    throw std::runtime_error(sys.render(sup.error()));
  std::vector<double> down_ms;
  std::vector<double> serving_ms;
  auto pid = await_serving(sys, node, 0);
  for (int i = 0; i < kills; ++i) {
    auto target = node.lookup(module_name);
    if (!target)
      throw std::runtime_error(sys.render(target.error()));
    // Watches the module's actor as the supervisor's module actor does.
    auto down = std::make_shared<stamp>();
    auto watcher = sys.spawn(monitor_once, *target, down);
    caf::scoped_actor self{sys};
    self->request(watcher, 5s, caf::ok_atom::value).receive([] {}, [](caf::error&) {});
    auto killed = mono_clock::now();
    ::kill(pid, SIGKILL);
    auto seen = down->wait(loss_timeout);
    if (!seen)
      throw std::runtime_error("no down_msg within 5 s of killing the module");
    down_ms.push_back(ms_between(killed, *seen));
    pid = await_serving(sys, node, pid);
    serving_ms.push_back(ms_between(killed, mono_clock::now()));
  }
  add_summary(out, "down_ms", down_ms);
  add_summary(out, "serving_ms", serving_ms);
  out.samples = kills;
  caf::anon_send_exit(*sup, caf::exit_reason::user_shutdown);
  caf::scoped_actor self{sys};
  self->wait_for(*sup);
  node.stop();
}

} // namespace

int failover_module_main(int argc, char** argv) {
  return actors::run_module(argc, argv, [](caf::actor_system& sys, bus::node& node)
                                          -> caf::expected<std::vector<caf::actor>> {
    auto svc = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
      return {[](caf::ok_atom) {}};
    });
    if (auto err = node.publish(svc, module_name))
      return err;
    return std::vector<caf::actor>{svc};
  });
}

int failover_victim_role(const role_args& args) {
  auto mechanism = args.get("mechanism");
  auto bus = args.get("bus");
  if (mechanism == "shmbus-transport") {
    transport::node_options opts;
    opts.bus = bus;
    opts.name = "victim";
    auto started = transport::node::start(opts);
    if (!started)
      throw std::runtime_error(started.err().message);
    announce_ready("");
    loss_recorder ignore;
    for (;;)
      (*started)->run_once(ignore, 100ms);
  }
  bus::config shm;
  caf::actor_system_config plain;
  caf::actor_system_config& cfg = mechanism == "shmbus-bus" ? shm : plain;
  if (mechanism == "caf-tcp")
    cfg.load<caf::io::middleman>();
  shm.shmbus.bus = bus;
  shm.shmbus.node_name = "victim";
  caf::actor_system sys{cfg};
  auto actor = sys.spawn([]() -> caf::behavior { return {[](caf::ok_atom) {}}; });
  bus::node node;
  if (mechanism == "shmbus-bus") {
    node = join_bus(sys);
    if (auto err = node.publish(actor, "victim"))
      throw std::runtime_error(sys.render(err));
    announce_ready("");
  } else {
    auto port = sys.middleman().publish(actor, 0, "127.0.0.1");
    if (!port)
      throw std::runtime_error(sys.render(port.error()));
    announce_ready(std::to_string(*port));
  }
  for (;;)
    ::pause(); // until killed: that is the benchmark
}

int failover_driver_role(const role_args& args) {
  auto mechanism = args.get("mechanism");
  auto kills = static_cast<int>(args.get_int("kills"));
  measurement result;
  if (args.get("bench") == "failover") {
    module_failover(kills, result);
  } else {
    auto lost = mechanism == "shmbus-transport" ? transport_losses(kills)
                                                : actor_losses(mechanism, kills);
    result.samples = lost.size();
    add_summary(result, "lost_ms", lost);
  }
  write_measurement(stdout, result);
  return 0;
}

void run_failover_suite(const run_options& options, report& out) {
  auto kills = options.quick ? 20 : 60;
  auto run = [&](const char* bench, const char* mechanism, std::chrono::seconds budget) {
    if (!options.selects(mechanism))
      return;
    pair_spec spec;
    spec.suite = "failover";
    spec.bench = bench;
    spec.mechanism = mechanism;
    spec.where = unpinned();
    spec.with_peer = false; // the driver starts and kills its own peers
    spec.params.set("kills", static_cast<long long>(kills));
    spec.budget = budget;
    out.add(run_pair(spec));
  };
  for (auto* mechanism : {"shmbus-transport", "shmbus-bus", "caf-tcp"})
    run("peer_lost", mechanism, 120s);
  run("failover", "shmbus-supervisor", 180s);
  out.note("failover: a module process (publishes 'svc', answers requests) runs under "
           "a one_for_one supervisor in the bus server; each round kill -9s it and "
           "times down_ms = until a local monitor of its actor gets the down_msg "
           "(as the supervisor's module actor does) and serving_ms = until the "
           "name resolves to the restarted process and it answers a request; "
           "startup_ms = the module alone from posix_spawn to answering (10 cold "
           "starts: exec, CAF actor system, bus join, publish)");
  out.note("peer_lost: the survivor process starts a victim process, waits until "
           "it is connected, then kill -9s it and times until it knows: "
           "shmbus-transport = the transport's loss event (pidfd), shmbus-bus = "
           "down_msg at a local actor monitoring the victim's actor (shmbus::bus), "
           "caf-tcp = the same over CAF's BASP/TCP (remote_actor on 127.0.0.1); "
           "lost_ms_* over `samples` kills; processes unpinned");
}

} // namespace shmbus::bench
