// A Nebulas-style node made of processes. This program is the bus server: it
// starts the modules "storage", "consensus" and "rpc" (nebulas-module) under
// a supervisor, and places a "validator" actor inside the storage process by
// remote spawn (a rest_for_one tier: the storage module first, then the
// validator). It produces a few blocks through them, kills storage with
// SIGKILL to show the down_msgs and the restarts (storage first, then the
// validator inside the new storage), and stops everything. Run it under the
// launcher (`bash tools/demo`) or alone:
//
//   nebulas-node --shmbus.bus=demo
//
// It ends by itself after about ten seconds; SIGTERM or Ctrl-C stop it early.
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
#include "shmbus/actors/ready_notice.hpp"
#include "shmbus/actors/remote_child.hpp"
#include "shmbus/bus/config.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/supervision/supervisor.hpp"

using namespace std::chrono_literals;
using namespace nebulas;
namespace actors = shmbus::actors;
namespace supervision = shmbus::supervision;

namespace {

/// The rest_for_one supervisor of storage and the validator inside it.
constexpr const char* storage_tier = "storage-tier";
constexpr const char* validator_id = "validator";

template <class... Ts>
void say(const char* fmt, Ts... xs) {
  std::printf("[node] ");
  std::printf(fmt, xs...);
  std::printf("\n");
  std::fflush(stdout);
}

struct node_config : shmbus::bus::config {
  std::string module_executable;
  caf::timespan block_interval = 1s;
  node_config() {
    shmbus.role = "server";
    shmbus.bus = "nebulas-demo";
    opt_group{custom_options_, "global"}
      .add(module_executable, "module-executable",
           "the modules' program (default: nebulas-module next to this one)")
      .add(block_interval, "block-interval", "time between two blocks");
  }
};

/// Stop signals are taken by wait_for_stop() only; blocked before CAF starts
/// its threads, which inherit the mask.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

/// Waits `d` for SIGTERM/SIGINT: true if one came (then stop early).
bool wait_for_stop(caf::timespan d) {
  auto set = stop_signals();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  auto sig = sigtimedwait(&set, nullptr, &ts);
  if (sig <= 0)
    return false;
  say("%s received: stopping early", sig == SIGINT ? "SIGINT" : "SIGTERM");
  return true;
}

/// The chain as the node drives it, and what it shows of the modules.
struct chain {
  caf::actor_system& sys;
  shmbus::bus::node bus;
  caf::actor supervisor;
  caf::scoped_actor self{sys};
  std::vector<std::string> hashes{"genesis"};

  int pid_of(const caf::actor& x) {
    return actors::process_id_of(x).value_or(0);
  }

  /// Asks consensus to seal the next block and storage to keep it.
  void produce_block() {
    auto height = static_cast<uint64_t>(hashes.size());
    auto txs = "tx" + std::to_string(height * 2 - 1) + ", tx"
               + std::to_string(height * 2);
    auto cons = bus.lookup<consensus_actor>(consensus_name, 2s);
    if (!cons) {
      say("consensus is not reachable: %s", sys.render(cons.error()).c_str());
      return;
    }
    std::string hash;
    self->request(*cons, 2s, propose_atom::value, height, hashes.back(), txs)
      .receive([&](std::string& h) { hash = std::move(h); },
               [&](caf::error& err) {
                 say("consensus refused block %llu: %s",
                     static_cast<unsigned long long>(height),
                     sys.render(err).c_str());
               });
    if (hash.empty())
      return;
    say("consensus (typed actor, pid %d) sealed block %llu: %.8s",
        pid_of(caf::actor_cast<caf::actor>(*cons)),
        static_cast<unsigned long long>(height), hash.c_str());
    hashes.push_back(hash);
    store(height, hash);
    validate(height, hash);
    // Whoever subscribes, in whichever process, hears of it.
    if (auto blocks = sys.groups().get("shmbus", blocks_group))
      self->send(*blocks, new_block_atom::value, height, hash);
  }

  /// The supervisor of storage and its validator.
  caf::actor tier() {
    return child_handle(storage_tier);
  }

  /// Child `id` of the storage tier (null if it does not run).
  caf::actor tier_child(const std::string& id) {
    auto sup = tier();
    if (!sup)
      return nullptr;
    if (auto xs = supervision::which_children(*self, sup))
      for (auto& x : *xs)
        if (x.id == id && x.state == supervision::child_state::running)
          return x.handle;
    return nullptr;
  }

  /// Asks the validator that the supervisor placed inside storage.
  void validate(uint64_t height, const std::string& hash) {
    auto v = tier_child(validator_id);
    if (!v) {
      say("no validator runs now");
      return;
    }
    self->request(v, 2s, validate_atom::value, height, hash)
      .receive(
        [&](std::string& answer) {
          say("validator (remote-spawned into storage, pid %d): %s",
              pid_of(v), answer.c_str());
        },
        [&](caf::error& err) {
          say("validator failed block %llu: %s",
              static_cast<unsigned long long>(height), sys.render(err).c_str());
        });
  }

  void store(uint64_t height, const std::string& hash) {
    auto store = bus.lookup(storage_name, 2s);
    if (!store) {
      say("storage is not reachable: %s", sys.render(store.error()).c_str());
      return;
    }
    self->request(*store, 2s, put_atom::value, height, hash)
      .receive(
        [&](std::string& answer) {
          say("storage (pid %d) answered '%s' for block %llu",
              pid_of(*store), answer.c_str(),
              static_cast<unsigned long long>(height));
        },
        [&](caf::error& err) {
          say("storage failed block %llu: %s",
              static_cast<unsigned long long>(height), sys.render(err).c_str());
        });
  }

  void ask_status() {
    auto rpc = bus.lookup(rpc_name, 2s);
    if (!rpc)
      return;
    self->request(*rpc, 3s, status_atom::value)
      .receive([&](std::string& x) { say("rpc says: %s", x.c_str()); },
               [&](caf::error& err) {
                 say("rpc failed: %s", sys.render(err).c_str());
               });
  }

  void show_children(const char* when) {
    say("which_children %s:", when);
    show_children_of(supervisor, "  ");
  }

  void show_children_of(const caf::actor& sup, const std::string& indent) {
    auto xs = supervision::which_children(*self, sup);
    if (!xs) {
      say("which_children failed: %s", sys.render(xs.error()).c_str());
      return;
    }
    for (auto& x : *xs) {
      auto published = bus.lookup(x.id);
      auto line = indent + x.id + ": " + to_string(x.state);
      auto running = x.state == supervision::child_state::running;
      if (running && published)
        line += ", pid " + std::to_string(pid_of(*published));
      else if (running && x.id == validator_id)
        line += ", remote-spawned into pid " + std::to_string(pid_of(x.handle));
      line += ", restarts " + std::to_string(x.restarts);
      if (x.last_exit_reason)
        line += ", last exit: " + sys.render(x.last_exit_reason);
      say("%s", line.c_str());
      if (x.id == storage_tier && running)
        show_children_of(x.handle, indent + "  ");
    }
  }

  /// kill -9 storage, show what its monitor sees, and a request meanwhile.
  void crash_storage() {
    auto store = bus.lookup(storage_name);
    if (!store)
      return;
    auto pid = pid_of(*store);
    auto validator = tier_child(validator_id);
    self->monitor(*store);
    if (validator)
      self->monitor(validator);
    say("kill -9 storage (pid %d)", pid);
    ::kill(pid, SIGKILL);
    for (int i = 0; i < (validator ? 2 : 1); ++i)
      self->receive(
        [&](caf::down_msg& dm) {
          say("down_msg from %s: %s",
              dm.source == validator.address() ? "the validator inside storage" : "storage",
              sys.render(dm.reason).c_str());
        },
        caf::after(5s) >> [&] { say("no down_msg within 5 s"); });
    self->request(*store, 2s, get_atom::value, uint64_t{1})
      .receive([&](std::string&) { say("the dead storage answered?!"); },
               [&](caf::error& err) {
                 say("a request to the dead storage fails at once: %s",
                     sys.render(err).c_str());
               });
  }

  /// Waits until the supervisor runs storage again (it counts a module as
  /// started once its names resolve to the new process).
  bool await_new_storage(const caf::actor& old_child,
                         const caf::actor& old_validator) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto sup = tier();
      auto xs = sup ? supervision::which_children(*self, sup)
                    : caf::expected<std::vector<supervision::child_info>>{
                      caf::sec::invalid_argument};
      if (!xs)
        break;
      // rest_for_one: storage is restarted first, then the validator.
      auto back = [&](const std::string& id) {
        for (auto& x : *xs)
          if (x.id == id && x.handle && x.handle != old_child
              && x.state == supervision::child_state::running)
            return x.handle;
        return caf::actor{};
      };
      auto new_storage = back(storage_name);
      auto new_validator = back(validator_id);
      if (new_storage && new_validator && new_validator != old_validator) {
        auto store = bus.lookup(storage_name);
        say("storage is back: the supervisor restarted it as pid %d and the "
            "name resolves again",
            store ? pid_of(*store) : 0);
        say("then the validator: remote-spawned again, into the new storage "
            "(pid %d)",
            pid_of(new_validator));
        return true;
      }
      // Not yet: wait a little for the supervisor's down_msg and restart.
      self->receive(caf::after(50ms) >> [] {});
    }
    say("storage did not come back within 5 s");
    return false;
  }

  caf::actor child_handle(const std::string& id) {
    if (auto xs = supervision::which_children(*self, supervisor))
      for (auto& x : *xs)
        if (x.id == id && x.state == supervision::child_state::running)
          return x.handle;
    return nullptr;
  }

  /// Storage keeps blocks in memory: a new storage starts empty.
  void refill_storage() {
    say("the new storage starts empty: storing blocks 1-%zu again",
        hashes.size() - 1);
    for (size_t h = 1; h < hashes.size(); ++h)
      store(h, hashes[h]);
  }

  void stop_supervisor() {
    say("stopping: the supervisor stops rpc, consensus, then the storage tier "
        "(the validator, then storage): newest first, modules by a stop "
        "request over the bus");
    self->monitor(supervisor);
    self->send_exit(supervisor, caf::exit_reason::user_shutdown);
    self->receive(
      [&](caf::down_msg& dm) {
        say("supervisor down: %s", sys.render(dm.reason).c_str());
      },
      caf::after(30s) >> [&] { say("the supervisor did not stop in 30 s"); });
  }
};

} // namespace

int main(int argc, char** argv) {
  auto signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  node_config cfg;
  if (auto err = cfg.parse(argc, argv)) {
    std::fprintf(stderr, "[node] invalid arguments: %s\n",
                 caf::to_string(err).c_str());
    return 1;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  if (cfg.module_executable.empty())
    cfg.module_executable = sibling_program("nebulas-module");
  actors::configure(cfg); // error categories and the supervisor's replies
  caf::actor_system sys{cfg};
  auto bus = shmbus::bus::node::start(sys);
  if (!bus) {
    std::fprintf(stderr, "[node] cannot create bus '%s': %s\n",
                 cfg.shmbus.bus.c_str(), sys.render(bus.error()).c_str());
    return 1;
  }
  say("pid %d created bus '%s'", static_cast<int>(::getpid()),
      cfg.shmbus.bus.c_str());
  auto module = [&](const char* name) {
    actors::module_spec spec;
    spec.name = name;
    spec.executable = cfg.module_executable;
    spec.args = {std::string{"--module="} + name};
    spec.publishes = {name};
    spec.term_after = 1s;
    spec.kill_after = 3s;
    return actors::module_child(spec, *bus);
  };
  // The validator lives inside the storage process: a rest_for_one tier
  // restarts a lost storage first, then places a new validator into it.
  actors::remote_child_spec validator;
  validator.id = validator_id;
  validator.host = storage_name;
  validator.type = validator_type;
  validator.args = caf::make_message(std::string{"the node's supervisor"});
  supervision::supervisor_flags tier_flags;
  tier_flags.name = storage_tier;
  tier_flags.strategy = supervision::restart_strategy::rest_for_one;
  tier_flags.intensity = 3;
  tier_flags.period = 10s;
  std::vector<supervision::child_spec> children;
  children.push_back(supervision::supervisor_spec(
    storage_tier, tier_flags,
    {module(storage_name), actors::remote_child(validator, *bus)}));
  children.push_back(module(consensus_name));
  children.push_back(module(rpc_name));
  supervision::supervisor_flags flags;
  flags.name = "modules";
  flags.intensity = 3;
  flags.period = 10s;
  say("starting modules storage (with a validator remote-spawned into it, "
      "rest_for_one), consensus and rpc under a one_for_one supervisor");
  auto sup = supervision::start_supervisor(sys, flags, std::move(children));
  if (!sup) {
    std::fprintf(stderr, "[node] %s\n", sys.render(sup.error()).c_str());
    return 1;
  }
  // Under shmbus-launch (and systemd's Type=notify): the node is ready.
  actors::notify_ready();
  auto code = 0;
  {
    chain c{sys, *bus, *sup};
    c.show_children("after start");
    auto stopped = false;
    auto blocks = [&](int n) {
      for (int i = 0; i < n && !stopped; ++i) {
        c.produce_block();
        stopped = wait_for_stop(cfg.block_interval);
      }
    };
    blocks(3);
    if (!stopped) {
      c.ask_status();
      auto old_child = c.tier_child(storage_name);
      auto old_validator = c.tier_child(validator_id);
      c.crash_storage();
      if (!c.await_new_storage(old_child, old_validator))
        code = 1;
      c.show_children("after the crash");
      c.refill_storage();
      stopped = wait_for_stop(cfg.block_interval);
    }
    blocks(2);
    if (!stopped)
      c.ask_status();
    c.stop_supervisor();
  }
  bus->stop();
  say("left the bus; exit code %d", code);
  return code;
}
