// What the bus puts in a transport record. Every record starts with a kind
// byte; integers are little-endian as in CAF's binary serializer.
//
//   message   u64 receiver, u64 message id, sender (see sender_tag),
//             u8 has-stages, [CAF: stages], CAF: content
//   watch     u64 actor        "I hold a proxy of your actor: tell me when it dies"
//   down      u64 actor, CAF: error   "your proxy of this actor must die with this reason"
//   link      u64 actor (the receiver's), u64 linker (the sender's)
//   unlink    u64 actor, u64 linker
//   exit      u64 receiver, u64 source, node id (24), CAF: error   explicit send_exit
//   stop      (no body)      "please stop": a supervisor stopping a module
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <caf/node_id.hpp>

namespace shmbus::bus::wire {

enum class kind : uint8_t {
  message = 1,
  watch = 2,
  down = 3,
  link = 4,
  unlink = 5,
  exit = 6,
  stop = 7,
};

/// How a message names its sender.
enum class sender_tag : uint8_t {
  none = 0,   ///< anonymous
  local = 1,  ///< u64 id: an actor of the sending process
  remote = 2, ///< u64 id + node id: an actor of any other process
};

constexpr size_t node_id_bytes = 24; // u32 pid + 20-byte host id

using node_bytes = std::array<std::byte, node_id_bytes>;

/// The 24-byte form of a CAF 0.17 default node id (all zero: none).
node_bytes to_bytes(const caf::node_id& x);

/// Inverse of to_bytes; an all-zero array gives an invalid node id.
caf::node_id from_bytes(const std::byte* data);

inline void put_u64(std::vector<char>& buf, uint64_t x) {
  char tmp[8];
  std::memcpy(tmp, &x, 8);
  buf.insert(buf.end(), tmp, tmp + 8);
}

inline uint64_t get_u64(const std::byte* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  return x;
}

/// A record under construction: kind byte, then the fields.
inline std::vector<char>& start_record(std::vector<char>& buf, kind k) {
  buf.clear();
  buf.push_back(static_cast<char>(k));
  return buf;
}

} // namespace shmbus::bus::wire
