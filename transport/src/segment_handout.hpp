// How a process of a bus hands the segment to a process that joins it, and
// how the joiner checks what it gets. The segment is a memfd; the processes
// of a bus share one listening Unix stream socket, bound to
// /dev/shm/shmbus-<bus>.sock by the server and passed on with the segment,
// so that every process of the bus accepts on it (segment_acceptor.hpp):
//
//   joiner                                     any process of the bus
//   lstat: a socket of ours (bus_file.hpp)
//   connect (SO_PASSCRED set)    -------->     accept (non-blocking)
//                                <--------     hello + SCM_RIGHTS {memfd, listener},
//                                              sent with MSG_DONTWAIT, then close
//   check the sender's credentials (SCM_CREDENTIALS, filled in by the kernel):
//   its uid, and its pid against the pid it wrote: the kernel translates the
//   pid into the joiner's PID namespace, so a mismatch (or 0) means another
//   namespace, where the pids in the node table mean nothing;
//   check the memfd's seals (no shrink, no grow) and size.
//
// SO_PEERCRED would not do: on a connecting socket it names the process
// that called listen() (the server, maybe long dead), not the one that
// accepted.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "shmbus/transport/error.hpp"

#include "unique_fd.hpp"

namespace shmbus::transport::detail {

/// What an acceptor sends with the descriptors. Processes of other builds
/// read it: it only ever grows at its end (hello_version).
struct handout_hello {
  uint64_t magic;          // 0: handout_magic
  uint32_t hello_version;  // 8
  uint32_t layout_version; // 12: of the acceptor's build
  int32_t pid;             // 16: the acceptor's getpid(), in its namespace
  uint32_t descriptors;    // 20: how many were attached (memfd, listener)
  uint64_t segment_bytes;  // 24
};

constexpr uint64_t handout_magic = 0x4f48'5355'424d'4853; // "SHMBUSHO"
constexpr uint32_t handout_hello_version = 1;
static_assert(sizeof(handout_hello) == 32);

/// Pending connections a listening socket queues.
constexpr int handout_backlog = 64;

/// Binds and listens on the socket of `bus` with mode `file_mode`,
/// replacing a stale socket file of ours; refuses anything else in the way.
/// The caller holds the bus's server and members locks. Never blocks.
result<unique_fd> listen_for_joiners(std::string_view bus, unsigned file_mode);

struct received_segment {
  unique_fd memfd;
  unique_fd listener; ///< invalid if the sender attached none
  handout_hello hello{};
};

/// Connects to the socket of `bus` and receives and checks its segment.
/// @warning Blocks the caller up to `timeout`.
result<received_segment> fetch_segment(std::string_view bus,
                                       std::chrono::nanoseconds timeout);

/// Answers one accepted connection with the hello and the descriptors,
/// never waiting (a joiner that does not read gets nothing). `listener`
/// may be -1. False if the message could not be sent. Never blocks.
bool serve_joiner(int connection, int memfd, int listener,
                  uint64_t segment_bytes) noexcept;

} // namespace shmbus::transport::detail
