// CRC32C: the known answers (RFC 3720, B.4), and agreement of the fast
// path this CPU takes with a bit-by-bit reference at every length and
// alignment that the three-stream blocks and their tails go through.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "shmbus/transport/crc32c.hpp"
#include "shmbus/transport/inbox_ring_data.hpp"

using namespace shmbus::transport;

namespace {

uint32_t reference_crc32c(const unsigned char* p, size_t n) {
  uint32_t crc = ~0u;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k)
      crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
  }
  return ~crc;
}

uint32_t crc_of(const std::vector<unsigned char>& bytes) {
  return crc32c_extend(0, bytes.data(), bytes.size());
}

} // namespace

TEST_CASE("crc32c gives the published check values") {
  INFO("implementation: " << crc32c_implementation());
  const std::string check = "123456789";
  CHECK(crc32c_extend(0, check.data(), check.size()) == 0xe3069283u);
  CHECK(crc_of(std::vector<unsigned char>(32, 0x00)) == 0x8a9136aau);
  CHECK(crc_of(std::vector<unsigned char>(32, 0xff)) == 0x62a8ab43u);
  std::vector<unsigned char> up(32);
  std::vector<unsigned char> down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<unsigned char>(i);
    down[i] = static_cast<unsigned char>(31 - i);
  }
  CHECK(crc_of(up) == 0x46dd794eu);
  CHECK(crc_of(down) == 0x113fdb5cu);
  CHECK(crc32c_extend(0, nullptr, 0) == 0);
}

TEST_CASE("crc32c agrees with a bit-by-bit reference at every length and alignment") {
  INFO("implementation: " << crc32c_implementation());
  std::mt19937_64 rng{42};
  std::vector<unsigned char> buf(3 * 2048 * 2 + 3 * 256 * 2 + 64);
  for (auto& b : buf)
    b = static_cast<unsigned char>(rng());
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 1600; ++n)
    lengths.push_back(n);
  for (size_t n : {6143u, 6144u, 6145u, 6912u, 12288u, 13000u})
    lengths.push_back(n);
  size_t mismatches = 0;
  for (auto n : lengths) {
    for (size_t offset = 0; offset < 8; ++offset) {
      if (offset + n > buf.size())
        continue;
      if (crc32c_extend(0, buf.data() + offset, n) != reference_crc32c(buf.data() + offset, n))
        ++mismatches;
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("crc32c can be extended piece by piece") {
  std::string text = "a record header, then its payload";
  auto whole = crc32c_extend(0, text.data(), text.size());
  for (size_t split = 0; split <= text.size(); ++split)
    CHECK(crc32c_extend(crc32c_extend(0, text.data(), split), text.data() + split,
                        text.size() - split)
          == whole);
}

TEST_CASE("a record's checksum changes with every field it covers") {
  std::vector<std::byte> payload(40, std::byte{7});
  auto header = record::make_header(record_kind::data, 64, 3, 9);
  auto sizes = 40 | (uint64_t{5} << 32);
  auto base = record::record_crc(header, sizes, payload.data(), 40);
  CHECK(record::record_crc(record::make_header(record_kind::control, 64, 3, 9), sizes,
                           payload.data(), 40)
        != base);
  CHECK(record::record_crc(record::make_header(record_kind::data, 64, 4, 9), sizes,
                           payload.data(), 40)
        != base);
  CHECK(record::record_crc(header, 40 | (uint64_t{6} << 32), payload.data(), 40) != base);
  payload[39] = std::byte{8};
  CHECK(record::record_crc(header, sizes, payload.data(), 40) != base);
}
