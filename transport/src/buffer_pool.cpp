#include "shmbus/transport/buffer_pool.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <sys/mman.h>

namespace shmbus::transport {

namespace {

using clock = std::chrono::steady_clock;

bool counted(entry_state s) {
  return s == entry_state::held || s == entry_state::adding || s == entry_state::removing;
}

} // namespace

uint32_t pool_usage::used_blocks() const noexcept {
  uint32_t n = 0;
  for (auto& c : classes)
    n += c.used;
  return n;
}

result<std::shared_ptr<buffer_pool>> buffer_pool::open(const segment& seg, uint32_t slot,
                                                       uint32_t incarnation) {
  auto& g = seg.pool();
  if (g.pool_bytes == 0)
    return make_error(errc::pool_exhausted,
                      "bus '" + seg.bus()
                        + "' has no buffer pool: start its server with shmbus.pool-size > 0");
  // A mapping of our own: buffers may outlive the node and its segment object.
  void* p = ::mmap(nullptr, g.pool_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, seg.memfd(),
                   static_cast<off_t>(seg.pool_offset()));
  if (p == MAP_FAILED)
    return make_error(errc::system_error, "cannot map the buffer pool of bus '" + seg.bus()
                                            + "': " + std::strerror(errno));
  std::shared_ptr<buffer_pool> pool{new buffer_pool(static_cast<std::byte*>(p), g,
                                                    seg.node_slots(), slot, incarnation,
                                                    seg.limits().pool_bytes, seg.bus())};
  pool->entry_header(slot).incarnation.store(incarnation, std::memory_order_relaxed);
  return pool;
}

buffer_pool::buffer_pool(std::byte* base, const pool_geometry& g, uint32_t node_slots,
                         uint32_t slot, uint32_t incarnation, uint64_t limit_bytes,
                         std::string bus)
  : base_(base),
    geometry_(g),
    node_slots_(node_slots),
    slot_(slot),
    incarnation_(incarnation),
    limit_bytes_(limit_bytes),
    bus_(std::move(bus)) {
  // nop
}

buffer_pool::~buffer_pool() {
  ::munmap(base_, geometry_.pool_bytes);
}

uint64_t buffer_pool::max_block() const noexcept {
  return geometry_.classes[geometry_.class_count - 1].block_bytes;
}

pool_header& buffer_pool::header() const noexcept {
  return *reinterpret_cast<pool_header*>(base_);
}

block_descriptor& buffer_pool::descriptor(uint32_t block) const noexcept {
  return reinterpret_cast<block_descriptor*>(base_ + geometry_.descriptors_offset)[block];
}

holder_list_header& buffer_pool::entry_header(uint32_t slot) const noexcept {
  return *reinterpret_cast<holder_list_header*>(base_ + geometry_.holders_offset
                                                + geometry_.holder_stride * slot);
}

holder_entry& buffer_pool::entry(uint32_t slot, uint32_t index) const noexcept {
  return reinterpret_cast<holder_entry*>(base_ + geometry_.holders_offset
                                         + geometry_.holder_stride * slot
                                         + sizeof(holder_list_header))[index];
}

uint32_t buffer_pool::class_of(uint32_t block) const noexcept {
  uint32_t c = 0;
  while (c + 1 < geometry_.class_count && block >= geometry_.classes[c + 1].first_block)
    ++c;
  return c;
}

std::byte* buffer_pool::data_of(uint32_t block) const noexcept {
  auto& c = geometry_.classes[class_of(block)];
  return base_ + c.data_offset + uint64_t{block - c.first_block} * c.block_bytes;
}

error buffer_pool::refuse(std::string what) noexcept {
  header().refused_handles.fetch_add(1, std::memory_order_relaxed);
  return make_error(errc::invalid_handle, std::move(what));
}

result<uint32_t> buffer_pool::claim_entry() noexcept {
  auto inc = incarnation_.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < geometry_.holder_entries; ++i) {
    auto& e = entry(slot_, i);
    uint64_t expected = 0;
    // Other processes only ever clear entries; threads of ours race here.
    if (e.meta.load(std::memory_order_relaxed) == 0
        && e.meta.compare_exchange_strong(expected,
                                          make_entry_meta(entry_state::claimed, slot_, inc),
                                          std::memory_order_acq_rel))
      return i;
  }
  return make_error(errc::holder_list_full,
                    "this node holds " + std::to_string(geometry_.holder_entries)
                      + " buffer references already (held, or sent and not yet adopted) "
                        "on bus '" + bus_
                      + "': drop buffers sooner or raise the server's "
                        "shmbus.pool-holder-entries");
}

result<uint64_t> buffer_pool::lock(uint32_t block, uint32_t generation, uint32_t busy) noexcept {
  auto& d = descriptor(block);
  auto deadline = clock::now() + defaults::pool_lock_timeout;
  for (;;) {
    auto w = d.word.load(std::memory_order_acquire);
    if (block_generation_of(w) != generation || block_state_of(w) == block_state::free)
      return make_error(errc::invalid_handle,
                        "block " + std::to_string(block) + " generation "
                          + std::to_string(generation) + " is no longer in use");
    if (block_busy_of(w) == 0) {
      auto locked = w | (uint64_t{busy} << block_busy_shift);
      // Pairs with the release in unlock(): we see the previous step whole.
      if (d.word.compare_exchange_weak(w, locked, std::memory_order_acq_rel))
        return locked;
      continue;
    }
    if (clock::now() > deadline)
      return make_error(errc::timeout,
                        "block " + std::to_string(block) + " of the buffer pool of bus '" + bus_
                          + "' stayed locked by slot " + std::to_string(block_busy_of(w) - 1)
                          + " for " + std::to_string(defaults::pool_lock_timeout.count() / 1000000)
                          + " ms (it died in a step, or wrote the word); its loss frees it");
    std::this_thread::yield();
  }
}

void buffer_pool::unlock(uint32_t block, int delta) noexcept {
  auto& d = descriptor(block);
  auto w = d.word.load(std::memory_order_relaxed);
  for (;;) {
    int64_t count = int64_t{block_count_of(w)} + delta;
    if (count < 0) {
      header().corrupt_words.fetch_add(1, std::memory_order_relaxed);
      count = 0;
    }
    auto gen = block_generation_of(w);
    auto next = count == 0
                  ? make_block_word(block_state::free, 0, 0, gen)
                  : make_block_word(block_state_of(w), 0, static_cast<uint32_t>(count), gen);
    // Release: the entry written under the lock is visible with the count.
    if (d.word.compare_exchange_weak(w, next, std::memory_order_acq_rel))
      return;
  }
}

result<buffer_ref> buffer_pool::allocate(uint64_t size) noexcept {
  auto& h = header();
  if (size > max_block()) {
    h.exhausted.fetch_add(1, std::memory_order_relaxed);
    return make_error(errc::pool_exhausted,
                      "a buffer of " + std::to_string(size) + " bytes exceeds the largest block ("
                        + std::to_string(max_block()) + " bytes) of the buffer pool of bus '"
                        + bus_ + "': raise the server's shmbus.pool-max-block");
  }
  uint32_t c = 0;
  while (geometry_.classes[c].block_bytes < size)
    ++c;
  auto claimed = claim_entry();
  if (!claimed)
    return claimed.err();
  auto& e = entry(slot_, *claimed);
  auto inc = incarnation_.load(std::memory_order_acquire);
  auto busy = slot_ + 1;
  for (auto k = c; k < geometry_.class_count; ++k) {
    auto& cls = geometry_.classes[k];
    if (cls.blocks == 0)
      continue;
    auto start = h.next_block[k].load(std::memory_order_relaxed) % cls.blocks;
    for (uint32_t n = 0; n < cls.blocks; ++n) {
      auto i = (start + n) % cls.blocks;
      auto block = cls.first_block + i;
      auto& d = descriptor(block);
      auto w = d.word.load(std::memory_order_acquire);
      if (block_state_of(w) != block_state::free || block_busy_of(w) != 0)
        continue;
      auto gen = block_generation_of(w) + 1;
      // Locked with count 0: lost before the entry names it, it is freed.
      if (!d.word.compare_exchange_strong(w, make_block_word(block_state::writable, busy, 0, gen),
                                          std::memory_order_acq_rel))
        continue;
      h.next_block[k].store(i + 1, std::memory_order_relaxed);
      e.block.store(make_entry_block(block, gen), std::memory_order_relaxed);
      e.meta.store(make_entry_meta(entry_state::adding, slot_, inc), std::memory_order_release);
      d.size.store(size, std::memory_order_relaxed);
      unlock(block, +1);
      e.meta.store(make_entry_meta(entry_state::held, slot_, inc), std::memory_order_release);
      h.allocations.fetch_add(1, std::memory_order_relaxed);
      return buffer_ref{block, gen, *claimed, data_of(block), size, cls.block_bytes};
    }
  }
  e.meta.store(0, std::memory_order_release);
  h.exhausted.fetch_add(1, std::memory_order_relaxed);
  return make_error(errc::pool_exhausted,
                    "the buffer pool of bus '" + bus_ + "' (" + std::to_string(limit_bytes_)
                      + " bytes) has no free block of " + std::to_string(size)
                      + " bytes or more: drop buffers sooner, or raise the server's "
                        "shmbus.pool-size (or ask for a heap fallback)");
}

error buffer_pool::seal(const buffer_ref& ref) noexcept {
  auto& d = descriptor(ref.block);
  auto w = d.word.load(std::memory_order_acquire);
  for (;;) {
    if (block_generation_of(w) != ref.generation || block_state_of(w) == block_state::free)
      return make_error(errc::invalid_handle, "the buffer's block was freed by someone else");
    if (block_state_of(w) == block_state::sealed)
      return {};
    auto next = (w & ~uint64_t{3}) | static_cast<uint64_t>(block_state::sealed);
    // Release: the bytes written before are visible to whoever adopts it.
    if (d.word.compare_exchange_weak(w, next, std::memory_order_acq_rel))
      return {};
  }
}

result<buffer_handle> buffer_pool::export_to(const buffer_ref& ref, uint32_t to_slot,
                                             uint32_t to_incarnation) noexcept {
  auto claimed = claim_entry();
  if (!claimed)
    return claimed.err();
  auto& e = entry(slot_, *claimed);
  auto inc = incarnation_.load(std::memory_order_acquire);
  e.block.store(make_entry_block(ref.block, ref.generation), std::memory_order_relaxed);
  auto locked = lock(ref.block, ref.generation, slot_ + 1);
  if (!locked) {
    e.meta.store(0, std::memory_order_release);
    return locked.err();
  }
  if (block_count_of(*locked) >= block_max_count) {
    unlock(ref.block, 0);
    e.meta.store(0, std::memory_order_release);
    return make_error(errc::holder_list_full, "a buffer with " + std::to_string(block_max_count)
                                                + " references cannot take another");
  }
  e.meta.store(make_entry_meta(entry_state::adding, slot_, inc), std::memory_order_release);
  unlock(ref.block, +1);
  e.meta.store(make_entry_meta(entry_state::inflight, to_slot, to_incarnation),
               std::memory_order_release);
  return buffer_handle{ref.block, ref.generation, slot_, *claimed, ref.size};
}

void buffer_pool::cancel_export(const buffer_handle& h) noexcept {
  if (h.sender_slot != slot_ || h.entry >= geometry_.holder_entries)
    return;
  auto& e = entry(slot_, h.entry);
  auto m = e.meta.load(std::memory_order_acquire);
  if (entry_state_of(m) == entry_state::inflight
      && e.block.load(std::memory_order_relaxed) == make_entry_block(h.block, h.generation))
    drop_entry(e, m);
}

result<buffer_ref> buffer_pool::adopt(const buffer_handle& h) noexcept {
  auto inc = incarnation_.load(std::memory_order_acquire);
  if (h.sender_slot >= node_slots_ || h.entry >= geometry_.holder_entries
      || h.block >= geometry_.total_blocks)
    return refuse("a buffer handle out of range (slot " + std::to_string(h.sender_slot)
                  + ", entry " + std::to_string(h.entry) + ", block "
                  + std::to_string(h.block) + ")");
  auto capacity = geometry_.classes[class_of(h.block)].block_bytes;
  if (h.size > capacity)
    return refuse("a buffer handle of " + std::to_string(h.size) + " bytes for a block of "
                  + std::to_string(capacity));
  auto& sent = entry(h.sender_slot, h.entry);
  auto expected_meta = make_entry_meta(entry_state::inflight, slot_, inc);
  // Pairs with the sender's release store of `inflight`.
  if (sent.meta.load(std::memory_order_acquire) != expected_meta
      || sent.block.load(std::memory_order_relaxed) != make_entry_block(h.block, h.generation))
    return refuse("a buffer handle that names no buffer in flight to this node (block "
                  + std::to_string(h.block) + " generation " + std::to_string(h.generation)
                  + " from slot " + std::to_string(h.sender_slot) + ")");
  auto claimed = claim_entry();
  if (!claimed)
    return claimed.err();
  auto& e = entry(slot_, *claimed);
  e.block.store(make_entry_block(h.block, h.generation), std::memory_order_relaxed);
  auto locked = lock(h.block, h.generation, slot_ + 1);
  if (!locked) {
    e.meta.store(0, std::memory_order_release);
    return refuse(locked.err().message);
  }
  if (block_state_of(*locked) != block_state::sealed
      || block_count_of(*locked) >= block_max_count) {
    unlock(h.block, 0);
    e.meta.store(0, std::memory_order_release);
    return refuse("a buffer handle of a block that is not sealed (still being written)");
  }
  e.meta.store(make_entry_meta(entry_state::adding, slot_, inc), std::memory_order_release);
  unlock(h.block, +1);
  e.meta.store(make_entry_meta(entry_state::held, slot_, inc), std::memory_order_release);
  // Our own reference is in place: drop the one in flight.
  if (lock(h.block, h.generation, slot_ + 1)) {
    auto m = expected_meta;
    if (sent.meta.compare_exchange_strong(m, make_entry_meta(entry_state::removing, slot_, inc),
                                          std::memory_order_acq_rel)) {
      unlock(h.block, -1);
      m = make_entry_meta(entry_state::removing, slot_, inc);
      sent.meta.compare_exchange_strong(m, 0, std::memory_order_acq_rel);
    } else {
      unlock(h.block, 0);
    }
  }
  return buffer_ref{h.block, h.generation, *claimed, data_of(h.block), h.size, capacity};
}

void buffer_pool::release(const buffer_ref& ref) noexcept {
  if (ref.entry >= geometry_.holder_entries)
    return;
  auto& e = entry(slot_, ref.entry);
  auto m = e.meta.load(std::memory_order_acquire);
  // Dropped for us already (this node was declared lost) or overwritten.
  if (entry_state_of(m) != entry_state::held
      || e.block.load(std::memory_order_relaxed) != make_entry_block(ref.block, ref.generation))
    return;
  drop_entry(e, m);
}

bool buffer_pool::drop_entry(holder_entry& e, uint64_t seen) noexcept {
  auto blk = e.block.load(std::memory_order_relaxed);
  auto block = static_cast<uint32_t>(blk);
  auto gen = static_cast<uint32_t>(blk >> 32);
  if (block >= geometry_.total_blocks) {
    header().corrupt_words.fetch_add(1, std::memory_order_relaxed);
    e.meta.compare_exchange_strong(seen, 0, std::memory_order_acq_rel);
    return false;
  }
  auto inc = incarnation_.load(std::memory_order_acquire);
  if (!lock(block, gen, slot_ + 1)) {
    // The block moved on without this reference: only the entry is left.
    e.meta.compare_exchange_strong(seen, 0, std::memory_order_acq_rel);
    return false;
  }
  auto removing = make_entry_meta(entry_state::removing, slot_, inc);
  if (!e.meta.compare_exchange_strong(seen, removing, std::memory_order_acq_rel)) {
    unlock(block, 0); // someone else dropped it first
    return false;
  }
  unlock(block, -1);
  e.meta.compare_exchange_strong(removing, 0, std::memory_order_acq_rel);
  return true;
}

void buffer_pool::finish_stale_lock(uint32_t block, uint32_t slot,
                                    uint32_t incarnation) noexcept {
  auto& d = descriptor(block);
  auto w = d.word.load(std::memory_order_acquire);
  if (block_busy_of(w) != slot + 1)
    return;
  // The step it died in: `adding` is not counted yet, `removing` still is.
  int delta = 0;
  auto gen = block_generation_of(w);
  for (uint32_t s = 0; s < node_slots_; ++s)
    for (uint32_t i = 0; i < geometry_.holder_entries; ++i) {
      auto& e = entry(s, i);
      auto m = e.meta.load(std::memory_order_acquire);
      auto st = entry_state_of(m);
      if ((st != entry_state::adding && st != entry_state::removing)
          || entry_slot_of(m) != slot || entry_incarnation_of(m) != incarnation
          || e.block.load(std::memory_order_relaxed) != make_entry_block(block, gen))
        continue;
      if (e.meta.compare_exchange_strong(m, 0, std::memory_order_acq_rel)
          && st == entry_state::removing)
        --delta;
    }
  // Take the lock over and release it with the step finished.
  auto ours = (w & ~(block_busy_mask << block_busy_shift))
              | (uint64_t{slot_ + 1} << block_busy_shift);
  if (d.word.compare_exchange_strong(w, ours, std::memory_order_acq_rel))
    unlock(block, delta);
}

size_t buffer_pool::release_holder(uint32_t slot, uint32_t incarnation,
                                   const alive_fn& alive) noexcept {
  if (slot >= node_slots_)
    return 0;
  auto locked_by_it = [&](uint32_t b) {
    return block_busy_of(descriptor(b).word.load(std::memory_order_acquire)) == slot + 1;
  };
  std::vector<uint32_t> locked;
  for (uint32_t b = 0; b < geometry_.total_blocks; ++b)
    if (locked_by_it(b))
      locked.push_back(b);
  // A live node of that slot (a newer incarnation) holds a lock for a few
  // stores; one deadline for all, so scribbled words cannot add up.
  auto deadline = clock::now() + defaults::pool_lock_timeout;
  while (!locked.empty() && clock::now() < deadline) {
    std::this_thread::yield();
    locked.erase(std::remove_if(locked.begin(), locked.end(),
                                [&](uint32_t b) { return !locked_by_it(b); }),
                 locked.end());
  }
  for (auto b : locked)
    finish_stale_lock(b, slot, incarnation);
  size_t dropped = 0;
  for (uint32_t s = 0; s < node_slots_; ++s)
    for (uint32_t i = 0; i < geometry_.holder_entries; ++i) {
      auto& e = entry(s, i);
      auto m = e.meta.load(std::memory_order_acquire);
      auto st = entry_state_of(m);
      bool its = entry_slot_of(m) == slot && entry_incarnation_of(m) == incarnation;
      if (st == entry_state::inflight) {
        // Owned by its destination: dropped when that one is lost or gone.
        bool gone = its || (s == slot && !alive(entry_slot_of(m), entry_incarnation_of(m)));
        if (gone && drop_entry(e, m))
          ++dropped;
      } else if (its && st == entry_state::claimed) {
        e.meta.compare_exchange_strong(m, 0, std::memory_order_acq_rel);
      } else if (its && st == entry_state::removing) {
        // Its decrement is done (finish_stale_lock() handled the locked ones).
        e.meta.compare_exchange_strong(m, 0, std::memory_order_acq_rel);
      } else if (its && counted(st) && drop_entry(e, m)) {
        ++dropped;
      }
    }
  header().released_for_lost.fetch_add(dropped, std::memory_order_relaxed);
  return dropped;
}

pool_usage buffer_pool::usage() const {
  return read_usage(base_, geometry_, node_slots_, limit_bytes_);
}

pool_usage buffer_pool::usage(const segment& seg) {
  if (seg.pool_base() == nullptr)
    return {};
  return read_usage(seg.pool_base(), seg.pool(), seg.node_slots(), seg.limits().pool_bytes);
}

pool_usage buffer_pool::read_usage(const std::byte* base, const pool_geometry& g,
                                   uint32_t node_slots, uint64_t limit_bytes) {
  pool_usage u;
  u.pool_bytes = limit_bytes;
  auto& h = *reinterpret_cast<const pool_header*>(base);
  auto* descriptors = reinterpret_cast<const block_descriptor*>(base + g.descriptors_offset);
  for (uint32_t c = 0; c < g.class_count; ++c) {
    pool_usage::size_class sc;
    sc.block_bytes = g.classes[c].block_bytes;
    sc.blocks = g.classes[c].blocks;
    for (uint32_t b = 0; b < sc.blocks; ++b) {
      auto w = descriptors[g.classes[c].first_block + b].word.load(std::memory_order_relaxed);
      if (block_state_of(w) != block_state::free)
        ++sc.used;
    }
    u.classes.push_back(sc);
  }
  for (uint32_t s = 0; s < node_slots; ++s) {
    pool_usage::holder hd;
    hd.slot = s;
    auto* entries = reinterpret_cast<const holder_entry*>(base + g.holders_offset
                                                          + g.holder_stride * s
                                                          + sizeof(holder_list_header));
    for (uint32_t i = 0; i < g.holder_entries; ++i) {
      auto st = entry_state_of(entries[i].meta.load(std::memory_order_relaxed));
      if (st == entry_state::inflight)
        ++hd.inflight;
      else if (counted(st))
        ++hd.held;
    }
    if (hd.held + hd.inflight > 0)
      u.holders.push_back(hd);
  }
  u.allocations = h.allocations.load(std::memory_order_relaxed);
  u.exhausted = h.exhausted.load(std::memory_order_relaxed);
  u.refused_handles = h.refused_handles.load(std::memory_order_relaxed);
  u.corrupt_words = h.corrupt_words.load(std::memory_order_relaxed);
  u.released_for_lost = h.released_for_lost.load(std::memory_order_relaxed);
  return u;
}

} // namespace shmbus::transport
