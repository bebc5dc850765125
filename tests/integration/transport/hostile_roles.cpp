// The processes of the hostile tests: honest nodes that exchange
// sequence-numbered, self-checking messages and account for every one, and
// a hostile process that maps the live segment (segment::attach, what any
// process of the user can do) and damages it.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include "child_process.hpp"
#include "transport_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

// -- messages: seq (8) | size (4) | checksum (4) | filler ------------------------

constexpr size_t message_header = 16;

size_t message_size(uint64_t seq) {
  return message_header + (seq * 7919) % 385;
}

uint32_t message_checksum(const std::byte* msg, size_t size) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < size; ++i)
    if (i < 12 || i >= 16) // all but the checksum field
      h = (h ^ static_cast<uint32_t>(msg[i])) * 16777619u;
  return h;
}

void fill_message(std::byte* dst, uint64_t seq, size_t size) {
  auto n32 = static_cast<uint32_t>(size);
  std::memcpy(dst, &seq, 8);
  std::memcpy(dst + 8, &n32, 4);
  for (size_t i = message_header; i < size; ++i)
    dst[i] = static_cast<std::byte>((seq * 31 + i) & 0xff);
  auto sum = message_checksum(dst, size);
  std::memcpy(dst + 12, &sum, 4);
}

/// Checks what arrives: altered means a message handed over as intact
/// that is not what was sent (the failure the checksums exist to prevent).
class accountant : public transport::inbox_handler {
public:
  void on_message(const transport::message_view& msg) override {
    if (!msg.intact) {
      ++nonintact;
      return;
    }
    uint64_t seq = 0;
    uint32_t size = 0;
    uint32_t sum = 0;
    if (msg.size < message_header) {
      ++altered;
      return;
    }
    std::memcpy(&seq, msg.data, 8);
    std::memcpy(&size, msg.data + 8, 4);
    std::memcpy(&sum, msg.data + 12, 4);
    if (size != msg.size || message_size(seq) != size
        || message_checksum(msg.data, msg.size) != sum) {
      ++altered;
      return;
    }
    if (seq < expected) {
      ++reordered;
      return;
    }
    gaps += seq - expected;
    expected = seq + 1;
    ++received;
  }
  void on_peer_lost(const transport::peer_loss& loss) override {
    std::printf("lost %s\n", loss.describe().c_str());
    std::fflush(stdout);
  }
  void on_error(const transport::error& err) override {
    if (++errors <= 5) {
      std::printf("error %s\n", err.message.c_str());
      std::fflush(stdout);
    }
  }

  uint64_t expected = 0;
  uint64_t received = 0;
  uint64_t gaps = 0;
  uint64_t altered = 0;
  uint64_t reordered = 0;
  uint64_t nonintact = 0;
  uint64_t errors = 0;
};

transport::node_options honest_options(const std::vector<std::string>& args) {
  transport::node_options opts;
  opts.bus = args.at(0);
  opts.role = args.at(1) == "server" ? transport::node_role::server
                                     : transport::node_role::client;
  opts.name = args.at(2);
  // Small inboxes: they wrap often, so damage lands on live records.
  opts.limits.node_slots = 4;
  opts.limits.inbox_bytes = 64u << 10;
  opts.limits.max_message_bytes = 4u << 10;
  opts.timing.heartbeat_interval = 100ms;
  opts.timing.heartbeat_timeout = 2s;
  return opts;
}

} // namespace

// args: bus role name peer seconds
// Prints "ready SLOT", then "peer SLOT", then every 100 ms
// "stats received=.. gaps=.. altered=.. nonintact=.. errors=.. sent=.. send_errors=..",
// "sent N" once it stopped sending after `seconds`, and runs until killed.
SHMBUS_CHILD_ROLE("honest") {
  auto started = transport::node::start(honest_options(args));
  if (!started) {
    std::printf("error %s\n", started.err().message.c_str());
    return 2;
  }
  auto& self = **started;
  std::printf("ready %u\n", self.slot());
  std::fflush(stdout);
  const auto& peer_name = args.at(3);
  auto send_for = std::chrono::seconds{std::stoi(args.at(4))};
  std::optional<transport::peer_info> peer;
  accountant books;
  auto until = std::chrono::steady_clock::now() + 10s;
  while (!peer && std::chrono::steady_clock::now() < until) {
    for (auto& p : self.peers())
      if (p.name == peer_name)
        peer = p;
    self.run_once(books, 10ms);
  }
  if (!peer) {
    std::printf("error no peer %s\n", peer_name.c_str());
    return 3;
  }
  std::printf("peer %u\n", peer->slot);
  std::fflush(stdout);
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> send_errors{0};
  std::atomic<bool> done{false};
  std::thread sender([&] {
    auto stop_at = std::chrono::steady_clock::now() + send_for;
    std::byte buf[4096];
    uint64_t seq = 0;
    while (std::chrono::steady_clock::now() < stop_at) {
      for (int burst = 0; burst < 16; ++burst) {
        auto size = message_size(seq);
        fill_message(buf, seq, size);
        // Only what the transport accepted counts as sent; a failed send
        // keeps its sequence number for the next try.
        if (auto err = self.send(peer->slot, peer->incarnation, buf, size)) {
          send_errors.fetch_add(1);
          if (!self.peer(peer->slot))
            break;
        } else {
          ++seq;
          sent.store(seq);
        }
      }
      std::this_thread::sleep_for(1ms); // a steady stream, not a flood
    }
    done = true;
  });
  auto next_stats = std::chrono::steady_clock::now();
  auto next_nap = next_stats + 50ms;
  bool said_sent = false;
  for (;;) {
    self.run_once(books, 10ms);
    auto now = std::chrono::steady_clock::now();
    if (now >= next_nap) {
      // A consumer that falls behind now and then keeps records in the
      // ring for the hostile process to hit.
      std::this_thread::sleep_for(10ms);
      next_nap = now + 50ms;
    }
    if (now < next_stats)
      continue;
    next_stats = now + 100ms;
    if (done && !said_sent) {
      said_sent = true;
      sender.join();
      std::printf("sent %llu\n", static_cast<unsigned long long>(sent.load()));
    }
    std::printf("stats received=%llu gaps=%llu altered=%llu reordered=%llu nonintact=%llu "
                "errors=%llu sent=%llu send_errors=%llu\n",
                static_cast<unsigned long long>(books.received),
                static_cast<unsigned long long>(books.gaps),
                static_cast<unsigned long long>(books.altered),
                static_cast<unsigned long long>(books.reordered),
                static_cast<unsigned long long>(books.nonintact),
                static_cast<unsigned long long>(books.errors),
                static_cast<unsigned long long>(sent.load()),
                static_cast<unsigned long long>(send_errors.load()));
    std::fflush(stdout);
  }
}

namespace {

/// The committed data records from the head on, as the hostile sees them.
std::vector<uint64_t> committed_records(const transport::inbox_ring& ring) {
  std::vector<uint64_t> result;
  auto pos = ring.control()->head.load();
  for (int i = 0; i < 512 && pos % 8 == 0; ++i) {
    auto w = ring.word(pos).load();
    if (!ring.well_formed(w, pos))
      break;
    if (transport::record::kind_of(w) == transport::record_kind::data)
      result.push_back(pos);
    pos += transport::record::length_of(w);
  }
  return result;
}

} // namespace

// args: bus attack slot... : damages the rings of the given slots, prints
// what it did and "done".
SHMBUS_CHILD_ROLE("hostile") {
  auto seg = transport::segment::attach(args.at(0));
  if (!seg) {
    std::printf("error %s\n", seg.err().message.c_str());
    return 2;
  }
  const auto& attack = args.at(1);
  std::vector<uint32_t> slots;
  for (size_t i = 2; i < args.size(); ++i)
    slots.push_back(static_cast<uint32_t>(std::stoul(args[i])));
  std::mt19937_64 rng{static_cast<uint64_t>(::getpid())};
  auto for_a_while = [&](auto&& act) {
    auto until = std::chrono::steady_clock::now() + 300ms;
    while (std::chrono::steady_clock::now() < until) {
      for (auto slot : slots)
        act(seg->ring(slot));
      std::this_thread::sleep_for(1ms); // pace the damage
    }
  };
  if (attack == "truncate") {
    for (off_t size : {off_t{0}, off_t{4096}, static_cast<off_t>(seg->size_bytes() * 2)}) {
      errno = 0;
      auto rc = ::ftruncate(seg->memfd(), size);
      std::printf("ftruncate %lld %s\n", static_cast<long long>(size),
                  rc == 0 ? "succeeded" : std::strerror(errno));
    }
    auto lock = transport::lock_file_path(args.at(0));
    auto sock = transport::socket_path(args.at(0));
    std::printf("truncate lock %s\n", ::truncate(lock.c_str(), 0) == 0 ? "ok" : "failed");
    // Replace the lock file, and the socket with a symlink.
    ::unlink(lock.c_str());
    ::close(::open(lock.c_str(), O_CREAT | O_RDWR, 0600));
    ::unlink(sock.c_str());
    std::printf("symlink sock %s\n", ::symlink("/etc/hostname", sock.c_str()) == 0 ? "ok" : "failed");
  } else if (attack == "tail-far") {
    for (auto slot : slots)
      seg->ring(slot).control()->tail.fetch_add(10u << 20);
  } else if (attack == "tail-misaligned") {
    for (auto slot : slots)
      seg->ring(slot).control()->tail.fetch_add(3);
  } else if (attack == "tail-nudge") {
    // Into the middle of the last records, or a little past their end (a
    // hole that producers then fill from behind).
    for_a_while([&](const transport::inbox_ring& ring) {
      auto& tail = ring.control()->tail;
      auto delta = 8 * (1 + rng() % 8);
      tail.store(rng() % 2 == 0 ? tail.load() - delta : tail.load() + delta);
    });
  } else if (attack == "head-cache") {
    for (auto slot : slots) {
      auto* c = seg->ring(slot).control();
      c->head_cache.store(c->head.load() + (1u << 20));
    }
  } else if (attack == "head") {
    for (auto slot : slots)
      seg->ring(slot).control()->head.fetch_add(12345);
  } else if (attack == "flip-payload" || attack == "flip-header") {
    bool header = attack == "flip-header";
    // Flips that may have hit a newer record: the one we chose was consumed
    // and its place claimed again before the flip, so its producer may have
    // checksummed the flipped byte as its own. No checksum written in the
    // shared memory it protects can catch that; the test allows as many
    // altered-but-intact records as there were such flips.
    uint64_t raced = 0;
    for_a_while([&](const transport::inbox_ring& ring) {
      auto records = committed_records(ring);
      if (records.empty())
        return;
      auto pos = records[rng() % records.size()];
      auto payload = ring.word(pos + 8).load() & 0xffffffff;
      auto offset = header ? rng() % transport::record::header_bytes
                           : transport::record::header_bytes + rng() % std::max<uint64_t>(payload, 1);
      auto header_before = ring.word(pos).load();
      auto stamp_before = ring.word(pos + 16).load();
      // A whole-word atomic xor of one byte: the honest processes read
      // these words concurrently.
      auto mask = uint64_t{1 + rng() % 255} << (8 * (offset % 8));
      ring.word(pos + offset / 8 * 8).fetch_xor(mask);
      auto flipped_header = offset < 8 ? mask : 0;
      auto flipped_stamp = offset / 8 == 2 ? mask : 0;
      if ((ring.word(pos).load() ^ flipped_header) != header_before
          || (ring.word(pos + 16).load() ^ flipped_stamp) != stamp_before
          || transport::record::kind_of(header_before) != transport::record_kind::data)
        ++raced;
    });
    std::printf("raced %llu\n", static_cast<unsigned long long>(raced));
  } else if (attack == "garbage") {
    for (auto slot : slots) {
      auto ring = seg->ring(slot);
      for (uint64_t pos = 0; pos < ring.capacity(); pos += 8)
        ring.word(pos).store(rng());
    }
  } else if (attack == "random-words") {
    for_a_while([&](const transport::inbox_ring& ring) {
      auto value = rng();
      switch (rng() % 8) {
        case 0: ring.control()->tail.store(value % (8 * uint64_t{ring.capacity()})); break;
        case 1: ring.control()->head_cache.store(value); break;
        case 2: ring.control()->head.fetch_add(value % 64); break;
        default: ring.word(rng() % ring.capacity()).store(value); break;
      }
    });
  } else {
    std::printf("error unknown attack %s\n", attack.c_str());
    return 2;
  }
  std::printf("done\n");
  std::fflush(stdout);
  return 0;
}
