// Who is the member of a node slot, asked of the kernel rather than of the
// node table. A member holds write locks in the bus's lock file (see
// bus_lock.hpp): its slot byte for as long as it owns the slot, an
// incarnation byte for as long as it is that incarnation, and the slot's
// stall byte once it declared itself stuck. F_OFD_GETLK says whether such a
// byte is held, but not by whom (l_pid is -1 for OFD locks);
// /proc/<pid>/fdinfo lists the locks each descriptor of a process holds, so
// "pid P is the member of slot k" is checked there.
//
// A proof opens a pidfd first, then checks the locks, then checks that the
// pidfd's process still runs: the pidfd then belongs to the process that
// held the lock, and a signal through it cannot reach an unrelated process
// that later got the same pid.
//
// Every query is a few system calls or /proc reads, except a search of
// every process (find_lock_holder), which the caller rate-limits.
// Thread safety: const member functions only; safe from any thread while
// the bus_lock it reads stays open.
#pragma once

#include <cstdint>
#include <optional>

#include <sys/types.h>

#include "shmbus/transport/bus_lock.hpp"

#include "process_info.hpp"

namespace shmbus::transport {

/// A process proven to be a slot's member, with descriptors that stay valid
/// whatever happens to its pid. The owner of this value closes them (close()).
struct proven_member {
  pid_t pid = 0;
  int pidfd = -1;
  int proc_dir = -1;
  /// The incarnation whose byte it holds through the same descriptor as the
  /// slot byte; 0 if it holds none.
  uint32_t incarnation = 0;

  void close() noexcept;
};

enum class proof_status {
  proven,  ///< `member` holds the slot's lock
  vacant,  ///< nobody holds the slot's lock: the slot has no member
  lie,     ///< the pid the table names does not hold the slot's lock, somebody else does
  unknown, ///< the kernel does not tell (no pidfd, /proc unreadable, the process is exiting)
};

struct proof {
  proof_status status = proof_status::unknown;
  proven_member member; ///< when proven
};

class member_prover {
public:
  /// Reads the identity of the lock file behind `lock`, which must stay
  /// open while this prover is used.
  explicit member_prover(const bus_lock& lock);

  /// Whether another open file description holds the lock byte of the
  /// slot, of one incarnation of it, of its stall declaration. Snapshots.
  bool slot_held(uint32_t slot) const noexcept;
  bool incarnation_held(uint32_t slot, uint32_t incarnation) const noexcept;
  bool stall_held(uint32_t slot) const noexcept;

  /// Proves that `claimed` (the table's pid word) is the member of `slot`.
  /// With `search`, a failed claim is followed by a search of every
  /// process for the real holder (milliseconds; rate-limit it).
  proof prove(uint32_t slot, pid_t claimed, bool search) const;

  /// Whether proven member `m` holds the stall byte of `slot`; nullopt if
  /// its fdinfo cannot be read.
  std::optional<bool> declared_stall(const proven_member& m, uint32_t slot) const;

private:
  proof try_pid(uint32_t slot, pid_t pid) const;

  const bus_lock& lock_;
  std::optional<detail::file_identity> file_;
};

} // namespace shmbus::transport
