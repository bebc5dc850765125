// Group fan-out (`shmbus-bench groups`, rows `group_fanout`): one publisher
// sends events to a CAF group whose subscriber actors are spread over 3
// other processes; delivered events per second and the publisher's CPU per
// event, over shmbus's `shmbus` groups, CAF's remote groups over TCP and a
// local group in one process, in one run.
#pragma once

#include "report.hpp"
#include "role_args.hpp"
#include "run_options.hpp"

namespace shmbus::bench {

/// Child roles "groups-a" (the publisher, measures; starts its own
/// subscriber processes) and "groups-sub" (subscriber actors).
int groups_driver_role(const role_args& args);
int groups_subscriber_role(const role_args& args);

/// The `groups` subcommand.
void run_groups_suite(const run_options& options, report& out);

} // namespace shmbus::bench
