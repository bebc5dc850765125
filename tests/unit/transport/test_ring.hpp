// An inbox ring in ordinary memory, laid out as in the segment, with a
// reader: for ring tests (no doctest here, so that the fuzz targets can use
// it too).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>

#include "shmbus/transport/inbox_reader.hpp"
#include "shmbus/transport/inbox_ring.hpp"

namespace shmbus::test {

/// Page-aligned memory, as a ring has in the segment: ring_control is
/// alignas(cache_line), which `new std::byte[]` does not guarantee.
struct page_aligned_delete {
  void operator()(std::byte* p) const noexcept {
    ::operator delete(p, std::align_val_t{transport::page_bytes});
  }
};
using page_aligned_bytes = std::unique_ptr<std::byte, page_aligned_delete>;

inline page_aligned_bytes allocate_page_aligned(size_t bytes) {
  return page_aligned_bytes{static_cast<std::byte*>(
    ::operator new(bytes, std::align_val_t{transport::page_bytes}))};
}

struct test_ring {
  explicit test_ring(uint32_t capacity, uint32_t max_payload = 1024, bool checksums = true)
    : storage(allocate_page_aligned(transport::ring_control_bytes + capacity)),
      ring(new (storage.get()) transport::ring_control{},
           storage.get() + transport::ring_control_bytes, capacity, checksums) {
    ring.initialize();
    reader = transport::inbox_reader(ring, max_payload, 16);
  }

  /// Claims, fills and commits `text` as producer (slot, incarnation).
  transport::inbox_ring::claim_status send(const std::string& text, uint32_t slot = 1,
                                           uint32_t incarnation = 1) {
    transport::inbox_ring::claim c;
    auto status = ring.try_claim(transport::record_kind::data,
                                 static_cast<uint32_t>(text.size()), slot, incarnation, 7, c);
    if (status == transport::inbox_ring::claim_status::claimed) {
      std::memcpy(c.payload, text.data(), text.size());
      if (!ring.commit(c))
        return transport::inbox_ring::claim_status::corrupt;
    }
    return status;
  }

  /// Reads the next intact record as text; empty optional if none.
  std::optional<std::string> receive() {
    auto e = reader.peek();
    if (e.state != transport::inbox_reader::status::record || !e.intact)
      return std::nullopt;
    std::string text(reinterpret_cast<const char*>(e.payload), e.payload_bytes);
    reader.consume();
    reader.publish();
    return text;
  }

  page_aligned_bytes storage;
  transport::inbox_ring ring;
  transport::inbox_reader reader;
};

} // namespace shmbus::test
