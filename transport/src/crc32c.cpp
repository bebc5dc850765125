#include "shmbus/transport/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#  include <nmmintrin.h>
#elif defined(__aarch64__)
#  include <arm_acle.h>
#  include <sys/auxv.h>
#  ifndef HWCAP_CRC32
#    define HWCAP_CRC32 (1 << 7)
#  endif
#endif

namespace shmbus::transport {

namespace {

/// The CRC32C polynomial, bit-reversed.
constexpr uint32_t polynomial = 0x82f63b78;

// -- table (any CPU) -------------------------------------------------------------

constexpr std::array<uint32_t, 256> make_byte_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t n = 0; n < 256; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) != 0 ? (c >> 1) ^ polynomial : c >> 1;
    table[n] = c;
  }
  return table;
}

constexpr auto byte_table = make_byte_table();

/// `state` is the inverted CRC, as the hardware instructions keep it.
uint32_t update_table(uint32_t state, const unsigned char* p, size_t n) noexcept {
  for (size_t i = 0; i < n; ++i)
    state = byte_table[(state ^ p[i]) & 0xff] ^ (state >> 8);
  return state;
}

#if defined(__x86_64__)

// -- SSE4.2 ------------------------------------------------------------------------

/// Appending `block` zero bytes to a CRC state is a linear map (a 32x32
/// matrix over GF(2)); it is applied a byte of the state at a time through
/// four tables. Three streams of `block` bytes each are then joined as
/// shift(shift(s0) ^ s1) ^ s2.
struct zero_shift {
  uint32_t table[4][256];

  static uint32_t times(const uint32_t* matrix, uint32_t vector) noexcept {
    uint32_t sum = 0;
    for (int i = 0; vector != 0; ++i, vector >>= 1)
      if ((vector & 1) != 0)
        sum ^= matrix[i];
    return sum;
  }

  static void square(uint32_t* out, const uint32_t* matrix) noexcept {
    for (int i = 0; i < 32; ++i)
      out[i] = times(matrix, matrix[i]);
  }

  /// `bytes` must be a power of two.
  explicit zero_shift(size_t bytes) noexcept {
    uint32_t op[32];  // appends 2^k zero bits, k growing
    uint32_t tmp[32];
    op[0] = polynomial; // one zero bit
    for (int i = 1; i < 32; ++i)
      op[i] = uint32_t{1} << (i - 1);
    for (size_t bits = 1; bits < bytes * 8; bits *= 2) {
      square(tmp, op);
      std::memcpy(op, tmp, sizeof(op));
    }
    for (uint32_t n = 0; n < 256; ++n)
      for (int k = 0; k < 4; ++k)
        table[k][n] = times(op, n << (8 * k));
  }

  uint32_t operator()(uint32_t state) const noexcept {
    return table[0][state & 0xff] ^ table[1][(state >> 8) & 0xff]
           ^ table[2][(state >> 16) & 0xff] ^ table[3][state >> 24];
  }
};

constexpr size_t long_block = 2048;
constexpr size_t short_block = 256;

__attribute__((target("sse4.2"))) uint64_t
three_streams(uint64_t s0, const unsigned char*& p, size_t& n, size_t block,
              const zero_shift& shift) noexcept {
  while (n >= 3 * block) {
    uint64_t s1 = 0;
    uint64_t s2 = 0;
    for (size_t i = 0; i < block; i += 8) {
      uint64_t a, b, c;
      std::memcpy(&a, p + i, 8);
      std::memcpy(&b, p + block + i, 8);
      std::memcpy(&c, p + 2 * block + i, 8);
      s0 = _mm_crc32_u64(s0, a);
      s1 = _mm_crc32_u64(s1, b);
      s2 = _mm_crc32_u64(s2, c);
    }
    s0 = shift(static_cast<uint32_t>(s0)) ^ s1;
    s0 = shift(static_cast<uint32_t>(s0)) ^ s2;
    p += 3 * block;
    n -= 3 * block;
  }
  return s0;
}

__attribute__((target("sse4.2"))) uint32_t
update_sse42(uint32_t state, const unsigned char* p, size_t n) noexcept {
  static const zero_shift long_shift{long_block};
  static const zero_shift short_shift{short_block};
  uint64_t s = state;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    s = _mm_crc32_u8(static_cast<uint32_t>(s), *p++);
    --n;
  }
  s = three_streams(s, p, n, long_block, long_shift);
  s = three_streams(s, p, n, short_block, short_shift);
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    s = _mm_crc32_u64(s, w);
  }
  for (; n > 0; --n)
    s = _mm_crc32_u8(static_cast<uint32_t>(s), *p++);
  return static_cast<uint32_t>(s);
}

#elif defined(__aarch64__)

// -- ARMv8 CRC ---------------------------------------------------------------------

__attribute__((target("+crc"))) uint32_t
update_armv8(uint32_t state, const unsigned char* p, size_t n) noexcept {
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    state = __crc32cd(state, w);
  }
  for (; n > 0; --n)
    state = __crc32cb(state, *p++);
  return state;
}

#endif

using update_fn = uint32_t (*)(uint32_t, const unsigned char*, size_t) noexcept;

struct implementation {
  update_fn update;
  const char* name;
};

implementation pick() noexcept {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("sse4.2"))
    return {update_sse42, "sse4.2"};
#elif defined(__aarch64__)
  if ((::getauxval(AT_HWCAP) & HWCAP_CRC32) != 0)
    return {update_armv8, "armv8-crc"};
#endif
  return {update_table, "table"};
}

const implementation& chosen() noexcept {
  static const implementation impl = pick();
  return impl;
}

} // namespace

uint32_t crc32c_extend(uint32_t crc, const void* data, size_t bytes) noexcept {
  return ~chosen().update(~crc, static_cast<const unsigned char*>(data), bytes);
}

const char* crc32c_implementation() noexcept {
  return chosen().name;
}

} // namespace shmbus::transport
