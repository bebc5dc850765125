// Fixed-size text in shared memory, stored as relaxed atomic words so that a
// reader racing a writer gets a torn copy (which it detects by re-checking a
// state word) instead of undefined behaviour. store() and load() never
// block and may run in any threads and processes at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace shmbus::transport {

template <size_t Bytes>
struct atomic_text {
  static_assert(Bytes % 8 == 0);
  static constexpr size_t capacity = Bytes - 1; // keeps a terminating zero

  std::atomic<uint64_t> words[Bytes / 8];

  void store(std::string_view text) noexcept {
    char buf[Bytes] = {};
    std::memcpy(buf, text.data(), text.size() < capacity ? text.size() : capacity);
    for (size_t i = 0; i < Bytes / 8; ++i) {
      uint64_t w;
      std::memcpy(&w, buf + i * 8, 8);
      words[i].store(w, std::memory_order_relaxed);
    }
  }

  std::string load(std::memory_order order = std::memory_order_relaxed) const {
    char buf[Bytes + 1];
    for (size_t i = 0; i < Bytes / 8; ++i) {
      auto w = words[i].load(order);
      std::memcpy(buf + i * 8, &w, 8);
    }
    buf[Bytes] = '\0';
    return std::string(buf, ::strnlen(buf, capacity));
  }
};

template <size_t Bytes>
struct atomic_bytes {
  static_assert(Bytes % 8 == 0);
  std::atomic<uint64_t> words[Bytes / 8];

  void store(const void* data, size_t n) noexcept {
    unsigned char buf[Bytes] = {};
    if (n > 0) // memcpy from a null pointer is undefined even for 0 bytes
      std::memcpy(buf, data, n < Bytes ? n : Bytes);
    for (size_t i = 0; i < Bytes / 8; ++i) {
      uint64_t w;
      std::memcpy(&w, buf + i * 8, 8);
      words[i].store(w, std::memory_order_relaxed);
    }
  }

  void load(void* out) const noexcept {
    auto* dst = static_cast<unsigned char*>(out);
    for (size_t i = 0; i < Bytes / 8; ++i) {
      auto w = words[i].load(std::memory_order_relaxed);
      std::memcpy(dst + i * 8, &w, 8);
    }
  }
};

static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "shared-memory words must be lock-free atomics");
static_assert(std::is_standard_layout_v<atomic_text<64>>);

} // namespace shmbus::transport
