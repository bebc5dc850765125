// Big payloads (`shmbus-bench buffers`): a request carrying 64 B .. 16 MiB
// from an actor in process A to one in process B, which answers with the
// size and a checksum of the first and last 64 bytes; as a shared_buffer
// through shmbus (only a handle crosses), as a std::vector<uint8_t> through
// shmbus, CAF's TCP networking and CAF in one process.
#pragma once

#include "report.hpp"
#include "role_args.hpp"
#include "run_options.hpp"

namespace shmbus::bench {

/// Child roles "buffers-a" (driver) and "buffers-b" (peer).
int buffer_driver_role(const role_args& args);
int buffer_peer_role(const role_args& args);

/// The `buffers` subcommand.
void run_buffer_suite(const run_options& options, report& out);

} // namespace shmbus::bench
