// Failure benchmarks (`shmbus-bench failover`): how long after a kill -9 the
// survivors know, over shmbus's transport, over shmbus's CAF layer and over
// CAF's own TCP networking, in one run.
#pragma once

#include "report.hpp"
#include "role_args.hpp"
#include "run_options.hpp"

namespace shmbus::bench {

/// Child roles "failover-a" (the survivor, measures) and "failover-victim".
int failover_driver_role(const role_args& args);
int failover_victim_role(const role_args& args);

/// main() of the module program the failover row supervises (the bench
/// itself, started as `shmbus-bench --role failover-module --shmbus...`).
int failover_module_main(int argc, char** argv);

/// The `failover` subcommand.
void run_failover_suite(const run_options& options, report& out);

} // namespace shmbus::bench
