// The Nebulas demo on two machines: storage on one, consensus on the other.
// Each machine is a bus whose server (this program) supervises its own
// modules (nebulas-module); the machines talk over CAF's BASP, found
// through each other's directory (README, "Several machines"). On one host
// two buses over 127.0.0.1 play the machines (`bash tools/demo-machines`):
//
//   nebulas-machines --machine=storage --shmbus.bus=eu1 --shmbus.remote.enabled
//   nebulas-machines --machine=consensus --shmbus.bus=eu2 --shmbus.remote.enabled
//     --shmbus.remote.seeds='["127.0.0.1:<port the storage machine printed>"]'
//   (one command line)
//
// The consensus machine seals blocks and stores them on the storage
// machine ("storage@eu1"); the storage machine kills its storage module
// once it holds three blocks; its supervisor restarts it; the consensus
// machine sees the down_msg over BASP, finds the new storage by name and
// stores the chain again, then both stop.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>

#include <caf/all.hpp>

#include "nebulas_protocol.hpp"
#include "sibling_program.hpp"
#include "shmbus/actors/errc.hpp"
#include "shmbus/actors/module_spec.hpp"
#include "shmbus/bus/config.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/supervision/supervisor.hpp"

using namespace std::chrono_literals;
using namespace nebulas;
namespace actors = shmbus::actors;
namespace supervision = shmbus::supervision;

namespace {

std::string machine_name = "machine";

template <class... Ts>
void say(const char* fmt, Ts... xs) {
  std::printf("[%s] ", machine_name.c_str());
  std::printf(fmt, xs...);
  std::printf("\n");
  std::fflush(stdout);
}

struct machines_config : shmbus::bus::config {
  std::string machine;
  std::string storage_bus;
  std::string module_executable;
  machines_config() {
    shmbus.role = "server";
    opt_group{custom_options_, "global"}
      .add(machine, "machine", "\"storage\" or \"consensus\": what this machine runs")
      .add(storage_bus, "storage-bus", "consensus: the bus of the storage machine")
      .add(module_executable, "module-executable",
           "the modules' program (default: nebulas-module next to this one)");
  }
};

template <class Handle>
int pid_of(const Handle& x) {
  return shmbus::bus::process_id_of(x.node());
}

/// Waits up to `d` for SIGTERM/SIGINT: true if one came.
bool wait_for_stop(caf::timespan d) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  return sigtimedwait(&set, nullptr, &ts) > 0;
}

/// The storage machine: once storage holds three blocks, kill -9 it (its
/// supervisor restarts it); then serve until stopped.
void run_storage_machine(caf::actor_system& sys, shmbus::bus::node& bus) {
  caf::scoped_actor self{sys};
  for (int i = 0; i < 600; ++i) {
    uint64_t count = 0;
    if (auto store = bus.lookup(storage_name))
      self->request(*store, 1s, count_atom::value)
        .receive([&](uint64_t n) { count = n; }, [](caf::error&) {});
    if (count >= 3) {
      auto store = bus.lookup(storage_name);
      say("storage (pid %d) holds 3 blocks from the other machine: kill -9 it",
          pid_of(*store));
      ::kill(pid_of(*store), SIGKILL);
      break;
    }
    if (wait_for_stop(100ms))
      return;
  }
  wait_for_stop(60s);
}

/// The consensus machine: seals blocks here, stores them there.
struct chain {
  caf::actor_system& sys;
  shmbus::bus::node& bus;
  std::string storage_at;
  caf::scoped_actor self{sys};
  std::vector<std::string> hashes{std::string(64, '0')};

  caf::actor storage() {
    auto store = bus.lookup(storage_at, 5s);
    if (!store) {
      say("storage is not reachable: %s", sys.render(store.error()).c_str());
      return nullptr;
    }
    return *store;
  }

  void produce_block() {
    auto height = static_cast<uint64_t>(hashes.size());
    auto cons = bus.lookup<consensus_actor>(consensus_name, 2s);
    if (!cons) {
      say("consensus is not reachable: %s", sys.render(cons.error()).c_str());
      return;
    }
    self->request(*cons, 2s, propose_atom::value, height, hashes.back(),
                  "tx" + std::to_string(height))
      .receive([&](std::string& hash) { hashes.push_back(hash); },
               [&](caf::error& err) { say("consensus refused: %s", sys.render(err).c_str()); });
    say("consensus (this machine, pid %d) sealed block %llu", pid_of(*cons),
        static_cast<unsigned long long>(height));
    store(height);
  }

  void store(uint64_t height) {
    auto store = storage();
    if (!store)
      return;
    self->request(store, 2s, put_atom::value, height, hashes[height])
      .receive(
        [&](std::string& x) {
          say("storage on the other machine (pid %d) answered '%s' for block %llu",
              pid_of(store), x.c_str(), static_cast<unsigned long long>(height));
        },
        [&](caf::error& err) { say("storage failed: %s", sys.render(err).c_str()); });
  }

  /// Waits for the remote storage's down_msg, then for its successor.
  bool follow_restart() {
    auto old = storage();
    if (!old)
      return false;
    self->monitor(old);
    bool down = false;
    self->receive(
      [&](caf::down_msg& dm) {
        down = true;
        say("down_msg from storage on the other machine: %s", sys.render(dm.reason).c_str());
      },
      caf::after(10s) >> [&] { say("no down_msg within 10 s"); });
    if (!down)
      return false;
    for (int i = 0; i < 100; ++i) {
      auto store = bus.lookup(storage_at, 1s);
      if (store && *store != old) {
        say("the storage machine's supervisor restarted storage as pid %d; found it "
            "by name again",
            pid_of(*store));
        return true;
      }
      self->receive(caf::after(100ms) >> [] {});
    }
    return false;
  }
};

actors::module_spec module(const machines_config& cfg, const char* name) {
  actors::module_spec spec;
  spec.name = name;
  spec.executable = cfg.module_executable;
  spec.args = {std::string{"--module="} + name, "--shmbus.remote.enabled"};
  if (!cfg.shmbus.remote_seeds.empty()) {
    std::string seeds = "--shmbus.remote.seeds=[";
    for (auto& seed : cfg.shmbus.remote_seeds)
      seeds += (seeds.back() == '[' ? "\"" : ",\"") + seed + "\"";
    spec.args.push_back(seeds + "]");
  }
  spec.publishes = {name};
  spec.term_after = 1s;
  spec.kill_after = 3s;
  return spec;
}

} // namespace

int main(int argc, char** argv) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  machines_config cfg;
  if (auto err = cfg.parse(argc, argv)) {
    std::fprintf(stderr, "invalid arguments: %s\n", caf::to_string(err).c_str());
    return 1;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  if (cfg.machine != "storage" && cfg.machine != "consensus") {
    std::fprintf(stderr, "--machine must be storage or consensus\n");
    return 1;
  }
  machine_name = cfg.machine + "-machine";
  cfg.shmbus.remote = true;
  if (cfg.module_executable.empty())
    cfg.module_executable = sibling_program("nebulas-module");
  actors::configure(cfg);
  caf::actor_system sys{cfg};
  auto bus = shmbus::bus::node::start(sys);
  if (!bus) {
    std::fprintf(stderr, "cannot create bus '%s': %s\n", cfg.shmbus.bus.c_str(),
                 sys.render(bus.error()).c_str());
    return 1;
  }
  say("bus '%s', BASP port %u", cfg.shmbus.bus.c_str(),
      static_cast<unsigned>(bus->remote().port));
  const char* runs = cfg.machine == "storage" ? storage_name : consensus_name;
  supervision::supervisor_flags flags;
  flags.name = "modules";
  flags.intensity = 3;
  flags.period = 10s;
  auto sup = supervision::start_supervisor(sys, flags,
                                           {actors::module_child(module(cfg, runs), *bus)});
  if (!sup) {
    std::fprintf(stderr, "%s\n", sys.render(sup.error()).c_str());
    return 1;
  }
  say("supervising module %s on this machine", runs);
  auto code = 0;
  if (cfg.machine == "storage") {
    run_storage_machine(sys, *bus);
  } else {
    chain c{sys, *bus, std::string{storage_name} + "@" + cfg.storage_bus};
    for (int i = 0; i < 3; ++i)
      c.produce_block();
    if (!c.follow_restart())
      code = 1;
    say("the new storage starts empty: storing blocks 1-%zu again", c.hashes.size() - 1);
    for (uint64_t h = 1; h < c.hashes.size(); ++h)
      c.store(h);
  }
  caf::scoped_actor self{sys};
  self->monitor(*sup);
  self->send_exit(*sup, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {}, caf::after(30s) >> [] {});
  bus->stop();
  say("stopped; exit code %d", code);
  return code;
}
