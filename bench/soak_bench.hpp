// The endurance benchmark (`shmbus-bench soak`): 8 processes on one bus for
// 10 minutes (--quick: 1), a supervisor process that restarts 7 module
// processes, random kill -9 and SIGSTOP of modules, requests and streams
// throughout. It measures what must not happen: a request that gets neither
// an answer nor an error (lost), memory that grows (rss_growth_pct of the
// processes that live through the run), zombies, files left in /dev/shm.
#pragma once

#include "report.hpp"
#include "role_args.hpp"
#include "run_options.hpp"

namespace shmbus::bench {

/// Child role "soak-a": the bus server with the supervisor, the load and the
/// chaos; writes the measurement.
int soak_driver_role(const role_args& args);

/// main() of the module program the soak supervises (the bench itself,
/// started as `shmbus-bench --role soak-module index=K --shmbus...`).
int soak_module_main(int argc, char** argv);

/// The `soak` subcommand.
void run_soak_suite(const run_options& options, report& out);

} // namespace shmbus::bench
