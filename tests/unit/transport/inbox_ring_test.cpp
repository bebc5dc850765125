// The inbox ring on a private buffer: record format, wrap-around, full ring,
// claims of dead producers, corruption, and many threads at once.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "shmbus/transport/inbox_reader.hpp"
#include "shmbus/transport/inbox_ring.hpp"

#include "test_ring.hpp"

using namespace shmbus::transport;
using shmbus::test::test_ring;

namespace {

std::string text_of(size_t n, char fill) {
  return std::string(n, fill);
}

} // namespace

TEST_CASE("a test ring is placed as the segment places it: aligned for its control block") {
  test_ring r{4096};
  auto address = reinterpret_cast<std::uintptr_t>(r.ring.control());
  CHECK(address % alignof(ring_control) == 0);
  CHECK(address % page_bytes == 0);
}

TEST_CASE("records of varying sizes survive many wrap-arounds in order") {
  test_ring r{4096};
  size_t sent = 0;
  size_t received = 0;
  // Sizes chosen so that records straddle the end of the buffer in many
  // different ways (padding of 8, 16, ... bytes).
  for (int round = 0; round < 2000; ++round) {
    auto size = static_cast<size_t>((round * 37) % 300);
    auto text = text_of(size, static_cast<char>('a' + round % 26));
    REQUIRE(r.send(text) == inbox_ring::claim_status::claimed);
    ++sent;
    auto got = r.receive();
    REQUIRE(got.has_value());
    CHECK(*got == text);
    ++received;
  }
  CHECK(sent == received);
  CHECK(r.reader.head() > 10 * 4096); // it really wrapped
  CHECK_FALSE(r.receive().has_value());
}

TEST_CASE("a full ring refuses a claim until the consumer frees space") {
  test_ring r{4096};
  int accepted = 0;
  while (r.send(text_of(100, 'x')) == inbox_ring::claim_status::claimed)
    ++accepted;
  CHECK(accepted == 4096 / 128); // 24 header + 100 payload -> 128 bytes
  CHECK(r.send(text_of(100, 'y')) == inbox_ring::claim_status::full);
  REQUIRE(r.receive().has_value());
  r.reader.publish();
  CHECK(r.send(text_of(100, 'z')) == inbox_ring::claim_status::claimed);
  int drained = 0;
  std::string last;
  while (auto got = r.receive()) {
    ++drained;
    last = *got;
  }
  CHECK(drained == accepted);
  CHECK(last == text_of(100, 'z'));
}

TEST_CASE("the consumer waits for an uncommitted claim and skips it once told its producer is dead") {
  test_ring r{4096};
  inbox_ring::claim dead_claim;
  REQUIRE(r.ring.try_claim(record_kind::data, 40, 3, 9, 7, dead_claim)
          == inbox_ring::claim_status::claimed);
  REQUIRE(r.send("after") == inbox_ring::claim_status::claimed);
  auto e = r.reader.peek();
  REQUIRE(e.state == inbox_reader::status::pending);
  CHECK(e.sender_slot == 3);
  CHECK(e.sender_incarnation_bits == 9);
  CHECK_FALSE(r.reader.readable()); // a live producer's claim: nothing to do yet
  REQUIRE(r.reader.skip_pending());
  CHECK(r.receive() == std::optional<std::string>{"after"});
  // The producer was only stalled, not dead: its commit now fails visibly.
  CHECK_FALSE(r.ring.commit(dead_claim));
}

TEST_CASE("a stalled producer does not block other producers") {
  test_ring r{4096};
  inbox_ring::claim stalled;
  REQUIRE(r.ring.try_claim(record_kind::data, 16, 2, 1, 7, stalled)
          == inbox_ring::claim_status::claimed);
  for (int i = 0; i < 10; ++i)
    REQUIRE(r.send("other " + std::to_string(i)) == inbox_ring::claim_status::claimed);
  CHECK(r.reader.peek().state == inbox_reader::status::pending);
  std::memcpy(stalled.payload, "stalled producer", 16);
  REQUIRE(r.ring.commit(stalled));
  CHECK(r.receive() == std::optional<std::string>{"stalled producer"});
  for (int i = 0; i < 10; ++i)
    CHECK(r.receive() == std::optional<std::string>{"other " + std::to_string(i)});
}

TEST_CASE("a producer behind the consumer's padding waits for the head, it does not call the ring corrupt") {
  // A producer padded the end of the ring and stalled before moving the
  // tail; the consumer took the padding but has not published its head.
  test_ring r{4096};
  auto& control = *r.ring.control();
  auto end = control.tail.load();
  for (; r.ring.index_of(end) + 512 <= r.ring.capacity(); end = control.tail.load()) {
    REQUIRE(r.send(std::string(200, 'x')) == inbox_ring::claim_status::claimed);
    REQUIRE(r.receive().has_value());
  }
  r.reader.publish(true);
  auto pad_bytes = r.ring.capacity() - r.ring.index_of(end);
  r.ring.word(end).store(record::make_header(record_kind::padding, static_cast<uint32_t>(pad_bytes), 2, 1));
  CHECK(r.reader.peek().state == inbox_reader::status::empty); // padding taken
  inbox_ring::claim c;
  CHECK(r.ring.try_claim(record_kind::data, 8, 1, 1, 7, c) == inbox_ring::claim_status::full);
  CHECK_FALSE(c.repaired);
  r.reader.publish(true);
  CHECK(r.send("next lap") == inbox_ring::claim_status::claimed);
  CHECK(r.receive() == std::optional<std::string>{"next lap"});
}

TEST_CASE("a corrupt record length is reported and the consumer resumes at the next record") {
  test_ring r{4096};
  REQUIRE(r.send("first") == inbox_ring::claim_status::claimed);
  REQUIRE(r.send("victim") == inbox_ring::claim_status::claimed);
  REQUIRE(r.send("third") == inbox_ring::claim_status::claimed);
  CHECK(r.receive() == std::optional<std::string>{"first"});
  // Another process scribbles over the length of the second record.
  auto& header = r.ring.word(r.reader.head());
  auto h = header.load();
  for (uint32_t bad : {3u, 1u << 30, 0u}) {
    header.store(record::make_header(record::kind_of(h), bad, record::slot_of(h),
                                     record::incarnation_bits_of(h)));
    auto e = r.reader.peek();
    CHECK(e.state == inbox_reader::status::corrupt);
    CHECK(e.problem != nullptr);
  }
  auto skipped = r.reader.recover();
  CHECK(skipped == record::record_bytes(6));
  CHECK(r.receive() == std::optional<std::string>{"third"});
  // The ring keeps working afterwards.
  REQUIRE(r.send("fourth") == inbox_ring::claim_status::claimed);
  CHECK(r.receive() == std::optional<std::string>{"fourth"});
}

TEST_CASE("a payload size that disagrees with the record length is corruption, not an overread") {
  test_ring r{4096};
  REQUIRE(r.send("abc") == inbox_ring::claim_status::claimed);
  auto* words = &r.ring.word(r.reader.head());
  words[1].store(uint64_t{100000} | (uint64_t{7} << 32));
  auto e = r.reader.peek();
  CHECK(e.state == inbox_reader::status::corrupt);
  r.reader.recover();
  CHECK(r.reader.peek().state == inbox_reader::status::empty);
  REQUIRE(r.send("next") == inbox_ring::claim_status::claimed);
  CHECK(r.receive() == std::optional<std::string>{"next"});
}

TEST_CASE("garbage at the tail of an empty ring is repaired by the consumer") {
  test_ring r{4096};
  r.ring.word(0).store(0x1234);
  inbox_ring::claim c;
  CHECK(r.ring.try_claim(record_kind::data, 4, 1, 1, 7, c)
        == inbox_ring::claim_status::corrupt);
  CHECK(r.reader.peek().state == inbox_reader::status::corrupt);
  CHECK(r.reader.recover() == 8); // the garbage word, freed for the next lap
  r.reader.publish();
  CHECK(r.send("ok") == inbox_ring::claim_status::claimed);
  CHECK(r.receive() == std::optional<std::string>{"ok"});
}

TEST_CASE("four producer threads into one consumer lose nothing and keep each producer's order") {
  test_ring r{1u << 14, 256};
  constexpr int producers = 4;
  constexpr uint32_t per_producer = 50000;
  // Threads do not assert (a failed REQUIRE off the main thread aborts the
  // binary): each producer reports what went wrong, the main thread checks.
  struct producer_report {
    uint32_t sent = 0;
    std::string failure;
  };
  std::vector<producer_report> reports(producers);
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (uint32_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      auto& report = reports[p];
      while (!go.load())
        std::this_thread::yield();
      while (report.sent < per_producer && !stop.load(std::memory_order_relaxed)) {
        auto seq = report.sent;
        uint32_t payload[3] = {p, seq, p * 1'000'003u ^ seq};
        auto size = 12 + (seq % 5) * 8; // vary the length
        inbox_ring::claim c;
        auto status = r.ring.try_claim(record_kind::data, size, p + 1, 1, 7, c);
        if (status == inbox_ring::claim_status::full) {
          r.ring.wait_for_space(record::record_bytes(size), std::chrono::milliseconds{5});
          continue;
        }
        if (status != inbox_ring::claim_status::claimed || c.repaired) {
          report.failure = "claim " + std::to_string(seq) + " found a corrupt ring";
          return;
        }
        std::memset(c.payload, 0, size);
        std::memcpy(c.payload, payload, sizeof(payload));
        if (!r.ring.commit(c)) {
          report.failure = "commit " + std::to_string(seq) + " was refused";
          return;
        }
        ++report.sent;
      }
    });
  }
  go = true;
  std::vector<uint32_t> next(producers, 0);
  uint64_t total = 0;
  std::string consumer_failure;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{60};
  while (total < uint64_t{producers} * per_producer && consumer_failure.empty()
         && std::chrono::steady_clock::now() < deadline) {
    auto e = r.reader.peek();
    if (e.state != inbox_reader::status::record) {
      if (e.state == inbox_reader::status::corrupt)
        consumer_failure = std::string("corrupt record: ") + e.problem;
      r.reader.publish();
      // The audit must find nothing to repair in a ring used honestly.
      if (r.reader.audit().any())
        consumer_failure = "the audit repaired an honest ring";
      std::this_thread::yield();
      continue;
    }
    if (!e.intact) {
      consumer_failure = "record " + std::to_string(total) + " fails its checksum";
      break;
    }
    uint32_t payload[3];
    std::memcpy(payload, e.payload, sizeof(payload));
    if (payload[0] >= producers || payload[1] != next[payload[0]]
        || payload[2] != (payload[0] * 1'000'003u ^ payload[1])
        || e.sender_slot != payload[0] + 1) {
      consumer_failure = "record " + std::to_string(total) + " from slot "
                         + std::to_string(e.sender_slot) + " says producer "
                         + std::to_string(payload[0]) + ", sequence "
                         + std::to_string(payload[1]) + ": lost, reordered or torn";
      break;
    }
    ++next[payload[0]];
    ++total;
    r.reader.consume();
    if (total % 64 == 0)
      r.reader.publish();
    if (total % 1024 == 0 && r.reader.audit().any())
      consumer_failure = "the audit repaired an honest ring";
  }
  r.reader.publish();
  stop = true;
  for (auto& t : threads)
    t.join();
  CHECK_MESSAGE(consumer_failure.empty(), consumer_failure);
  for (uint32_t p = 0; p < producers; ++p) {
    CHECK_MESSAGE(reports[p].failure.empty(), "producer " << p << ": " << reports[p].failure);
    CHECK(reports[p].sent == per_producer);
  }
  CHECK(total == uint64_t{producers} * per_producer);
}
