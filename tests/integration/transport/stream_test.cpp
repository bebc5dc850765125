// Streams between real processes: a million checksummed records each way,
// and four producers into one consumer with one of them kill -9ed while it
// holds a claimed, unfinished record.
#include <doctest/doctest.h>

#include <csignal>
#include <cstring>

#include <unistd.h>

#include "bus_fixture.hpp"
#include "child_process.hpp"
#include "transport_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;
using transport::node_role;

namespace {

/// Record: seq (8) | producer (4) | checksum (4) | filler (seq-dependent size).
constexpr size_t record_header = 16;

size_t filler_size(uint64_t seq) {
  return (seq * 7919) % 241;
}

uint32_t checksum(uint64_t seq, uint32_t producer, const std::byte* filler, size_t n) {
  uint32_t h = 2166136261u ^ static_cast<uint32_t>(seq) ^ (producer << 16);
  for (size_t i = 0; i < n; ++i)
    h = (h ^ static_cast<uint32_t>(filler[i])) * 16777619u;
  return h;
}

void fill_record(std::byte* dst, uint64_t seq, uint32_t producer) {
  auto n = filler_size(seq);
  for (size_t i = 0; i < n; ++i)
    dst[record_header + i] = static_cast<std::byte>((seq + i) & 0xff);
  auto sum = checksum(seq, producer, dst + record_header, n);
  std::memcpy(dst, &seq, 8);
  std::memcpy(dst + 8, &producer, 4);
  std::memcpy(dst + 12, &sum, 4);
}

/// Checks records per producer: order, checksum, size. Consumer thread only.
class verifier : public recorder {
public:
  explicit verifier(uint32_t producers) : next_(producers, 0) {}

  void on_message(const transport::message_view& msg) override {
    uint64_t seq;
    uint32_t producer;
    uint32_t sum;
    if (msg.size < record_header) {
      ++bad_;
      return;
    }
    std::memcpy(&seq, msg.data, 8);
    std::memcpy(&producer, msg.data + 8, 4);
    std::memcpy(&sum, msg.data + 12, 4);
    if (producer >= next_.size() || seq != next_[producer]
        || msg.size != record_header + filler_size(seq)
        || sum != checksum(seq, producer, msg.data + record_header,
                           msg.size - record_header)) {
      ++bad_;
      return;
    }
    ++next_[producer];
    total_.fetch_add(1, std::memory_order_release);
    if (on_count)
      on_count(producer, next_[producer]);
  }

  uint64_t total() const { return total_.load(std::memory_order_acquire); }
  uint64_t bad() const { return bad_.load(); }
  uint64_t received_from(uint32_t producer) const { return next_.at(producer); }

  std::function<void(uint32_t, uint64_t)> on_count;

private:
  std::vector<uint64_t> next_;
  std::atomic<uint64_t> total_{0};
  std::atomic<uint64_t> bad_{0};
};

transport::error send_record(transport::node& n, uint32_t slot, uint32_t incarnation,
                             uint64_t seq, uint32_t producer) {
  return n.send_with(slot, incarnation, record_header + filler_size(seq),
                     [&](std::byte* dst) { fill_record(dst, seq, producer); });
}

} // namespace

// args: bus count [stall-after]
// Sends `count` records to the server (producer id = own slot), prints
// "done". With stall-after K: sends K records, then claims one more, prints
// "claimed" and blocks inside the claim until killed.
SHMBUS_CHILD_ROLE("producer") {
  auto n = start_node(args.at(0), node_role::client, "producer");
  auto count = std::stoull(args.at(1));
  long long stall_after = args.size() > 2 ? std::stoll(args[2]) : -1;
  auto server = n->peer(0);
  if (!server)
    return 3;
  for (uint64_t seq = 0; seq < count; ++seq) {
    if (static_cast<long long>(seq) == stall_after) {
      n->send_with(0, server->incarnation, 64, [](std::byte*) {
        std::printf("claimed\n");
        std::fflush(stdout);
        for (;;)
          ::pause();
      });
    }
    if (auto err = send_record(*n, 0, server->incarnation, seq, n->slot())) {
      std::printf("error %s\n", err.message.c_str());
      return 4;
    }
  }
  std::printf("done\n");
  std::fflush(stdout);
  for (;;)
    ::pause();
}

// args: bus count
// Sends `count` records to the server while verifying `count` records from
// it; prints "ok" or what went wrong.
SHMBUS_CHILD_ROLE("exchange") {
  auto n = start_node(args.at(0), node_role::client, "exchange");
  auto count = std::stoull(args.at(1));
  auto server = n->peer(0);
  if (!server)
    return 3;
  verifier check{1};
  {
    pump consumer{*n, check};
    for (uint64_t seq = 0; seq < count; ++seq)
      if (auto err = send_record(*n, 0, server->incarnation, seq, 0)) {
        std::printf("error %s\n", err.message.c_str());
        return 4;
      }
    if (!wait_until([&] { return check.total() == count || check.bad() > 0; }, 60s)) {
      std::printf("error received %llu of %llu\n",
                  static_cast<unsigned long long>(check.total()),
                  static_cast<unsigned long long>(count));
      return 5;
    }
  }
  std::printf(check.bad() == 0 ? "ok\n" : "error bad records\n");
  std::fflush(stdout);
  for (;;)
    ::pause(); // stay until the test is done with us
}

TEST_CASE("two processes exchange a million checksummed records each way without loss or reordering") {
  constexpr uint64_t count = 1'000'000;
  scoped_bus bus{"exchange"};
  auto server = start_node(bus.name, node_role::server, "srv", test_timing());
  verifier check{1};
  pump consumer{*server, check};
  auto peer = child_process::spawn("exchange", {bus.name, std::to_string(count)});
  std::optional<transport::peer_info> client;
  REQUIRE(wait_until([&] { return (client = server->peer(1)).has_value(); }, 10s));
  for (uint64_t seq = 0; seq < count; ++seq)
    REQUIRE(!send_record(*server, 1, client->incarnation, seq, 0));
  REQUIRE(peer.read_line(60s) == std::optional<std::string>{"ok"});
  REQUIRE(wait_until([&] { return check.total() == count || check.bad() > 0; }, 60s));
  CHECK(check.bad() == 0);
  CHECK(check.total() == count);
  auto counters = server->counters(server->slot());
  CHECK(counters.msgs_in == count);
  CHECK(counters.msgs_out == count);
  CHECK(counters.send_errors == 0);
}

TEST_CASE("a producer killed inside a claim is skipped: the consumer keeps receiving from the other three") {
  constexpr uint64_t per_producer = 200'000;
  constexpr uint64_t before_stall = 5'000;
  scoped_bus bus{"mpsc-kill"};
  transport::node_options opts;
  opts.bus = bus.name;
  opts.role = node_role::server;
  opts.name = "consumer";
  opts.timing = test_timing();
  opts.limits.node_slots = 8;
  opts.limits.inbox_bytes = 1u << 16; // small: producers fill it while blocked
  opts.limits.max_message_bytes = 1024;
  auto server = transport::node::start(opts);
  REQUIRE(server.has_value());
  verifier check{8};
  pump consumer{**server, check};
  std::vector<child_process> producers;
  for (int i = 0; i < 3; ++i)
    producers.push_back(child_process::spawn("producer", {bus.name, std::to_string(per_producer)}));
  auto staller = child_process::spawn(
    "producer", {bus.name, std::to_string(per_producer), std::to_string(before_stall)});
  REQUIRE(staller.read_line(30s) == std::optional<std::string>{"claimed"});
  uint32_t staller_slot = 0;
  for (auto& p : (*server)->peers())
    if (p.pid == staller.pid())
      staller_slot = p.slot;
  REQUIRE(staller_slot != 0);
  staller.signal(SIGKILL);
  for (auto& p : producers)
    REQUIRE(p.read_line(60s) == std::optional<std::string>{"done"});
  REQUIRE(wait_until([&] { return check.total() == 3 * per_producer + before_stall
                                  || check.bad() > 0; },
                     60s));
  CHECK(check.bad() == 0);
  CHECK(check.received_from(staller_slot) == before_stall);
  REQUIRE(wait_until([&] { return check.loss_of(staller_slot).has_value(); }, 10s));
  CHECK(check.loss_of(staller_slot)->cause == transport::loss_cause::killed);
  CHECK((*server)->counters(0).skipped_claims == 1);
  for (uint32_t slot = 1; slot < 8; ++slot)
    if (slot != staller_slot && check.received_from(slot) != 0)
      CHECK(check.received_from(slot) == per_producer);
}
