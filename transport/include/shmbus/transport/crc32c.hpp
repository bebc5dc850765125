// CRC32C (Castagnoli), the per-record checksum of the inbox rings: the SSE4.2
// `crc32` instruction (three independent streams per block, since it has a
// latency of three cycles and a throughput of one) or ARMv8's CRC32C
// instructions when the CPU has them, a table otherwise. Pure functions:
// never block, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shmbus::transport {

/// The CRC32C of `crc`'s data followed by `bytes` bytes at `data`:
/// crc32c_extend(0, d, n) is the CRC32C of d[0..n), and
/// crc32c_extend(crc32c_extend(0, a, n), b, m) that of a followed by b.
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t bytes) noexcept;

/// "sse4.2", "armv8-crc" or "table": what crc32c_extend uses on this CPU.
const char* crc32c_implementation() noexcept;

} // namespace shmbus::transport
