#include "shmbus/actors/remote_child.hpp"

#include "shmbus/bus/errc.hpp"
#include "shmbus/bus/remote_spawn.hpp"

namespace shmbus::actors {

caf::expected<caf::actor> start_remote_child(const remote_child_spec& spec, bus::node bus,
                                             const std::set<std::string>& interface,
                                             const caf::message& extra_args) {
  auto args = extra_args.empty() ? spec.args : spec.args + extra_args;
  int stale_pid = 0;
  for (;;) {
    auto host = bus.lookup(spec.host, spec.host_wait);
    if (!host)
      return bus::make_error(bus::errc::name_not_found,
                             "remote child '" + spec.id + "': its host '" + spec.host
                               + "' is not on the bus (gone or restarting; the supervisor "
                                 "retries): "
                               + bus.system().render(host.error()));
    auto pid = bus::process_id_of(host->node());
    auto x = bus::remote_spawner::spawn(bus, pid, spec.type, args, interface,
                                        spec.spawn_timeout);
    if (x)
      return caf::actor_cast<caf::actor>(std::move(*x));
    // The host's process died between the lookup and the spawn: its name
    // goes with it, and the next lookup waits for the restarted process.
    // The same dead process twice means its name outlived it: give up.
    if (x.error() != bus::errc::peer_lost || pid == stale_pid)
      return std::move(x.error());
    stale_pid = pid;
  }
}

} // namespace shmbus::actors
