// Transport benchmarks (`shmbus-bench transport`): round trip, one-way stream
// and idle CPU between two processes, over any transport_mechanism. The
// measurements are written once here; mechanisms only move bytes.
#pragma once

#include <chrono>
#include <cstddef>

#include <sys/types.h>

#include "bench_plan.hpp"
#include "measurement.hpp"
#include "report.hpp"
#include "role_args.hpp"
#include "run_options.hpp"
#include "transport_mechanism.hpp"

namespace shmbus::bench {

/// Smallest payload: every message starts with a 24-byte frame header.
inline constexpr std::size_t min_transport_payload = 24;

/// In A: untimed then timed round trips of `payload`-byte messages that B
/// echoes. Checks every echo's size and sequence number.
measurement measure_rtt(endpoint& ep, std::size_t payload,
                        const bench_plan& plan);

/// In A: sends `payload`-byte messages as fast as the channel takes them for
/// at least `duration`, then asks B how many arrived in order. Fails unless
/// B received every message exactly in sequence. `peer` (B's pid) is sampled
/// for CPU time.
measurement measure_stream(endpoint& ep, std::size_t payload,
                           std::chrono::milliseconds duration, pid_t peer);

/// In A: leaves a connected pair idle (B waiting in receive) for `window`
/// and reports each process's CPU use.
measurement measure_idle(endpoint& ep, std::chrono::milliseconds window,
                         pid_t peer);

/// In A: ends B's serve_peer loop.
void say_goodbye(endpoint& ep);

/// In B: echoes pings, counts and checks stream messages, answers the end of
/// a stream, until A says goodbye. Throws when nothing arrives for
/// `idle_timeout`.
void serve_peer(endpoint& ep, std::chrono::milliseconds idle_timeout);

/// Child roles "transport-a" (driver) and "transport-b" (peer).
int transport_driver_role(const role_args& args);
int transport_peer_role(const role_args& args);

/// The `transport` subcommand: every transport mechanism, every row.
void run_transport_suite(const run_options& options, report& out);

} // namespace shmbus::bench
