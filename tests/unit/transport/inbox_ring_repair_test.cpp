// What another process can do to a ring's words, and how the ring gets
// over it: impossible control words (head, head cache, tail), damaged
// records (payload, header, padding), and garbage over the whole buffer.
// Nothing may hang, crash or hand over altered bytes as intact.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>

#include "shmbus/transport/inbox_reader.hpp"
#include "shmbus/transport/inbox_ring.hpp"

#include "test_ring.hpp"

using namespace shmbus::transport;
using shmbus::test::test_ring;

namespace {

using status = inbox_reader::status;
using claim_status = inbox_ring::claim_status;

constexpr uint32_t capacity = 4096;

/// Sends `n` records "m0", "m1", ... and returns the position after them.
uint64_t fill(test_ring& r, int n, const std::string& prefix = "m") {
  for (int i = 0; i < n; ++i)
    REQUIRE(r.send(prefix + std::to_string(i)) == claim_status::claimed);
  return r.ring.control()->tail.load();
}

/// Claims and commits one record, reporting whether the producer repaired the tail.
bool send_reports_repair(test_ring& r, const std::string& text) {
  inbox_ring::claim c;
  REQUIRE(r.ring.try_claim(record_kind::data, static_cast<uint32_t>(text.size()), 1, 1, 7, c)
          == claim_status::claimed);
  std::memcpy(c.payload, text.data(), text.size());
  REQUIRE(r.ring.commit(c));
  return c.repaired;
}

/// Reads everything readable, recovering from corruption; returns the
/// intact texts and counts what else it met. Bounded.
struct drained {
  std::vector<std::string> texts;
  int corrupt = 0;
  int damaged = 0; ///< handed over, not intact
  uint64_t lost_bytes = 0;
};

drained drain(test_ring& r) {
  drained d;
  for (int step = 0; step < 10000; ++step) {
    auto e = r.reader.peek();
    if (e.state == status::empty || e.state == status::pending)
      break;
    if (e.state == status::corrupt) {
      ++d.corrupt;
      d.lost_bytes += r.reader.recover();
      continue;
    }
    if (e.intact)
      d.texts.emplace_back(reinterpret_cast<const char*>(e.payload), e.payload_bytes);
    else
      ++d.damaged;
    r.reader.consume();
  }
  r.reader.publish();
  return d;
}

} // namespace

TEST_CASE("a tail moved far beyond the head is re-derived by the next producer at once") {
  test_ring r{capacity};
  fill(r, 3);
  auto& tail = r.ring.control()->tail;
  auto real = tail.load();
  tail.store(real + (10u << 20)); // "10 MiB queued in a 4 KiB ring"
  CHECK(send_reports_repair(r, "after"));
  CHECK(tail.load() == real + record::record_bytes(5));
  auto d = drain(r);
  CHECK(d.texts == std::vector<std::string>{"m0", "m1", "m2", "after"});
  CHECK(d.corrupt == 0);
}

TEST_CASE("a misaligned tail is re-derived and no record is written out of line") {
  test_ring r{capacity};
  fill(r, 2);
  auto& tail = r.ring.control()->tail;
  auto real = tail.load();
  tail.store(real + 3);
  CHECK(send_reports_repair(r, "aligned"));
  CHECK(tail.load() % 8 == 0);
  auto d = drain(r);
  CHECK(d.texts == std::vector<std::string>{"m0", "m1", "aligned"});
  CHECK(d.corrupt == 0);
}

TEST_CASE("a tail pointing into the middle of a record is moved to the end of the records") {
  test_ring r{capacity};
  fill(r, 4);
  auto& tail = r.ring.control()->tail;
  auto real = tail.load();
  tail.store(8); // inside the first record
  CHECK(send_reports_repair(r, "fifth"));
  CHECK(tail.load() == real + record::record_bytes(5));
  auto d = drain(r);
  CHECK(d.texts == std::vector<std::string>{"m0", "m1", "m2", "m3", "fifth"});
}

TEST_CASE("records after a hole are never overwritten: producers wait until the consumer skips it") {
  // m0, a hole where m1 was (producers once followed a tail moved past the
  // end of the records), m2 and m3 after it, and the tail nudged into m3.
  test_ring r{capacity};
  auto m1_at = fill(r, 1);
  auto m2_at = fill(r, 1, "m1-");
  fill(r, 2, "after");
  for (auto p = m1_at; p < m2_at; p += record::alignment)
    r.ring.word(p).store(record::free_tag(p));
  auto& tail = r.ring.control()->tail;
  auto real = tail.load();
  tail.store(real - record::alignment);
  // The end of the records as a walk from the head sees it is the hole:
  // a claim there would run over "after0". The producer waits instead.
  std::string longer(m2_at - m1_at + 32, 'x');
  CHECK(r.send(longer) == claim_status::corrupt);
  auto d = drain(r);
  CHECK(d.texts == std::vector<std::string>{"m0"});
  auto report = r.reader.audit();
  CHECK(report.hole_skipped == m2_at - m1_at);
  d = drain(r);
  CHECK(d.texts == std::vector<std::string>{"after0", "after1"});
  CHECK(d.corrupt == 0);
  // Past the hole the tail lies behind the head, as a lagging hint does.
  CHECK(r.send(longer) == claim_status::claimed);
  d = drain(r);
  CHECK(d.texts == std::vector<std::string>{longer});
}

TEST_CASE("the consumer's audit finds an impossible tail before any producer does") {
  test_ring r{capacity};
  auto real = fill(r, 2);
  auto& tail = r.ring.control()->tail;
  for (uint64_t bad : {real + 3, real + (10u << 20), uint64_t{8}, real + 64}) {
    tail.store(bad);
    auto report = r.reader.audit();
    CHECK(report.tail_restored);
    CHECK(report.bad_tail == bad);
    CHECK(tail.load() == real);
  }
  CHECK_FALSE(r.reader.audit().any());
}

TEST_CASE("a head cache ahead of the head makes no producer overwrite unread records") {
  test_ring r{capacity};
  // Fill the ring completely: the next claim must wait for the consumer.
  int sent = 0;
  while (r.send("r" + std::to_string(sent)) == claim_status::claimed)
    ++sent;
  REQUIRE(sent > 10);
  auto& cache = r.ring.control()->head_cache;
  cache.store(1u << 20);
  CHECK(r.reader.audit().head_cache_restored);
  CHECK(cache.load() == 0);
  for (uint64_t bad : {uint64_t{1} << 20, uint64_t{capacity}, uint64_t{capacity + 8}}) {
    cache.store(bad);
    for (int i = 0; i < 20; ++i)
      CHECK(r.send("intruder") != claim_status::claimed);
  }
  auto d = drain(r);
  REQUIRE(d.texts.size() == static_cast<size_t>(sent));
  for (int i = 0; i < sent; ++i)
    CHECK(d.texts[i] == "r" + std::to_string(i));
  CHECK(d.corrupt == 0);
  CHECK(r.send("afterwards") == claim_status::claimed);
  CHECK(r.receive() == std::optional<std::string>{"afterwards"});
}

TEST_CASE("an overwritten published head is put back by the audit; producers wait meanwhile") {
  test_ring r{capacity};
  fill(r, 2);
  drain(r);
  auto& head = r.ring.control()->head;
  auto real = head.load();
  head.store(real + 5);
  // Producers that do not need the head go on; one that does waits.
  r.ring.control()->head_cache.store(real + 5);
  CHECK(r.send("while broken") == claim_status::corrupt);
  auto report = r.reader.audit();
  CHECK(report.head_restored);
  CHECK(report.head_cache_restored);
  CHECK(head.load() == real);
  CHECK(r.send("repaired") == claim_status::claimed);
  CHECK(r.receive() == std::optional<std::string>{"repaired"});
  // A head moved a lap ahead: producers must not take unread words for free.
  fill(r, 3, "x");
  head.store(real + 2 * capacity);
  for (int i = 0; i < 10; ++i)
    r.send("ahead");
  r.reader.audit();
  auto d = drain(r);
  REQUIRE(d.texts.size() >= 3);
  CHECK(d.texts[0] == "x0");
  CHECK(d.texts[1] == "x1");
  CHECK(d.texts[2] == "x2");
}

TEST_CASE("a flipped payload byte is handed over as not intact, the next record is fine") {
  test_ring r{capacity};
  fill(r, 3);
  auto* payload = r.ring.bytes_at(r.reader.head()) + record::header_bytes;
  payload[1] ^= std::byte{0x20};
  auto e = r.reader.peek();
  REQUIRE(e.state == status::record);
  CHECK_FALSE(e.intact);
  r.reader.consume();
  CHECK(r.receive() == std::optional<std::string>{"m1"});
}

TEST_CASE("a scribble between the producer's copy and its commit fails the checksum of its own bytes") {
  test_ring r{capacity};
  std::string text = "the producer's own bytes";
  for (bool of_source : {true, false}) {
    inbox_ring::claim c;
    REQUIRE(r.ring.try_claim(record_kind::data, static_cast<uint32_t>(text.size()), 1, 1, 7, c)
            == claim_status::claimed);
    std::memcpy(c.payload, text.data(), text.size());
    c.payload[3] ^= std::byte{0x20}; // another process, right after the copy
    auto* source = reinterpret_cast<const std::byte*>(text.data());
    REQUIRE(r.ring.commit(c, of_source ? source : nullptr));
    auto e = r.reader.peek();
    REQUIRE(e.state == status::record);
    // Checksummed from the ring, the altered copy would pass as intact.
    CHECK(e.intact == !of_source);
    r.reader.consume();
  }
}

TEST_CASE("a payload a few bytes over the largest message is corruption, not an overread") {
  // 1004 bytes round up to the same record length as the largest, 1001.
  test_ring r{capacity, 1001};
  REQUIRE(record::record_bytes(1004) == record::record_bytes(1001));
  REQUIRE(r.send(std::string(1004, 'x')) == claim_status::claimed);
  auto e = r.reader.peek();
  CHECK(e.state == status::corrupt);
  CHECK(std::string(e.problem) == "payload larger than the largest message");
}

TEST_CASE("a scribble after the receiver's check cannot change what the handler reads") {
  test_ring r{capacity};
  fill(r, 1);
  auto* in_ring = r.ring.bytes_at(r.reader.head()) + record::header_bytes;
  auto e = r.reader.peek();
  REQUIRE(e.state == status::record);
  REQUIRE(e.intact);
  // Another process, between the check and the handler's read.
  in_ring[0] ^= std::byte{0x20};
  CHECK(e.payload != in_ring);
  CHECK(std::string(reinterpret_cast<const char*>(e.payload), e.payload_bytes) == "m0");
  r.reader.consume();
}

TEST_CASE("without checksums a flipped payload byte goes unnoticed, as configured") {
  test_ring r{capacity, 1024, false};
  fill(r, 1);
  r.ring.bytes_at(r.reader.head())[record::header_bytes] ^= std::byte{1};
  auto e = r.reader.peek();
  REQUIRE(e.state == status::record);
  CHECK(e.intact);
  CHECK((r.ring.word(r.reader.head() + 16).load() >> 32) == 0); // no checksum written
}

TEST_CASE("every single-bit flip in a record's first three words is caught") {
  for (int bit = 0; bit < 192; ++bit) {
    CAPTURE(bit);
    test_ring r{capacity};
    fill(r, 2);
    auto& w = r.ring.word(r.reader.head() + static_cast<uint64_t>(bit / 64) * 8);
    w.store(w.load() ^ (uint64_t{1} << (bit % 64)));
    // Caught as corrupt (then skipped), handed over not intact, or a pending
    // claim (its kind bits now say claimed): never delivered as intact.
    auto e = r.reader.peek();
    bool caught = e.state == status::corrupt || e.state == status::pending
                  || (e.state == status::record && !e.intact);
    CHECK(caught);
    if (e.state == status::pending)
      CHECK(r.reader.pending_looks_committed());
  }
}

TEST_CASE("padding anywhere but the end of the ring is corruption") {
  test_ring r{capacity};
  fill(r, 2);
  auto& w = r.ring.word(r.reader.head());
  auto h = w.load();
  w.store(record::make_header(record_kind::padding, record::length_of(h), 0, 0));
  auto e = r.reader.peek();
  CHECK(e.state == status::corrupt);
  CHECK(r.reader.recover() == record::length_of(h));
  CHECK(r.receive() == std::optional<std::string>{"m1"});
}

TEST_CASE("a ring full of garbage is reset in one recovery that reports it all lost") {
  test_ring r{capacity};
  fill(r, 5);
  std::mt19937_64 rng{7};
  for (uint64_t pos = 0; pos < capacity; pos += 8)
    r.ring.word(pos).store(rng() & ~record::free_bit);
  auto e = r.reader.peek();
  REQUIRE(e.state == status::corrupt);
  CHECK(r.reader.recover() == capacity);
  r.reader.publish();
  CHECK(r.reader.peek().state == status::empty);
  auto repaired = r.send("reborn");
  CHECK(repaired == claim_status::claimed);
  CHECK(r.receive() == std::optional<std::string>{"reborn"});
}

TEST_CASE("random scribbles over words and control words never hang or crash the ring") {
  // Bounded rounds of: honest traffic, a few random writes, drain, audit.
  std::mt19937_64 rng{2024};
  test_ring r{capacity, 512};
  uint64_t delivered_intact = 0;
  uint64_t altered = 0;
  for (int round = 0; round < 3000; ++round) {
    for (int i = 0, n = static_cast<int>(rng() % 8); i < n; ++i)
      r.send(std::string(rng() % 200, 'p'), 1 + static_cast<uint32_t>(rng() % 3));
    for (int i = 0, n = static_cast<int>(rng() % 3); i < n; ++i) {
      auto value = rng();
      switch (rng() % 6) {
        case 0: r.ring.word(rng() % capacity).store(value); break;
        case 1: r.ring.control()->tail.store(value % (4 * capacity)); break;
        case 2: r.ring.control()->head_cache.store(value % (4 * capacity)); break;
        case 3: r.ring.control()->head.store(value % (4 * capacity)); break;
        case 4: r.ring.bytes_at(rng() % capacity)[0] ^= std::byte{0xff}; break;
        default: break;
      }
    }
    auto d = drain(r);
    for (auto& t : d.texts)
      altered += t == std::string(t.size(), 'p') ? 0 : 1;
    delivered_intact += d.texts.size();
    r.reader.audit();
    // Pending claims that garbage made up would wait for the consumer's age
    // limit (inbox_consumer); here their producers are "gone".
    if (r.reader.peek().state == status::pending)
      r.reader.skip_pending();
  }
  CHECK(altered == 0); // intact means unaltered
  // Honest traffic got through most of the time.
  CHECK(delivered_intact > 1000);
}
