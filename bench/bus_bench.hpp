// Actor benchmarks (`shmbus-bench bus`): request/response round trip, a
// flow-controlled one-way stream and idle CPU between a CAF actor in process
// A and one in process B, over any bus_mechanism.
#pragma once

#include <cstddef>
#include <cstdint>

#include "report.hpp"
#include "role_args.hpp"
#include "run_options.hpp"

namespace shmbus::bench {

/// B acknowledges every this many stream messages ...
inline constexpr std::uint64_t stream_ack_interval = 1024;

/// ... and A keeps at most this many unacknowledged messages in flight, so
/// B's mailbox stays bounded however slow B is.
inline constexpr std::uint64_t stream_window = 8 * stream_ack_interval;

/// Payload of each send_stream message (a std::string of this many bytes).
inline constexpr std::size_t stream_payload_bytes = 64;

/// Child roles "bus-a" (driver) and "bus-b" (peer).
int bus_driver_role(const role_args& args);
int bus_peer_role(const role_args& args);

/// The `bus` subcommand: every bus mechanism, every row.
void run_bus_suite(const run_options& options, report& out);

} // namespace shmbus::bench
