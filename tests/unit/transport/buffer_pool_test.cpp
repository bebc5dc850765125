// The buffer pool's algorithms on a real segment, with two holders mapped in
// one process (slots 0 and 1 of a server's bus): references move by
// handle, the last one frees the block, forged handles are refused and
// counted, and a lost holder's references and unfinished steps are dropped.
#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "bus_fixture.hpp"
#include "shmbus/transport/buffer_pool.hpp"
#include "shmbus/transport/node.hpp"

using namespace shmbus;
using namespace shmbus::transport;
using namespace shmbus::test;

namespace {

/// A server with a 1 MiB pool (classes 4 KiB .. 64 KiB) and two holders.
struct pool_fixture {
  explicit pool_fixture(const std::string& tag) : bus(tag) {
    node_options opts;
    opts.bus = bus.name;
    opts.role = node_role::server;
    opts.name = "pool";
    opts.limits.node_slots = 3;
    opts.limits.inbox_bytes = limits::min_inbox_bytes;
    opts.limits.max_message_bytes = 64;
    opts.limits.pool_bytes = 3 * 65536;
    opts.limits.pool_max_block = 65536;
    opts.limits.pool_holder_entries = 8;
    opts.timing.heartbeat_timeout = std::chrono::seconds{2};
    auto started = node::start(opts);
    REQUIRE_MESSAGE(started, started.err().message);
    server = std::move(*started);
    auto a = buffer_pool::open(seg(), 0, 1);
    REQUIRE_MESSAGE(a, a.err().message);
    sender = std::move(*a);
    auto b = buffer_pool::open(seg(), 1, 7);
    REQUIRE_MESSAGE(b, b.err().message);
    receiver = std::move(*b);
  }

  const segment& seg() const { return server->shared_segment(); }
  uint32_t used() const { return buffer_pool::usage(seg()).used_blocks(); }
  uint64_t refused() const { return buffer_pool::usage(seg()).refused_handles; }

  scoped_bus bus;
  std::unique_ptr<node> server;
  std::shared_ptr<buffer_pool> sender;   // slot 0, incarnation 1
  std::shared_ptr<buffer_pool> receiver; // slot 1, incarnation 7
};

const buffer_pool::alive_fn nobody_alive = [](uint32_t, uint32_t) { return false; };

} // namespace

TEST_CASE("a buffer handed over by handle shows the same bytes and its last release frees it") {
  pool_fixture fx{"pool-handover"};
  auto ref = fx.sender->allocate(5000);
  REQUIRE_MESSAGE(ref, ref.err().message);
  CHECK(ref->capacity == 16384);
  std::memset(ref->data, 0x5a, ref->size);
  REQUIRE_FALSE(fx.sender->seal(*ref));
  auto handle = fx.sender->export_to(*ref, 1, 7);
  REQUIRE_MESSAGE(handle, handle.err().message);
  auto got = fx.receiver->adopt(*handle);
  REQUIRE_MESSAGE(got, got.err().message);
  CHECK(got->data != nullptr);
  CHECK(got->size == 5000);
  CHECK(std::to_integer<int>(got->data[4999]) == 0x5a);
  CHECK(fx.used() == 1);
  // The in-flight reference was adopted: a second adoption is refused.
  CHECK(fx.receiver->adopt(*handle).err().code == errc::invalid_handle);
  fx.sender->release(*ref);
  CHECK(fx.used() == 1);
  fx.receiver->release(*got);
  CHECK(fx.used() == 0);
  auto u = buffer_pool::usage(fx.seg());
  CHECK(u.holders.empty());
}

TEST_CASE("an exhausted pool says its size and the remedy") {
  pool_fixture fx{"pool-exhausted"};
  auto a = fx.sender->allocate(65536);
  REQUIRE(a);
  auto b = fx.sender->allocate(65536);
  REQUIRE_FALSE(b);
  CHECK(b.err().code == errc::pool_exhausted);
  CHECK(b.err().message.find("196608 bytes") != std::string::npos);
  CHECK(b.err().message.find("shmbus.pool-size") != std::string::npos);
  auto too_big = fx.sender->allocate(65537);
  REQUIRE_FALSE(too_big);
  CHECK(too_big.err().message.find("pool-max-block") != std::string::npos);
  fx.sender->release(*a);
  CHECK(fx.sender->allocate(65536));
}

TEST_CASE("forged handles are refused and counted: out of range, wrong generation, freed, not ours") {
  pool_fixture fx{"pool-forged"};
  auto ref = fx.sender->allocate(100);
  REQUIRE(ref);
  REQUIRE_FALSE(fx.sender->seal(*ref));
  auto handle = fx.sender->export_to(*ref, 1, 7);
  REQUIRE(handle);
  auto before = fx.refused();
  auto forged = [&](auto change) {
    auto h = *handle;
    change(h);
    auto got = fx.receiver->adopt(h);
    CHECK_FALSE(got);
    if (!got)
      CHECK(got.err().code == errc::invalid_handle);
  };
  forged([](buffer_handle& h) { h.block = 1u << 30; });
  forged([](buffer_handle& h) { h.sender_slot = 99; });
  forged([](buffer_handle& h) { h.entry = 1000; });
  forged([](buffer_handle& h) { h.size = 1u << 20; });
  forged([](buffer_handle& h) { h.generation += 1; });
  forged([&](buffer_handle& h) { h.entry = ref->entry; }); // the sender's own reference
  CHECK(fx.refused() == before + 6);
  // In flight to another node: slot 1 with another incarnation cannot take it.
  auto other = buffer_pool::open(fx.seg(), 1, 8);
  REQUIRE(other);
  CHECK_FALSE((*other)->adopt(*handle));
  // Freed: the sender takes it back, then the handle names nothing.
  fx.sender->cancel_export(*handle);
  fx.sender->release(*ref);
  CHECK(fx.used() == 0);
  CHECK_FALSE(fx.receiver->adopt(*handle));
  CHECK(fx.used() == 0);
}

TEST_CASE("a writable block cannot be adopted: a buffer is shared only once frozen") {
  pool_fixture fx{"pool-unsealed"};
  auto ref = fx.sender->allocate(100);
  REQUIRE(ref);
  auto handle = fx.sender->export_to(*ref, 1, 7);
  REQUIRE(handle);
  CHECK_FALSE(fx.receiver->adopt(*handle));
}

TEST_CASE("a lost holder's references, in-flight ones and unfinished steps are dropped") {
  pool_fixture fx{"pool-lost"};
  auto ref = fx.sender->allocate(100);
  REQUIRE(ref);
  REQUIRE_FALSE(fx.sender->seal(*ref));
  auto handle = fx.sender->export_to(*ref, 1, 7);
  REQUIRE(handle);
  auto held = fx.receiver->allocate(20000);
  REQUIRE(held);
  CHECK(fx.used() == 2);
  // The receiver (slot 1, incarnation 7) is lost: its own block and the one
  // in flight to it go; the sender's own reference stays.
  auto server_side = buffer_pool::open(fx.seg(), 2, 1);
  REQUIRE(server_side);
  CHECK((*server_side)->release_holder(1, 7, nobody_alive) == 2);
  CHECK(fx.used() == 1);
  CHECK((*server_side)->release_holder(1, 7, nobody_alive) == 0); // idempotent
  // The sender dies in the middle of a step: block locked by it, its entry
  // `removing` (the count still includes it).
  auto& g = fx.seg().pool();
  auto* descriptors = reinterpret_cast<block_descriptor*>(fx.seg().pool_base()
                                                          + g.descriptors_offset);
  auto* entries = reinterpret_cast<holder_entry*>(fx.seg().pool_base() + g.holders_offset
                                                  + sizeof(holder_list_header));
  auto w = descriptors[ref->block].word.load();
  descriptors[ref->block].word.store(w | (uint64_t{1} << block_busy_shift));
  entries[ref->entry].meta.store(make_entry_meta(entry_state::removing, 0, 1));
  CHECK((*server_side)->release_holder(0, 1, nobody_alive) == 0);
  CHECK(fx.used() == 0);
  CHECK(buffer_pool::usage(fx.seg()).holders.empty());
}

TEST_CASE("an allocation cut short after taking its block frees it when its holder is lost") {
  pool_fixture fx{"pool-cut"};
  auto& g = fx.seg().pool();
  auto* descriptors = reinterpret_cast<block_descriptor*>(fx.seg().pool_base()
                                                          + g.descriptors_offset);
  // Slot 1 took block 3 (locked, count 0) and died before its entry named it.
  descriptors[3].word.store(make_block_word(block_state::writable, 2, 0, 1));
  CHECK(fx.used() == 1);
  auto server_side = buffer_pool::open(fx.seg(), 2, 1);
  REQUIRE(server_side);
  (*server_side)->release_holder(1, 7, nobody_alive);
  CHECK(fx.used() == 0);
}

TEST_CASE("holders handing one block around from several threads leave the pool empty") {
  pool_fixture fx{"pool-threads"};
  auto third = buffer_pool::open(fx.seg(), 2, 3);
  REQUIRE(third);
  auto ref = fx.sender->allocate(1000);
  REQUIRE(ref);
  REQUIRE_FALSE(fx.sender->seal(*ref));
  // Two receivers take and drop references to the same block at once, each
  // from handles the sender exports to it, for a while.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> adopted{0};
  auto receive = [&](std::shared_ptr<buffer_pool> pool, uint32_t slot, uint32_t inc) {
    return std::thread([&, pool, slot, inc] {
      while (!stop.load()) {
        auto h = fx.sender->export_to(*ref, slot, inc);
        if (!h)
          continue;
        auto got = pool->adopt(*h);
        if (got) {
          adopted.fetch_add(1);
          pool->release(*got);
        } else {
          fx.sender->cancel_export(*h);
        }
      }
    });
  };
  auto a = receive(fx.receiver, 1, 7);
  auto b = receive(*third, 2, 3);
  wait_until([&] { return adopted.load() >= 2000; }, std::chrono::milliseconds{3000});
  stop = true;
  a.join();
  b.join();
  CHECK(adopted.load() > 0);
  CHECK(fx.used() == 1); // the sender's own reference
  fx.sender->release(*ref);
  auto u = buffer_pool::usage(fx.seg());
  CHECK(u.used_blocks() == 0);
  CHECK(u.holders.empty());
  CHECK(u.corrupt_words == 0);
}
