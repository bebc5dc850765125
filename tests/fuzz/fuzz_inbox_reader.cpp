// libFuzzer target: an inbox ring whose buffer and control words hold
// arbitrary bytes, read and written by the consumer (peek, consume,
// recover, skip, audit, publish) and by producers (claim, commit) in an
// order the input chooses. Findings: a crash, a read or write outside the
// ring (AddressSanitizer: the buffer is allocated to its exact size),
// undefined behaviour, a loop that does not end, or a broken promise
// checked below.
#include <cstdint>
#include <cstring>
#include <new>

#include "shmbus/transport/inbox_reader.hpp"
#include "shmbus/transport/inbox_ring.hpp"

#include "fuzz_input.hpp"

using namespace shmbus::transport;
using shmbus::fuzz::fuzz_input;
using shmbus::fuzz::require;

namespace {

constexpr uint32_t capacity = 4096;
constexpr uint32_t max_payload = 1001; // not whole words: records round up
constexpr uint32_t node_slots = 16;
constexpr int max_steps = 64;

struct ring_memory {
  ring_memory()
    : control(new (::operator new(sizeof(ring_control), std::align_val_t{cache_line}))
                ring_control{}),
      buffer(static_cast<std::byte*>(::operator new(capacity, std::align_val_t{8}))) {}
  ~ring_memory() {
    control->~ring_control();
    ::operator delete(control, std::align_val_t{cache_line});
    ::operator delete(buffer, std::align_val_t{8});
  }
  ring_control* control;
  std::byte* buffer;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz_input in{data, size};
  ring_memory mem;
  bool checksums = (in.take<uint8_t>() & 1) != 0;
  inbox_ring ring{mem.control, mem.buffer, capacity, checksums};
  // Start from an honest ring half the time, so that deep paths are near.
  if ((in.take<uint8_t>() & 1) != 0)
    ring.initialize();
  else
    in.take_bytes(mem.buffer, capacity);
  mem.control->head.store(in.take<uint64_t>() % (4 * capacity));
  mem.control->tail.store(in.take<uint64_t>());
  mem.control->head_cache.store(in.take<uint64_t>());
  inbox_reader reader{ring, max_payload, node_slots};
  uint64_t last_head = reader.head();
  for (int step = 0; step < max_steps && !in.empty(); ++step) {
    switch (in.take<uint8_t>() % 10) {
      case 0: {
        auto e = reader.peek();
        if (e.state == inbox_reader::status::record) {
          require(e.payload_bytes <= max_payload);
          // In place without checksums; with them, the reader's copy of
          // exactly the bytes in the ring (nobody writes meanwhile here).
          auto* in_ring = ring.bytes_at(e.position) + record::header_bytes;
          require(in_ring >= mem.buffer && in_ring + e.payload_bytes <= mem.buffer + capacity);
          require(checksums ? std::memcmp(e.payload, in_ring, e.payload_bytes) == 0
                            : e.payload == in_ring);
          volatile std::byte sink{};
          for (uint32_t i = 0; i < e.payload_bytes; ++i)
            sink = e.payload[i]; // the handler may read all of it
          (void)sink;
          if ((in.take<uint8_t>() & 1) != 0)
            reader.consume();
        }
        break;
      }
      case 1: {
        if (reader.peek().state == inbox_reader::status::corrupt) {
          auto skipped = reader.recover();
          require(skipped >= 8 && skipped <= capacity);
        }
        break;
      }
      case 2:
        if (reader.peek().state == inbox_reader::status::pending) {
          reader.pending_looks_committed();
          reader.skip_pending();
        }
        break;
      case 3:
        reader.audit();
        break;
      case 4:
        reader.publish((in.take<uint8_t>() & 1) != 0);
        break;
      case 5:
      case 6: {
        auto payload = in.take<uint16_t>() % (max_payload + 1);
        inbox_ring::claim c;
        auto status = ring.try_claim(record_kind::data, payload, in.take<uint8_t>() % node_slots,
                                     in.take<uint8_t>(), 1, c);
        if (status == inbox_ring::claim_status::claimed) {
          require(c.payload >= mem.buffer && c.payload + payload <= mem.buffer + capacity);
          std::memset(c.payload, 0x5a, payload);
          if ((in.take<uint8_t>() & 3) != 0)
            ring.commit(c);
        }
        break;
      }
      case 7: {
        // Another process writes a word somewhere.
        auto at = in.take<uint16_t>() % capacity / 8 * 8;
        ring.word(at).store(in.take<uint64_t>());
        break;
      }
      case 8: {
        auto value = in.take<uint64_t>();
        switch (in.take<uint8_t>() % 3) {
          case 0: mem.control->tail.store(value); break;
          case 1: mem.control->head_cache.store(value); break;
          default: mem.control->head.store(value); break;
        }
        break;
      }
      default:
        ring.used_bytes();
        ring.end_of_records(reader.head());
        break;
    }
    require(reader.head() >= last_head); // the consumer never goes back
    require(reader.head() - last_head <= 2 * uint64_t{capacity} * max_steps);
    last_head = reader.head();
    require(ring.used_bytes() <= capacity);
  }
  return 0;
}
