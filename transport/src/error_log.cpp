#include "shmbus/transport/error_log.hpp"

#include <chrono>

#include "entry_owner.hpp"

namespace shmbus::transport {

namespace {

int64_t unix_ns_now() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// The text as its field keeps it: an error matches what was stored.
template <size_t Bytes>
std::string_view cut(std::string_view x) noexcept {
  return x.substr(0, atomic_text<Bytes>::capacity);
}

uint64_t fnv1a(std::string_view kind, std::string_view text) noexcept {
  uint64_t h = 0xcbf29ce484222325;
  auto mix = [&](std::string_view x) {
    for (auto c : x) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3;
    }
  };
  mix(kind);
  mix(std::string_view{"\0", 1});
  mix(text);
  return h;
}

} // namespace

bool error_log::matches(uint32_t index, uint64_t hash, std::string_view kind,
                        std::string_view text) const noexcept {
  auto& e = seg_->error_at(index);
  // Pairs with the release store of `valid` in report(): the fields are set.
  auto state = e.state.load(std::memory_order_acquire);
  if (name_state_of(state) != name_entry_state::valid
      || e.hash.load(std::memory_order_relaxed) != hash)
    return false;
  try {
    return e.kind.load() == kind && e.text.load() == text;
  } catch (...) {
    return false; // no memory for the copy: count it as a new error
  }
}

void error_log::count(uint32_t index, const error_reporter& who, int64_t now) noexcept {
  auto& e = seg_->error_at(index);
  e.count.fetch_add(1, std::memory_order_relaxed);
  e.last_unix_ns.store(now, std::memory_order_relaxed);
  e.last_pid.store(who.pid, std::memory_order_relaxed);
}

uint32_t error_log::report(std::string_view kind, std::string_view text,
                           const error_reporter& who, uint32_t hint) noexcept {
  kind = cut<error_kind_bytes>(kind);
  text = cut<error_text_bytes>(text);
  auto hash = fnv1a(kind, text);
  auto now = unix_ns_now();
  auto entries = seg_->limits().error_entries;
  if (hint < entries && matches(hint, hash, kind, text)) {
    count(hint, who, now);
    return hint;
  }
  for (uint32_t i = 0; i < entries; ++i) {
    if (matches(i, hash, kind, text)) {
      count(i, who, now);
      return i;
    }
  }
  // New: claim a free entry, or one left in `writing` by a claimer that is
  // gone. Two processes reporting the same new error at once may take two
  // entries; readers see two lines with the same text.
  auto mine = make_name_state(name_entry_state::writing, who.slot, who.incarnation);
  for (uint32_t i = 0; i < entries; ++i) {
    auto& e = seg_->error_at(i);
    auto state = e.state.load(std::memory_order_acquire);
    auto s = name_state_of(state);
    if (s == name_entry_state::valid)
      continue;
    if (s == name_entry_state::writing && detail::entry_owner_alive(*seg_, state))
      continue; // its claimer is filling it right now
    if (!e.state.compare_exchange_strong(state, mine, std::memory_order_acq_rel))
      continue;
    e.hash.store(hash, std::memory_order_relaxed);
    e.count.store(1, std::memory_order_relaxed);
    e.first_unix_ns.store(now, std::memory_order_relaxed);
    e.last_unix_ns.store(now, std::memory_order_relaxed);
    e.first_pid.store(who.pid, std::memory_order_relaxed);
    e.last_pid.store(who.pid, std::memory_order_relaxed);
    e.kind.store(kind);
    e.node.store(who.node_name);
    e.text.store(text);
    // Pairs with the acquire loads of readers: the fields above come first.
    e.state.store(make_name_state(name_entry_state::valid, who.slot, who.incarnation),
                  std::memory_order_release);
    return i;
  }
  seg_->error_log().dropped.fetch_add(1, std::memory_order_relaxed);
  return no_entry;
}

std::vector<logged_error> error_log::list() const {
  std::vector<logged_error> result;
  for (uint32_t i = 0; i < seg_->limits().error_entries; ++i) {
    auto& e = seg_->error_at(i);
    auto state = e.state.load(std::memory_order_acquire);
    if (name_state_of(state) != name_entry_state::valid)
      continue;
    logged_error x;
    x.kind = e.kind.load(std::memory_order_acquire);
    x.text = e.text.load(std::memory_order_acquire);
    x.node = e.node.load(std::memory_order_acquire);
    x.count = e.count.load(std::memory_order_relaxed);
    x.first_unix_ns = e.first_unix_ns.load(std::memory_order_relaxed);
    x.last_unix_ns = e.last_unix_ns.load(std::memory_order_relaxed);
    x.first_pid = e.first_pid.load(std::memory_order_relaxed);
    x.last_pid = e.last_pid.load(std::memory_order_relaxed);
    // A valid entry is never rewritten; a changed state word means someone
    // scribbled on it: leave it out.
    if (e.state.load(std::memory_order_relaxed) == state)
      result.push_back(std::move(x));
  }
  return result;
}

uint64_t error_log::dropped() const noexcept {
  return seg_->error_log().dropped.load(std::memory_order_relaxed);
}

} // namespace shmbus::transport
