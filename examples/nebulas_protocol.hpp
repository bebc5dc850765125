// What the demo node and its modules say to each other over the bus. A
// Nebulas node split into processes: the node (bus server) drives the chain,
// "storage" keeps blocks, "consensus" validates and seals them (a typed
// actor), "rpc" answers status queries by asking storage itself.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace nebulas {

// storage:   (put_atom, height, hash) -> "stored"
//            (get_atom, height)       -> hash, or an error
//            (count_atom)             -> number of blocks
using put_atom = caf::atom_constant<caf::atom("put")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using count_atom = caf::atom_constant<caf::atom("count")>;

// consensus: seals block `height` on top of `parent` with its transactions;
// answers the block's hash, or an error if the height does not follow.
using propose_atom = caf::atom_constant<caf::atom("propose")>;
using consensus_actor = caf::typed_actor<
  caf::replies_to<propose_atom, uint64_t, std::string, std::string>::with<
    std::string>>;

// rpc:       (status_atom) -> a line describing the chain
using status_atom = caf::atom_constant<caf::atom("status")>;

// validator: an actor type that storage registers (add_actor_type) and the
// node's supervisor places into the storage process by remote spawn.
//            (validate_atom, height, hash) -> a line saying what it checked
using validate_atom = caf::atom_constant<caf::atom("validate")>;
constexpr const char* validator_type = "validator";
// group "blocks" of the bus's group module "shmbus": the node announces
// every sealed block as (new_block_atom, height, hash); modules that care
// join it (rpc does).
using new_block_atom = caf::atom_constant<caf::atom("newblock")>;
constexpr const char* blocks_group = "blocks";

/// Names the modules publish on the bus.
constexpr const char* storage_name = "storage";
constexpr const char* consensus_name = "consensus";
constexpr const char* rpc_name = "rpc";

} // namespace nebulas
