// The main function of a module program: joins the bus named on its command
// line (module_child passes it), lets `init` spawn and publish the module's
// actors, runs until the supervising process asks it to stop, then tears
// down in order.
//
//   int main(int argc, char** argv) {
//     return shmbus::actors::run_module(argc, argv,
//       [](caf::actor_system& sys, shmbus::bus::node& bus)
//         -> caf::expected<std::vector<caf::actor>> {
//         auto store = sys.spawn(storage_actor);
//         if (auto err = bus.publish(store, "storage"))
//           return err;
//         return std::vector<caf::actor>{store};
//       });
//   }
#pragma once

#include <functional>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "shmbus/actors/fwd.hpp"

namespace shmbus::bus {
class config;
class node;
} // namespace shmbus::bus

namespace shmbus::actors {

/// Sets a module up once it is on the bus. Returns the actors to stop
/// (newest last) when the module stops, or an error that ends the module
/// with exit code 1.
using module_init = std::function<caf::expected<std::vector<caf::actor>>(
  caf::actor_system& sys, bus::node& bus)>;

/// Exit codes of run_module(); a lost server gives
/// `bus_settings::server_lost_exit_code` (75 unless configured) with
/// on-server-lost=exit (run_module's default), `stopped` with "continue".
namespace module_exit_code {
constexpr int stopped = 0;      ///< asked to stop, or --help
constexpr int setup_failed = 1; ///< bad arguments, no bus, init failed
constexpr int evicted = 2;      ///< the peers declared this module lost (it hung)
} // namespace module_exit_code

/// Registers this layer with `cfg` (actors::configure), parses the command
/// line into it (`--shmbus.*` flags anywhere in it, the program's own
/// options after them; on-server-lost defaults to "exit" here), starts the
/// actor system and the bus node, calls `init`, waits for a stop request,
/// the loss of the server or this node's eviction, then leaves the bus,
/// stops the actors `init` returned one by one (newest first: exit, then
/// await its down_msg, all within defaults::module_actors_stop_timeout) and
/// the actor system, and returns the exit code (module_exit_code). A lost
/// server is the seed's "restart both": the bus reports it after the down
/// messages of the server's actors were enqueued, the actors see them
/// before their exit, and main returns server-lost-exit-code so that a
/// launcher restarts everything. Errors go to stderr with what to do about
/// them.
/// @warning Blocks the calling thread (a program's main) until the module
/// stops.
int run_module(bus::config& cfg, int argc, char** argv, module_init init);

/// As above with a plain bus::config.
int run_module(int argc, char** argv, module_init init);

} // namespace shmbus::actors
