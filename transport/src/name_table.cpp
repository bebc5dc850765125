#include "shmbus/transport/name_table.hpp"

#include "duration_text.hpp"
#include "entry_owner.hpp"
#include "futex.hpp"

namespace shmbus::transport {

std::optional<error> name_table::validate_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= limits::max_name_length;
  for (auto c : name)
    ok = ok && c != '\0';
  if (ok)
    return std::nullopt;
  return make_error(errc::invalid_argument,
                    "invalid name (" + std::to_string(name.size())
                      + " bytes): names have 1 to "
                      + std::to_string(limits::max_name_length)
                      + " bytes and no NUL");
}

bool name_table::read_entry(uint32_t index, published_name& out,
                            std::string_view want) const {
  auto& e = seg_->name(index);
  for (int attempt = 0; attempt < 8; ++attempt) {
    // Seqlock read: state and version before and after the copy. seq_cst
    // so that publish()'s duplicate scan sees a concurrent publisher.
    auto state = e.state.load(std::memory_order_seq_cst);
    auto version = e.version.load(std::memory_order_acquire);
    if (name_state_of(state) != name_entry_state::valid)
      return false;
    // Acquire loads keep the re-check below from moving before the copy.
    out.name = e.name.load(std::memory_order_acquire);
    out.value = e.value.load(std::memory_order_acquire);
    out.aux = e.aux.load(std::memory_order_acquire);
    if (e.state.load(std::memory_order_relaxed) == state
        && e.version.load(std::memory_order_relaxed) == version) {
      // No name is published empty: an entry that says so is garbage.
      if (out.name.empty() || (!want.empty() && out.name != want))
        return false;
      out.slot = name_owner_slot(state);
      out.incarnation = name_owner_incarnation(state);
      return detail::entry_owner_alive(*seg_, out.slot, out.incarnation, member_);
    }
  }
  return false; // being rewritten right now: treat as absent
}

void name_table::bump_epoch() const noexcept {
  auto& epoch = seg_->header().names_epoch;
  epoch.fetch_add(1, std::memory_order_release);
  detail::futex_wake(&epoch, INT32_MAX);
}

error name_table::publish(std::string_view name, uint32_t slot,
                          uint32_t incarnation, uint64_t value, uint64_t aux) {
  if (auto err = validate_name(name))
    return *err;
  auto mine = make_name_state(name_entry_state::valid, slot, incarnation);
  auto entries = seg_->limits().name_entries;
  auto write = [&](name_entry& e) {
    e.version.fetch_add(1, std::memory_order_acq_rel);
    e.name.store(name);
    e.value.store(value, std::memory_order_relaxed);
    e.aux.store(aux, std::memory_order_relaxed);
    e.version.fetch_add(1, std::memory_order_release);
  };
  // Held already: by us (replace the value) or by another live node (refuse).
  for (uint32_t i = 0; i < entries; ++i) {
    published_name entry;
    if (!read_entry(i, entry, name))
      continue;
    if (entry.slot == slot && entry.incarnation == incarnation) {
      auto& e = seg_->name(i);
      auto writing = make_name_state(name_entry_state::writing, slot, incarnation);
      auto expected = mine;
      if (e.state.compare_exchange_strong(expected, writing,
                                          std::memory_order_acq_rel)) {
        write(e);
        e.state.store(mine, std::memory_order_release);
        bump_epoch();
        return {};
      }
      continue;
    }
    auto owner = seg_->slot(entry.slot).name.load();
    return make_error(errc::name_in_use,
                      "name '" + std::string(name)
                        + "' is already published by node '" + owner
                        + "' (slot " + std::to_string(entry.slot)
                        + "); unpublish it there first or choose another name");
  }
  // Take a free entry, or one whose owner is gone.
  for (uint32_t i = 0; i < entries; ++i) {
    auto& e = seg_->name(i);
    auto state = e.state.load(std::memory_order_acquire);
    bool usable = name_state_of(state) == name_entry_state::free;
    // An entry stuck in `writing` or `valid` whose owner incarnation is no
    // longer alive belongs to nobody.
    usable = usable || !detail::entry_owner_alive(*seg_, state, member_);
    if (!usable)
      continue;
    auto writing = make_name_state(name_entry_state::writing, slot, incarnation);
    if (!e.state.compare_exchange_strong(state, writing,
                                         std::memory_order_acq_rel))
      continue;
    write(e);
    e.state.store(mine, std::memory_order_seq_cst);
    // Two nodes may publish the same name at once into different entries.
    // Each scans after its seq_cst store of `valid`, so at least the later
    // one sees the other; whoever sees a duplicate retracts (both may, and
    // then both report the conflict: never two owners).
    for (uint32_t j = 0; j < entries; ++j) {
      published_name other;
      if (j != i && read_entry(j, other, name)) {
        e.state.store(make_name_state(name_entry_state::free, 0, 0),
                      std::memory_order_seq_cst);
        auto owner = seg_->slot(other.slot).name.load();
        return make_error(errc::name_in_use,
                          "name '" + std::string(name)
                            + "' was published concurrently by node '" + owner
                            + "'; unpublish it there first or choose another name");
      }
    }
    bump_epoch();
    return {};
  }
  return make_error(errc::name_table_full,
                    "the name table of bus '" + seg_->bus() + "' is full ("
                      + std::to_string(entries)
                      + " entries); unpublish names or start the server with "
                        "more name entries");
}

error name_table::unpublish(std::string_view name, uint32_t slot,
                            uint32_t incarnation) {
  auto mine = make_name_state(name_entry_state::valid, slot, incarnation);
  for (uint32_t i = 0; i < seg_->limits().name_entries; ++i) {
    auto& e = seg_->name(i);
    if (e.state.load(std::memory_order_acquire) != mine
        || e.name.load() != name)
      continue;
    auto expected = mine;
    if (e.state.compare_exchange_strong(
          expected, make_name_state(name_entry_state::free, 0, 0),
          std::memory_order_acq_rel)) {
      bump_epoch();
      return {};
    }
  }
  return make_error(errc::name_not_found,
                    "this node has not published '" + std::string(name) + "'");
}

void name_table::unpublish_all(uint32_t slot, uint32_t incarnation) noexcept {
  auto mine = make_name_state(name_entry_state::valid, slot, incarnation);
  bool any = false;
  for (uint32_t i = 0; i < seg_->limits().name_entries; ++i) {
    auto expected = mine;
    any |= seg_->name(i).state.compare_exchange_strong(
      expected, make_name_state(name_entry_state::free, 0, 0),
      std::memory_order_acq_rel);
  }
  if (any)
    bump_epoch();
}

result<published_name> name_table::lookup(std::string_view name) const {
  if (auto err = validate_name(name))
    return *err;
  for (uint32_t i = 0; i < seg_->limits().name_entries; ++i) {
    published_name entry;
    if (read_entry(i, entry, name))
      return entry;
  }
  return make_error(errc::name_not_found,
                    "nothing is published under '" + std::string(name)
                      + "' on bus '" + seg_->bus() + "'");
}

result<published_name>
name_table::await(std::string_view name, std::chrono::nanoseconds timeout) const {
  using clock = std::chrono::steady_clock;
  auto until = clock::now() + timeout;
  auto& epoch = seg_->header().names_epoch;
  for (;;) {
    auto seen = epoch.load(std::memory_order_acquire);
    auto found = lookup(name);
    if (found || found.err().code != errc::name_not_found)
      return found;
    auto left = until - clock::now();
    if (left <= clock::duration::zero())
      return make_error(errc::name_not_found,
                        "nothing was published under '" + std::string(name)
                          + "' on bus '" + seg_->bus() + "' within "
                          + detail::ms_text(timeout));
    // Capped so that a publisher killed between writing and waking us
    // cannot make us miss its name for long.
    auto nap = std::min<std::chrono::nanoseconds>(left, seg_->timing().heartbeat_interval);
    detail::futex_wait(&epoch, seen, nap);
  }
}

std::vector<published_name> name_table::list() const {
  std::vector<published_name> result;
  for (uint32_t i = 0; i < seg_->limits().name_entries; ++i) {
    published_name entry;
    if (read_entry(i, entry))
      result.push_back(std::move(entry));
  }
  return result;
}

} // namespace shmbus::transport
