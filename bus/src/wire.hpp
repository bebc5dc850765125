// The byte layout of the records the bus puts into transport inboxes. Every
// record starts with a kind byte:
//
//   message   u64 receiver, u64 message id, sender (see sender_tag),
//             u8 has-stages, [CAF: stages], CAF: content
//   watch     u64 actor        "I hold a proxy of your actor: tell me when it dies"
//   down      u64 actor, CAF: error   "your proxy of this actor must die with this reason"
//   link      u64 actor (the receiver's), u64 linker (the sender's)
//   unlink    u64 actor, u64 linker
//   exit      u64 receiver, u64 source, node id (24), CAF: error   explicit send_exit
//   stop      (no body)      "please stop": a supervisor stopping a module
//   group_join     u8 n, n bytes: group name   "an actor of mine subscribes to it"
//   group_leave    u8 n, n bytes: group name   "no actor of mine subscribes any more"
//   group_message  u8 n, n bytes: group name, sender (see sender_tag), CAF: content
//                  one per subscribed process; its receiver hands it to every
//                  local subscriber (group_router.hpp)
//
// The fixed fields (u64, u32 pid of a node id) are in the machine's native
// byte order: every process of a bus maps the same segment, so they all run
// on one machine, and a plain copy is the cheapest encoding on the hot path.
// The CAF parts are written by CAF's binary serializer (network order).
// record_codec turns CAF values into these records and back.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <vector>

#include <caf/node_id.hpp>

#include "shmbus/transport/peer.hpp"

namespace shmbus::bus::wire {

enum class kind : uint8_t {
  message = 1,
  watch = 2,
  down = 3,
  link = 4,
  unlink = 5,
  exit = 6,
  stop = 7,
  // Groups keep to a range of their own (group_router.hpp).
  group_join = 16,
  group_leave = 17,
  group_message = 18,
};

/// "message", "watch", ... for a kind byte; "unknown" for any other value.
const char* kind_name(uint8_t k) noexcept;

/// How a message names its sender.
enum class sender_tag : uint8_t {
  none = 0,   ///< anonymous
  local = 1,  ///< u64 id: an actor of the sending process
  remote = 2, ///< u64 id + node id: an actor of any other process
};

/// A CAF 0.17 default node id: u32 pid + the host id.
constexpr size_t node_id_bytes
  = sizeof(uint32_t)
    + std::tuple_size<caf::node_id::default_data::host_id_type>::value;

static_assert(node_id_bytes <= std::tuple_size<decltype(transport::peer_info::user_data)>::value,
              "a node publishes its CAF node id in the transport's user data");

/// Bytes of the fixed fields.
constexpr size_t u64_bytes = sizeof(uint64_t);

using node_bytes = std::array<std::byte, node_id_bytes>;

/// The bytes of a CAF 0.17 default node id (all zero: none).
node_bytes to_bytes(const caf::node_id& x);

/// Inverse of to_bytes; an all-zero array gives an invalid node id.
caf::node_id from_bytes(const std::byte* data);

/// Appends `x` in native byte order (see above).
inline void put_u64(std::vector<char>& buf, uint64_t x) {
  // resize + memcpy: a range insert of 8 bytes costs more than the copy.
  auto at = buf.size();
  buf.resize(at + u64_bytes);
  std::memcpy(buf.data() + at, &x, u64_bytes);
}

/// Reads a u64 written by put_u64; `p` needs no alignment.
inline uint64_t get_u64(const std::byte* p) {
  uint64_t x;
  std::memcpy(&x, p, u64_bytes);
  return x;
}

/// Appends the bytes of `x` (see to_bytes).
inline void put_node(std::vector<char>& buf, const caf::node_id& x) {
  auto bytes = to_bytes(x);
  auto* first = reinterpret_cast<const char*>(bytes.data());
  buf.insert(buf.end(), first, first + bytes.size());
}

/// A record under construction: kind byte, then the fields.
inline std::vector<char>& start_record(std::vector<char>& buf, kind k) {
  buf.clear();
  buf.push_back(static_cast<char>(k));
  return buf;
}

} // namespace shmbus::bus::wire
