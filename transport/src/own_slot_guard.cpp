#include "own_slot_guard.hpp"

namespace shmbus::transport {

namespace {

/// Counters only the liveness thread of the owner writes.
void bump(std::atomic<uint64_t>& counter) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

/// Sets `word` back to `expected`; true if it had another value.
template <class T>
bool restore(std::atomic<T>& word, T expected) noexcept {
  auto seen = word.load(std::memory_order_relaxed);
  if (seen == expected)
    return false;
  word.store(expected, std::memory_order_relaxed);
  return true;
}

} // namespace

own_slot_guard::own_slot_guard(node_slot& slot, uint32_t incarnation)
  : slot_(slot),
    incarnation_(incarnation),
    pid_(slot.pid.load(std::memory_order_relaxed)),
    role_(slot.role.load(std::memory_order_relaxed)),
    process_start_(slot.process_start.load(std::memory_order_relaxed)),
    joined_unix_ns_(slot.joined_unix_ns.load(std::memory_order_relaxed)) {
  for (size_t i = 0; i < std::size(name_); ++i)
    name_[i] = slot.name.words[i].load(std::memory_order_relaxed);
  for (size_t i = 0; i < std::size(user_data_); ++i)
    user_data_[i] = slot.user_data.words[i].load(std::memory_order_relaxed);
}

own_slot_guard::state_check own_slot_guard::check_state(bool may_be_lost,
                                                        uint64_t& seen) noexcept {
  auto alive = make_state_word(node_state::alive, incarnation_);
  auto leaving = make_state_word(node_state::leaving, incarnation_);
  auto lost = make_state_word(node_state::lost, incarnation_);
  // Pairs with the acq_rel CAS of a peer that declares us lost.
  seen = slot_.state.load(std::memory_order_acquire);
  bool leaving_now = leaving_.load(std::memory_order_acquire);
  if (seen == alive || (leaving_now && seen == leaving) || (declared_lost_ && seen == lost))
    return state_check::ok;
  if (seen == lost && (may_be_lost || declared_lost_))
    return state_check::evicted;
  auto expected = declared_lost_ ? lost : leaving_now ? leaving : alive;
  // A CAS, so that a peer's rightful verdict that lands meanwhile stays.
  auto found = seen;
  if (slot_.state.compare_exchange_strong(found, expected, std::memory_order_acq_rel))
    bump(slot_.slot_repairs);
  return state_check::restored;
}

std::vector<std::string> own_slot_guard::restore_identity() noexcept {
  std::vector<std::string> restored;
  if (restore(slot_.pid, pid_))
    restored.emplace_back("pid");
  if (restore(slot_.role, role_))
    restored.emplace_back("role");
  if (restore(slot_.process_start, process_start_))
    restored.emplace_back("process_start");
  if (restore(slot_.joined_unix_ns, joined_unix_ns_))
    restored.emplace_back("joined_unix_ns");
  bool name = false;
  for (size_t i = 0; i < std::size(name_); ++i)
    name = restore(slot_.name.words[i], name_[i]) || name;
  if (name)
    restored.emplace_back("name");
  bool user_data = false;
  for (size_t i = 0; i < std::size(user_data_); ++i)
    user_data = restore(slot_.user_data.words[i], user_data_[i]) || user_data;
  if (user_data)
    restored.emplace_back("user_data");
  for (size_t i = 0; i < restored.size(); ++i)
    bump(slot_.slot_repairs);
  return restored;
}

bool own_slot_guard::restore_heartbeat(int64_t last_round, int64_t now) noexcept {
  if (last_round == 0)
    return false; // the consumer has not stamped yet
  // Loaded after `last_round` (acquire): the consumer wrote the word first,
  // so it is never older unless somebody else set it back.
  auto word = slot_.heartbeat_ns.load(std::memory_order_relaxed);
  if (word >= last_round && word <= now)
    return false;
  // A CAS: the consumer's next stamp, if it lands first, wins.
  if (slot_.heartbeat_ns.compare_exchange_strong(word, last_round, std::memory_order_relaxed))
    bump(slot_.heartbeat_repairs);
  return true;
}

bool own_slot_guard::restore_consumer_tid(int32_t tid, int32_t previous) noexcept {
  auto word = slot_.consumer_tid.load(std::memory_order_relaxed);
  if (tid == 0 || word == tid || word == previous)
    return false;
  slot_.consumer_tid.store(tid, std::memory_order_relaxed);
  bump(slot_.slot_repairs);
  return true;
}

} // namespace shmbus::transport
