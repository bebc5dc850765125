// Several machines (`shmbus-bench remote`): request round trips within a
// machine (shmbus), across machines (BASP behind shmbus's directory) and
// over plain CAF TCP in the same run, and how long until a machine that
// stops answering is known lost (BASP heartbeats as shmbus.remote sets
// them). Buses on one host over 127.0.0.1 play the machines.
#pragma once

#include "report.hpp"
#include "role_args.hpp"
#include "run_options.hpp"

namespace shmbus::bench {

/// Child roles: "remote-a" (the driver, measures), "remote-machine" (a bus
/// process with remote on and an echo) and "remote-plain" (plain CAF echo).
int remote_driver_role(const role_args& args);
int remote_machine_role(const role_args& args);
int remote_plain_role(const role_args& args);

/// The `remote` subcommand.
void run_remote_suite(const run_options& options, report& out);

} // namespace shmbus::bench
