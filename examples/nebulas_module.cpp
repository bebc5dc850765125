// One program, three Nebulas modules: `nebulas-module --module=storage`,
// `--module=consensus` or `--module=rpc`. The node's supervisor starts them
// with module_child(), which appends the --shmbus.* flags; run_module() does
// the rest (join the bus, publish, wait for the stop request, leave).
#include <cstdio>
#include <functional>
#include <map>
#include <string>

#include <unistd.h>

#include <caf/all.hpp>

#include "nebulas_protocol.hpp"
#include "shmbus/actors/module_main.hpp"
#include "shmbus/bus/config.hpp"
#include "shmbus/bus/errc.hpp"
#include "shmbus/bus/node.hpp"

using namespace nebulas;

namespace {

/// Every line a module prints: the node's supervisor forwards it with the
/// module's name in front.
template <class... Ts>
void say(const char* fmt, Ts... xs) {
  std::printf(fmt, xs...);
  std::printf("\n");
  std::fflush(stdout);
}

// -- validator (spawned into storage from another process) --------------------

struct validator_state {
  uint64_t checked = 0;
};

/// Checks blocks next to the data they refer to. `node` names the process
/// it was placed into: it is not spawned here, but by the node's supervisor
/// through remote spawn.
caf::behavior validator(caf::stateful_actor<validator_state>* self,
                        std::string node) {
  say("validator spawned here for %s (pid %d)", node.c_str(),
      static_cast<int>(::getpid()));
  return {
    [=](validate_atom, uint64_t height, const std::string& hash) {
      ++self->state.checked;
      return "block " + std::to_string(height) + " (" + hash.substr(0, 8)
             + ") valid; " + std::to_string(self->state.checked)
             + " checked by this validator in pid "
             + std::to_string(::getpid());
    },
  };
}

struct module_config : shmbus::bus::config {
  std::string module;
  module_config() {
    opt_group{custom_options_, "global"}.add(module, "module",
                                             "storage, consensus or rpc");
    // Other processes of the bus may spawn validators here (remote spawn).
    add_actor_type(validator_type, validator);
  }
};

// -- storage ------------------------------------------------------------------

struct storage_state {
  std::map<uint64_t, std::string> blocks; // in memory: gone with the process
};

caf::behavior storage(caf::stateful_actor<storage_state>* self) {
  return {
    [=](put_atom, uint64_t height, const std::string& hash) {
      self->state.blocks[height] = hash;
      say("stored block %llu (%s)", static_cast<unsigned long long>(height),
          hash.c_str());
      return std::string{"stored"};
    },
    [=](get_atom, uint64_t height) -> caf::result<std::string> {
      auto i = self->state.blocks.find(height);
      if (i == self->state.blocks.end())
        return caf::make_error(caf::sec::invalid_argument,
                               "no block " + std::to_string(height));
      return i->second;
    },
    [=](count_atom) { return static_cast<uint64_t>(self->state.blocks.size()); },
  };
}

// -- consensus (a typed actor) ------------------------------------------------

struct consensus_state {
  uint64_t last_height = 0;
};

consensus_actor::behavior_type
consensus(consensus_actor::stateful_pointer<consensus_state> self) {
  return {
    [=](propose_atom, uint64_t height, const std::string& parent,
        const std::string& txs) -> caf::result<std::string> {
      auto& last = self->state.last_height;
      if (height != last + 1) {
        say("rejected block %llu: expected height %llu",
            static_cast<unsigned long long>(height),
            static_cast<unsigned long long>(last + 1));
        return caf::make_error(caf::sec::invalid_argument,
                               "height " + std::to_string(height)
                                 + " does not follow " + std::to_string(last));
      }
      last = height;
      auto digest = std::hash<std::string>{}(parent + "|" + txs);
      char hash[17];
      std::snprintf(hash, sizeof(hash), "%016zx", digest);
      say("sealed block %llu with [%s] -> %.8s",
          static_cast<unsigned long long>(height), txs.c_str(), hash);
      return std::string{hash};
    },
  };
}

// -- rpc ----------------------------------------------------------------------

/// Answers status queries by asking storage itself: module to module over
/// the bus, looking storage up each time so that a restarted storage (new
/// process, new actor) is found. Hears of new blocks through the group.
caf::behavior rpc(caf::event_based_actor* self, shmbus::bus::node bus) {
  if (auto blocks = self->system().groups().get("shmbus", blocks_group))
    self->join(*blocks);
  return {
    [=](new_block_atom, uint64_t height, const std::string& hash) {
      say("rpc heard of block %llu (%.8s) through group '%s'",
          static_cast<unsigned long long>(height), hash.c_str(), blocks_group);
    },
    [=](status_atom) -> caf::result<std::string> {
      auto store = bus.lookup(storage_name);
      if (!store)
        return std::string{"storage is not on the bus"};
      auto promise = self->make_response_promise<std::string>();
      self->request(*store, std::chrono::seconds{2}, count_atom::value)
        .then(
          [=](uint64_t n) mutable {
            say("status: storage holds %llu block(s)",
                static_cast<unsigned long long>(n));
            promise.deliver("storage holds " + std::to_string(n)
                            + " block(s)");
          },
          [=](caf::error& err) mutable {
            promise.deliver("storage did not answer: "
                            + self->system().render(err));
          });
      return promise;
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  module_config cfg;
  auto code = shmbus::actors::run_module(
    cfg, argc, argv,
    [&](caf::actor_system& sys, shmbus::bus::node& bus)
      -> caf::expected<std::vector<caf::actor>> {
      caf::actor actor;
      caf::error err;
      if (cfg.module == "storage") {
        actor = sys.spawn(storage);
        err = bus.publish(actor, storage_name);
      } else if (cfg.module == "consensus") {
        auto typed = sys.spawn(consensus);
        err = bus.publish(typed, consensus_name);
        actor = caf::actor_cast<caf::actor>(typed);
      } else if (cfg.module == "rpc") {
        actor = sys.spawn(rpc, bus);
        err = bus.publish(actor, rpc_name);
      } else {
        return caf::make_error(caf::sec::invalid_argument,
                               "--module must be storage, consensus or rpc, "
                               "not '" + cfg.module + "'");
      }
      if (err)
        return err;
      say("pid %d on bus '%s', published '%s'", static_cast<int>(::getpid()),
          bus.settings().bus.c_str(), cfg.module.c_str());
      return std::vector<caf::actor>{actor};
    });
  say("left the bus, exit code %d", code);
  return code;
}
