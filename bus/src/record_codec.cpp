#include "record_codec.hpp"

#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/exit_reason.hpp>
#include <caf/proxy_registry.hpp>

namespace shmbus::bus {

namespace {

/// receiver + message id, before the sender.
constexpr size_t message_fixed_bytes = 2 * wire::u64_bytes;

} // namespace

record_codec::record_codec(caf::actor_system& sys, caf::proxy_registry& proxies,
                           io_execution_unit& eu, peer_table& peers)
  : sys_(sys),
    proxies_(proxies),
    eu_(eu),
    peers_(peers),
    sender_cache_(peers_.slots()) {
  // nop
}

// -- encoding -----------------------------------------------------------------

void record_codec::start_message(std::vector<char>& buf, caf::actor_id receiver,
                                 caf::message_id mid, const caf::strong_actor_ptr& sender,
                                 bool has_stages) {
  wire::start_record(buf, wire::kind::message);
  wire::put_u64(buf, receiver);
  wire::put_u64(buf, mid.integer_value());
  put_sender(buf, sender);
  buf.push_back(has_stages ? 1 : 0);
}

caf::error record_codec::put_content(std::vector<char>& buf,
                                     std::vector<caf::strong_actor_ptr>& stages,
                                     const caf::message& content) {
  // A fresh serializer per record: reusing one after clearing its buffer
  // writes past the end.
  caf::binary_serializer sink{sys_, buf};
  if (!stages.empty())
    if (auto err = sink(stages))
      return err;
  return content.save(sink);
}

void record_codec::reason_record(std::vector<char>& buf, wire::kind k, caf::actor_id aid,
                                 const caf::error& reason) {
  wire::start_record(buf, k);
  wire::put_u64(buf, aid);
  caf::binary_serializer sink{sys_, buf};
  auto copy = reason;
  sink(copy);
}

void record_codec::exit_record(std::vector<char>& buf, caf::actor_id receiver,
                               const caf::exit_msg& msg) {
  wire::start_record(buf, wire::kind::exit);
  wire::put_u64(buf, receiver);
  wire::put_u64(buf, msg.source.id());
  wire::put_node(buf, msg.source.node());
  caf::binary_serializer sink{sys_, buf};
  auto reason = msg.reason;
  sink(reason);
}

void record_codec::control_record(std::vector<char>& buf, wire::kind k, uint64_t a) {
  wire::start_record(buf, k);
  wire::put_u64(buf, a);
}

void record_codec::control_record(std::vector<char>& buf, wire::kind k, uint64_t a,
                                  uint64_t b) {
  control_record(buf, k, a);
  wire::put_u64(buf, b);
}

void record_codec::put_sender(std::vector<char>& buf, const caf::strong_actor_ptr& sender) {
  if (!sender) {
    buf.push_back(static_cast<char>(wire::sender_tag::none));
    return;
  }
  if (sender->node() == sys_.node()) {
    buf.push_back(static_cast<char>(wire::sender_tag::local));
    wire::put_u64(buf, sender->id());
    // The answer must find it: CAF's serializer would put it into the
    // registry (and so do we, once per actor and thread).
    thread_local const void* cache_owner = nullptr;
    thread_local uint64_t cache_epoch = 0;
    thread_local std::unordered_set<caf::actor_id> registered;
    auto epoch = registry_epoch_.load(std::memory_order_acquire);
    if (cache_owner != this || cache_epoch != epoch || registered.size() > max_cached_senders) {
      registered.clear();
      cache_owner = this;
      cache_epoch = epoch;
    }
    if (registered.insert(sender->id()).second)
      sys_.registry().put(sender->id(), sender);
    return;
  }
  buf.push_back(static_cast<char>(wire::sender_tag::remote));
  wire::put_u64(buf, sender->id());
  wire::put_node(buf, sender->node());
}

// -- decoding -----------------------------------------------------------------

bool record_codec::read_message_head(peer_ref from, const std::byte* data, size_t size,
                                     message_head& out) {
  if (size < message_fixed_bytes)
    return false;
  out.receiver = wire::get_u64(data);
  out.mid = caf::message_id{wire::get_u64(data + wire::u64_bytes)};
  size_t offset = message_fixed_bytes;
  if (!read_sender(from, data, size, offset, out.sender) || offset >= size)
    return false;
  out.has_stages = data[offset++] != std::byte{0};
  out.content_offset = offset;
  return true;
}

caf::error record_codec::read_content(const std::byte* data, size_t size,
                                      const message_head& head,
                                      std::vector<caf::strong_actor_ptr>& stages,
                                      caf::message& content) {
  // The unit makes handles inside the message proxies of our registry.
  caf::binary_deserializer source{&eu_, reinterpret_cast<const char*>(data + head.content_offset),
                                  size - head.content_offset};
  if (head.has_stages)
    if (auto err = source(stages))
      return err;
  return content.load(source);
}

std::optional<caf::actor_id> record_codec::read_watch(const std::byte* data, size_t size) {
  if (size < wire::u64_bytes)
    return std::nullopt;
  return wire::get_u64(data);
}

std::optional<std::pair<caf::actor_id, caf::actor_id>>
record_codec::read_link(const std::byte* data, size_t size) {
  if (size < 2 * wire::u64_bytes)
    return std::nullopt;
  return std::make_pair(wire::get_u64(data), wire::get_u64(data + wire::u64_bytes));
}

caf::error record_codec::read_error(const std::byte* data, size_t size) {
  caf::error reason;
  caf::binary_deserializer source{&eu_, reinterpret_cast<const char*>(data), size};
  if (source(reason))
    return caf::exit_reason::unknown;
  return reason;
}

std::optional<record_codec::reason_fields>
record_codec::read_reason(const std::byte* data, size_t size) {
  if (size < wire::u64_bytes)
    return std::nullopt;
  return reason_fields{wire::get_u64(data),
                       read_error(data + wire::u64_bytes, size - wire::u64_bytes)};
}

std::optional<record_codec::exit_fields>
record_codec::read_exit(const std::byte* data, size_t size) {
  constexpr size_t fixed = 2 * wire::u64_bytes + wire::node_id_bytes;
  if (size < fixed)
    return std::nullopt;
  exit_fields x;
  x.receiver = wire::get_u64(data);
  x.source = wire::get_u64(data + wire::u64_bytes);
  x.source_node = wire::from_bytes(data + 2 * wire::u64_bytes);
  x.reason = read_error(data + fixed, size - fixed);
  return x;
}

caf::strong_actor_ptr record_codec::resolve(const caf::node_id& nid, caf::actor_id aid) {
  return nid == sys_.node() ? sys_.registry().get(aid) : proxies_.get_or_put(nid, aid);
}

bool record_codec::read_sender(peer_ref from, const std::byte* data, size_t size,
                               size_t& offset, caf::strong_actor_ptr& sender) {
  if (offset >= size)
    return false;
  auto tag = static_cast<wire::sender_tag>(data[offset++]);
  if (tag == wire::sender_tag::none)
    return true;
  if (offset + wire::u64_bytes > size)
    return false;
  auto aid = wire::get_u64(data + offset);
  offset += wire::u64_bytes;
  if (tag == wire::sender_tag::local) {
    auto& cache = sender_cache_[from.slot];
    auto i = cache.find(aid);
    if (i != cache.end()) {
      sender = i->second;
      return true;
    }
    auto nid = peers_.node_of(from);
    if (!nid)
      return false;
    sender = proxies_.get_or_put(nid, aid);
    if (cache.size() > max_cached_senders)
      cache.clear();
    cache.emplace(aid, sender);
    return true;
  }
  if (tag != wire::sender_tag::remote || offset + wire::node_id_bytes > size)
    return false;
  auto nid = wire::from_bytes(data + offset);
  offset += wire::node_id_bytes;
  sender = resolve(nid, aid);
  return true;
}

// -- senders ------------------------------------------------------------------

void record_codec::forget_sender(uint32_t slot, caf::actor_id aid) {
  if (slot < sender_cache_.size())
    sender_cache_[slot].erase(aid);
}

void record_codec::forget_peer(uint32_t slot) {
  if (slot < sender_cache_.size())
    sender_cache_[slot].clear();
}

void record_codec::registry_released() {
  registry_epoch_.fetch_add(1, std::memory_order_release);
  for (auto& cache : sender_cache_)
    cache.clear();
}

} // namespace shmbus::bus
