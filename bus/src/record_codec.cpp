#include "record_codec.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/proxy_registry.hpp>
#include <caf/sec.hpp>

#include "guarded_deserializer.hpp"
#include "shmbus/bus/remote_spawn.hpp"
#include "guarded_serializer.hpp"
#include "shm_group_module.hpp"

namespace shmbus::bus {

namespace {

/// receiver + message id, before the sender.
constexpr size_t message_fixed_bytes = 2 * wire::u64_bytes;

/// Bytes of a node id that name the machine (after its u32 pid).
constexpr size_t host_offset = sizeof(uint32_t);

std::string bytes_text(size_t n) {
  return std::to_string(n) + (n == 1 ? " byte" : " bytes");
}

/// Runs `read` (a CAF deserialization); what CAF throws becomes an error.
template <class Read>
caf::error guarded(Read&& read) {
  try {
    return read();
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error,
                           std::string{"CAF threw while reading it: "} + e.what());
  } catch (...) {
    return caf::make_error(caf::sec::runtime_error,
                           "CAF threw an exception of unknown type while reading it");
  }
}

} // namespace

record_codec::record_codec(caf::actor_system& sys, caf::proxy_registry& proxies,
                           io_execution_unit& eu, peer_table& peers, registry_entries& entries,
                           std::shared_ptr<transport::buffer_pool> pool)
  : sys_(sys),
    proxies_(proxies),
    eu_(eu),
    peers_(peers),
    entries_(entries),
    pool_(std::move(pool)),
    own_node_(wire::to_bytes(sys.node())),
    types_(sys),
    sender_cache_(peers_.slots()),
    last_sender_(peers_.slots()) {
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
                                     const caf::message& content, buffer_export* exports) {
  // A fresh serializer per record: reusing one after clearing its buffer
  // writes past the end. Guarded: CAF 0.17.6 hangs on infinite values.
  if (auto err = shm_group_module::crossing(content))
    return err;
  guarded_serializer sink{sys_, buf};
  sink.set_exports(exports);
  if (!stages.empty())
    if (auto err = sink(stages))
      return err;
  return types_.save(sink, content);
}

void record_codec::reason_record(std::vector<char>& buf, wire::kind k, caf::actor_id aid,
                                 const caf::error& reason) {
  wire::start_record(buf, k);
  wire::put_u64(buf, aid);
  guarded_serializer sink{sys_, buf};
  auto copy = reason;
  sink(copy);
}

void record_codec::exit_record(std::vector<char>& buf, caf::actor_id receiver,
                               const caf::exit_msg& msg) {
  wire::start_record(buf, wire::kind::exit);
  wire::put_u64(buf, receiver);
  wire::put_u64(buf, msg.source.id());
  wire::put_node(buf, msg.source.node());
  guarded_serializer sink{sys_, buf};
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
    // A stream comes from one actor: its id skips the set.
    thread_local caf::actor_id last = caf::invalid_actor_id;
    auto epoch = registry_epoch_.load(std::memory_order_acquire);
    if (cache_owner != this || cache_epoch != epoch || registered.size() > max_cached_senders) {
      registered.clear();
      last = caf::invalid_actor_id;
      cache_owner = this;
      cache_epoch = epoch;
    }
    if (sender->id() == last)
      return;
    if (registered.insert(sender->id()).second)
      entries_.put(sender);
    last = sender->id();
    return;
  }
  buf.push_back(static_cast<char>(wire::sender_tag::remote));
  wire::put_u64(buf, sender->id());
  wire::put_node(buf, sender->node());
}

// -- decoding -----------------------------------------------------------------

std::string record_codec::hex(uint64_t x) {
  char text[24];
  std::snprintf(text, sizeof(text), "0x%016llx", static_cast<unsigned long long>(x));
  return text;
}

bool record_codec::plausible_node(const caf::node_id& nid) const {
  if (!nid)
    return false;
  auto bytes = wire::to_bytes(nid);
  // CAF 0.17 overwrites the last byte of the host id with a per-process
  // counter of actor systems (node_id::default_data::local): a process on
  // its second actor system is still of this machine.
  return std::equal(bytes.begin() + host_offset, bytes.end() - 1,
                    own_node_.begin() + host_offset)
         && std::any_of(bytes.begin(), bytes.begin() + host_offset,
                        [](std::byte b) { return b != std::byte{0}; });
}

std::string record_codec::read_message_head(peer_ref from, const std::byte* data, size_t size,
                                            message_head& out) {
  if (size < message_fixed_bytes)
    return "a message record of " + bytes_text(size) + " after its kind is shorter than "
           "its receiver and message id";
  out.from_slot = from.slot;
  out.receiver = wire::get_u64(data);
  auto raw_mid = wire::get_u64(data + wire::u64_bytes);
  out.mid = caf::message_id{raw_mid};
  if (out.receiver == caf::invalid_actor_id)
    return "a message for actor id 0, which no actor has";
  // CAF files stream categories into per-slot queues that read the content
  // unchecked; streams do not cross the bus.
  if (out.mid.is_stream_message())
    return "message id " + hex(raw_mid) + " has the category bits of a CAF stream message";
  if (out.mid.is_response() && out.mid.request_id().integer_value() == 0)
    return "message id " + hex(raw_mid) + " is a response to request 0";
  size_t offset = message_fixed_bytes;
  if (auto problem = read_sender(from, data, size, offset, out.sender); !problem.empty())
    return problem;
  if (offset >= size)
    return "a message record ends before its has-stages byte";
  auto stages = static_cast<uint8_t>(data[offset++]);
  if (stages > 1)
    return "has-stages byte " + std::to_string(stages) + " (0 or 1)";
  out.has_stages = stages == 1;
  out.content_offset = offset;
  return {};
}

caf::error record_codec::read_content(const std::byte* data, size_t size,
                                      const message_head& head,
                                      std::vector<caf::strong_actor_ptr>& stages,
                                      caf::message& content) {
  return guarded([&]() -> caf::error {
    // The unit makes handles inside the message proxies of our registry.
    guarded_deserializer source{&eu_, data + head.content_offset, size - head.content_offset};
    buffer_import imports{pool_, head.from_slot};
    source.set_imports(&imports);
    if (head.has_stages) {
      if (auto err = source(stages))
        return err;
      // CAF sends the answer to the last stage without looking.
      if (std::any_of(stages.begin(), stages.end(), [](auto& x) { return !x; }))
        return caf::make_error(caf::sec::invalid_argument,
                               "a forwarding stage that names no live actor");
    }
    if (auto err = types_.load(source, content))
      return err;
    if (auto& err = source.first_error())
      return err;
    if (source.remaining() != 0)
      return caf::make_error(caf::sec::invalid_argument,
                             bytes_text(source.remaining()) + " left after the content");
    return shm_group_module::crossing(content);
  });
}

std::string record_codec::read_watch(const std::byte* data, size_t size, caf::actor_id& out) {
  if (size != wire::u64_bytes)
    return "a watch record with " + bytes_text(size) + " after its kind (8 expected)";
  out = wire::get_u64(data);
  if (out == caf::invalid_actor_id)
    return "a watch record for actor id 0";
  return {};
}

std::string record_codec::read_link(const std::byte* data, size_t size,
                                    std::pair<caf::actor_id, caf::actor_id>& out) {
  if (size != 2 * wire::u64_bytes)
    return "a link record with " + bytes_text(size) + " after its kind (16 expected)";
  out = {wire::get_u64(data), wire::get_u64(data + wire::u64_bytes)};
  if (out.first == caf::invalid_actor_id || out.second == caf::invalid_actor_id)
    return "a link record naming actor id 0";
  return {};
}

caf::error record_codec::read_error(const std::byte* data, size_t size, caf::error& out) {
  return guarded([&]() -> caf::error {
    guarded_deserializer source{&eu_, data, size};
    caf::error reason;
    if (auto err = source(reason))
      return err;
    if (source.remaining() != 0)
      return caf::make_error(caf::sec::invalid_argument,
                             bytes_text(source.remaining()) + " left after the exit reason");
    out = std::move(reason);
    return caf::none;
  });
}

std::string record_codec::read_reason(const std::byte* data, size_t size, reason_fields& out) {
  if (size < wire::u64_bytes)
    return "a down record with " + bytes_text(size) + " after its kind";
  out.aid = wire::get_u64(data);
  if (out.aid == caf::invalid_actor_id)
    return "a down record for actor id 0";
  if (auto err = read_error(data + wire::u64_bytes, size - wire::u64_bytes, out.reason)) {
    out.reason = caf::exit_reason::unknown;
    out.reason_problem = "the exit reason in a down record is unreadable: " + sys_.render(err);
  }
  return {};
}

std::string record_codec::read_exit(const std::byte* data, size_t size, exit_fields& out) {
  constexpr size_t fixed = 2 * wire::u64_bytes + wire::node_id_bytes;
  if (size < fixed)
    return "an exit record with " + bytes_text(size) + " after its kind";
  out.receiver = wire::get_u64(data);
  out.source = wire::get_u64(data + wire::u64_bytes);
  out.source_node = wire::from_bytes(data + 2 * wire::u64_bytes);
  if (out.receiver == caf::invalid_actor_id)
    return "an exit record for actor id 0";
  // Only its own process ends the spawn service (it traps other exits, but
  // not exit_reason::kill): no peer may take remote spawn away from it.
  if (out.receiver == remote_spawner::service_id)
    return "an exit record for the remote spawn service";
  if (out.source != caf::invalid_actor_id && !plausible_node(out.source_node))
    return "an exit record whose source names no process of this machine";
  if (auto err = read_error(data + fixed, size - fixed, out.reason))
    return "the exit reason in an exit record is unreadable: " + sys_.render(err);
  return {};
}

caf::strong_actor_ptr record_codec::resolve(const caf::node_id& nid, caf::actor_id aid) {
  if (!nid || aid == caf::invalid_actor_id)
    return nullptr;
  return nid == sys_.node() ? sys_.registry().get(aid) : proxies_.get_or_put(nid, aid);
}

std::string record_codec::read_sender(peer_ref from, const std::byte* data, size_t size,
                                      size_t& offset, caf::strong_actor_ptr& sender) {
  if (offset >= size)
    return "a message record ends before its sender";
  auto raw_tag = static_cast<uint8_t>(data[offset++]);
  auto tag = static_cast<wire::sender_tag>(raw_tag);
  if (tag == wire::sender_tag::none)
    return {};
  if (tag != wire::sender_tag::local && tag != wire::sender_tag::remote)
    return "sender tag " + std::to_string(raw_tag) + " (0, 1 or 2)";
  if (offset + wire::u64_bytes > size)
    return "a message record ends inside its sender";
  auto aid = wire::get_u64(data + offset);
  offset += wire::u64_bytes;
  if (aid == caf::invalid_actor_id)
    return "sender actor id 0";
  if (tag == wire::sender_tag::local) {
    if (from.slot >= sender_cache_.size())
      return "a sender in node slot " + std::to_string(from.slot) + ", past the node table";
    auto& last = last_sender_[from.slot];
    if (last.first == aid) {
      sender = last.second;
      return {};
    }
    auto& cache = sender_cache_[from.slot];
    auto i = cache.find(aid);
    if (i != cache.end()) {
      sender = i->second;
      last = *i;
      return {};
    }
    auto nid = peers_.node_of(from);
    if (!nid)
      return "a sender of its own process, but the process is not a CAF node of the bus";
    sender = proxies_.get_or_put(nid, aid);
    if (cache.size() > max_cached_senders)
      cache.clear();
    cache.emplace(aid, sender);
    last = {aid, sender};
    return {};
  }
  if (offset + wire::node_id_bytes > size)
    return "a message record ends inside its sender's node id";
  auto nid = wire::from_bytes(data + offset);
  offset += wire::node_id_bytes;
  if (!plausible_node(nid))
    return "a sender whose node id names no process of this machine";
  sender = resolve(nid, aid);
  return {};
}

// -- senders ------------------------------------------------------------------

void record_codec::forget_sender(uint32_t slot, caf::actor_id aid) {
  if (slot >= sender_cache_.size())
    return;
  sender_cache_[slot].erase(aid);
  if (last_sender_[slot].first == aid)
    last_sender_[slot] = {};
}

void record_codec::forget_peer(uint32_t slot) {
  if (slot >= sender_cache_.size())
    return;
  sender_cache_[slot].clear();
  last_sender_[slot] = {};
}

void record_codec::registry_released() {
  registry_epoch_.fetch_add(1, std::memory_order_release);
  for (auto& cache : sender_cache_)
    cache.clear();
  for (auto& last : last_sender_)
    last = {};
}

} // namespace shmbus::bus
