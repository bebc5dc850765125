// Bus records written by hand, as a buggy or hostile process of the bus
// would write them: correctly framed for the transport, with content that
// is wrong in one field each. The layout follows bus/src/wire.hpp (kind
// byte; message: u64 receiver, u64 message id, sender tag + ids, u8
// has-stages, CAF content); the CAF parts come from CAF's own serializer
// where they are meant to be valid.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "shmbus/transport/node.hpp"

namespace shmbus::test::forge {

enum kind_byte : uint8_t {
  message_kind = 1,
  watch_kind = 2,
  down_kind = 3,
  link_kind = 4,
  unlink_kind = 5,
  exit_kind = 6,
  stop_kind = 7,
};

/// CAF 0.17's message id bits.
constexpr uint64_t response_flag = 0x8000000000000000ull;
constexpr uint64_t normal_category = 0x1000000000000000ull;
constexpr uint64_t upstream_category = 0x2000000000000000ull;
constexpr uint64_t downstream_category = 0x3000000000000000ull;

/// The id of the actor that every forged message names as its sender (an
/// actor of the forging process, which answers go to).
constexpr uint64_t forger_actor = 7;

using bytes = std::vector<char>;

inline void put_u64(bytes& out, uint64_t x) {
  char tmp[8];
  std::memcpy(tmp, &x, 8);
  out.insert(out.end(), tmp, tmp + 8);
}

inline uint64_t get_u64(const void* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  return x;
}

/// The 24 bytes a bus node publishes as its CAF node id: u32 pid + host id.
inline bytes node_bytes(const caf::node_id& nid) {
  bytes out(24, 0);
  if (!nid || nid->implementation_id() != caf::node_id::default_data::class_id)
    return out;
  auto& data = static_cast<const caf::node_id::default_data&>(*nid);
  uint32_t pid = data.process_id();
  std::memcpy(out.data(), &pid, 4);
  std::memcpy(out.data() + 4, data.host_id().data(), data.host_id().size());
  return out;
}

/// A message record head: receiver, message id, sender `sender_actor` of
/// the sending process (tag 1), no stages.
inline bytes message_head(uint64_t receiver, uint64_t mid, uint64_t sender_actor = forger_actor) {
  bytes out{static_cast<char>(message_kind)};
  put_u64(out, receiver);
  put_u64(out, mid);
  out.push_back(1);
  put_u64(out, sender_actor);
  out.push_back(0);
  return out;
}

/// The CAF bytes of `msg` (its element types registered in `sys`).
inline bytes content(caf::actor_system& sys, const caf::message& msg) {
  bytes out;
  caf::binary_serializer sink{sys, out};
  if (msg.save(sink))
    throw std::runtime_error("cannot serialize a message for a forged record");
  return out;
}

/// A message head naming the element types in `type_names` ("@<>+..."),
/// followed by nothing.
inline bytes object_header(caf::actor_system& sys, std::string type_names) {
  bytes out;
  caf::binary_serializer sink{sys, out};
  uint16_t nr = 0;
  sink.begin_object(nr, type_names);
  return out;
}

/// Options of a transport node named `name` on `bus` that carries the CAF
/// node id of `sys`: to the bus it looks like a CAF process, and writes
/// records by hand.
inline transport::node_options forger_options(caf::actor_system& sys, const std::string& bus,
                                              const std::string& name) {
  transport::node_options opts;
  opts.bus = bus;
  opts.name = name;
  for (auto c : node_bytes(sys.node()))
    opts.user_data.push_back(static_cast<std::byte>(c));
  return opts;
}

inline bytes operator+(bytes x, const bytes& y) {
  x.insert(x.end(), y.begin(), y.end());
  return x;
}

/// A record of `kind` with `body` after the kind byte.
inline bytes record(uint8_t kind, const bytes& body = {}) {
  bytes out{static_cast<char>(kind)};
  return out + body;
}

inline bytes u64s(std::initializer_list<uint64_t> xs) {
  bytes out;
  for (auto x : xs)
    put_u64(out, x);
  return out;
}

/// Fills the inbox of `peer` (a stopped process) with harmless records:
/// watches of an actor it never had. The next record for it that must not
/// wait (a control record, the watch of a new proxy) meets the full inbox,
/// and from then on the bus holds every record for it in its outbox queue.
inline void fill_inbox(transport::node& from, const transport::peer_info& peer) {
  auto filler = record(watch_kind, u64s({999999}));
  while (!from.send(peer.slot, peer.incarnation, filler.data(), filler.size(),
                    std::chrono::nanoseconds::zero()))
    ; // until inbox_full
}

} // namespace shmbus::test::forge
