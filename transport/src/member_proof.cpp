#include "member_proof.hpp"

#include <cerrno>

#include <unistd.h>

namespace shmbus::transport {

void proven_member::close() noexcept {
  if (pidfd >= 0)
    ::close(pidfd);
  if (proc_dir >= 0)
    ::close(proc_dir);
  pidfd = -1;
  proc_dir = -1;
}

member_prover::member_prover(const bus_lock& lock) : lock_(lock) {
  if (auto id = lock.file_identity())
    file_ = detail::file_identity{id->first, id->second};
}

bool member_prover::slot_held(uint32_t slot) const noexcept {
  return lock_.held_by_other(bus_lock::slot_byte(slot), bus_lock::mode::exclusive);
}

bool member_prover::incarnation_held(uint32_t slot, uint32_t incarnation) const noexcept {
  return lock_.held_by_other(bus_lock::incarnation_byte(slot, incarnation),
                             bus_lock::mode::exclusive);
}

bool member_prover::stall_held(uint32_t slot) const noexcept {
  return lock_.held_by_other(bus_lock::stall_byte(slot), bus_lock::mode::exclusive);
}

proof member_prover::try_pid(uint32_t slot, pid_t pid) const {
  proof result;
  if (pid <= 0) {
    result.status = proof_status::lie;
    return result;
  }
  // The pidfd first: whatever the checks below find is then about the
  // process it pins, provided that process still runs after them.
  auto& m = result.member;
  m.pidfd = detail::open_pidfd(pid);
  if (m.pidfd < 0) {
    result.status = errno == ESRCH ? proof_status::lie : proof_status::unknown;
    return result;
  }
  m.pid = pid;
  m.proc_dir = detail::open_proc_dir(pid);
  std::optional<std::vector<detail::held_lock>> locks;
  if (m.proc_dir >= 0 && file_)
    locks = detail::ofd_locks_on(m.proc_dir, *file_);
  if (!locks) {
    m.close();
    result.status = proof_status::unknown;
    return result;
  }
  auto slot_byte = bus_lock::slot_byte(slot);
  const detail::held_lock* slot_lock = nullptr;
  for (auto& lock : *locks)
    if (lock.write && lock.covers(slot_byte))
      slot_lock = &lock;
  if (slot_lock == nullptr || detail::pidfd_exited(m.pidfd)) {
    m.close();
    result.status = proof_status::lie;
    return result;
  }
  for (auto& lock : *locks)
    if (lock.fd == slot_lock->fd && lock.write && lock.start == lock.end)
      if (auto incarnation = bus_lock::incarnation_at(slot, lock.start))
        m.incarnation = *incarnation;
  result.status = proof_status::proven;
  return result;
}

proof member_prover::prove(uint32_t slot, pid_t claimed, bool search) const {
  if (!slot_held(slot))
    return proof{proof_status::vacant, {}};
  auto result = try_pid(slot, claimed);
  // The member may have left between the two looks at its lock (a member
  // that exits drops it first): no search for a holder that is gone.
  if (result.status == proof_status::lie && !slot_held(slot))
    result.status = proof_status::vacant;
  if (result.status == proof_status::lie && search && file_) {
    auto holder = detail::find_lock_holder(*file_, bus_lock::slot_byte(slot));
    if (holder && *holder != claimed) {
      auto found = try_pid(slot, *holder);
      if (found.status == proof_status::proven)
        return found;
    }
  }
  return result;
}

std::optional<bool> member_prover::declared_stall(const proven_member& m,
                                                  uint32_t slot) const {
  if (m.proc_dir < 0 || !file_)
    return std::nullopt;
  auto locks = detail::ofd_locks_on(m.proc_dir, *file_);
  if (!locks)
    return std::nullopt;
  for (auto& lock : *locks)
    if (lock.write && lock.covers(bus_lock::stall_byte(slot)))
      return true;
  return false;
}

} // namespace shmbus::transport
