// CAF values in bus records and back (byte layout in wire.hpp). Encoding
// runs on any sending thread; decoding on the I/O thread only, with the I/O
// thread's execution unit, so that actor handles inside messages become
// proxies of the bus's registry.
//
// Decoding trusts nothing: every field is checked before it is used (kinds,
// lengths, actor ids, node ids, message-id flags, sender tags), the CAF part
// is read by a guarded_deserializer, and anything CAF throws while reading
// becomes an error. A record that fails is described by a problem text.
//
// Senders are written compactly: an actor of the sending process as its id
// alone (the receiver knows the process from the record's slot), instead of
// CAF's id + node id through the inspector (~0.5 us to write, ~0.4 us to
// read). The receiver keeps the proxies of recent senders per slot.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_control_block.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/message_id.hpp>
#include <caf/node_id.hpp>
#include <caf/system_messages.hpp>

#include "buffer_storage.hpp"
#include "io_execution_unit.hpp"
#include "message_types.hpp"
#include "peer_table.hpp"
#include "registry_entries.hpp"
#include "wire.hpp"

namespace shmbus::bus {

class record_codec {
public:
  /// Senders whose proxies the I/O thread keeps per slot, and local actors
  /// each sending thread remembers having put into CAF's registry.
  static constexpr size_t max_cached_senders = 4096;

  /// `pool` (null: the bus has none) lets shared buffers cross by handle.
  record_codec(caf::actor_system& sys, caf::proxy_registry& proxies,
               io_execution_unit& eu, peer_table& peers, registry_entries& entries,
               std::shared_ptr<transport::buffer_pool> pool);

  /// This process's buffer pool; null when the bus has none.
  const std::shared_ptr<transport::buffer_pool>& pool() const noexcept { return pool_; }

  // -- encoding (any thread) ------------------------------------------------

  /// Starts a message record: receiver, message id, sender, has-stages. A
  /// local sender goes into CAF's registry, where the answer finds it.
  void start_message(std::vector<char>& buf, caf::actor_id receiver,
                     caf::message_id mid, const caf::strong_actor_ptr& sender,
                     bool has_stages);

  /// Appends the stages (if any) and `content`. Fails with
  /// sec::unknown_type for an element type that is not registered (CAF's
  /// `sink(msg)` would write nothing and report nothing, CAF issue #1092),
  /// and for a group of another module than `shmbus` (see shm_group_module).
  /// Pool buffers go by handle when `exports` is given (it collects the
  /// in-flight references made), else as bytes.
  caf::error put_content(std::vector<char>& buf, std::vector<caf::strong_actor_ptr>& stages,
                         const caf::message& content, buffer_export* exports = nullptr);

  /// A down or other record of an actor id and an exit reason.
  void reason_record(std::vector<char>& buf, wire::kind k, caf::actor_id aid,
                     const caf::error& reason);

  /// An exit record: `msg` sent to actor `receiver` with send_exit.
  void exit_record(std::vector<char>& buf, caf::actor_id receiver, const caf::exit_msg& msg);

  /// A watch (one id) or link/unlink (two ids) record.
  static void control_record(std::vector<char>& buf, wire::kind k, uint64_t a);
  static void control_record(std::vector<char>& buf, wire::kind k, uint64_t a, uint64_t b);

  // -- decoding (I/O thread; `data` and `size` exclude the kind byte) --------
  //
  // Each read_* returns an empty string when the record was read, otherwise
  // what is wrong with it ("message id 0x... has stream category bits").

  struct message_head {
    caf::actor_id receiver = 0;
    caf::message_id mid;
    caf::strong_actor_ptr sender;
    bool has_stages = false;
    size_t content_offset = 0;
    uint32_t from_slot = 0;
  };

  /// Reads a message record up to its CAF part and names its sender.
  std::string read_message_head(peer_ref from, const std::byte* data, size_t size,
                                message_head& out);

  /// Reads the CAF part of a message record; the error names what CAF
  /// refused or threw. Every stage must name an actor, no byte may be left
  /// over and every group in it must be of the `shmbus` module.
  caf::error read_content(const std::byte* data, size_t size, const message_head& head,
                          std::vector<caf::strong_actor_ptr>& stages, caf::message& content);

  /// A watch record: the actor the sender holds a proxy of.
  static std::string read_watch(const std::byte* data, size_t size, caf::actor_id& out);

  /// A link or unlink record: (the receiver's actor, the sender's linker).
  static std::string read_link(const std::byte* data, size_t size,
                               std::pair<caf::actor_id, caf::actor_id>& out);

  struct reason_fields {
    caf::actor_id aid = 0;
    caf::error reason; ///< exit_reason::unknown if unreadable
    /// Empty, or why the reason could not be read (the record still counts:
    /// the actor is gone whatever its reason was).
    std::string reason_problem;
  };

  /// A down record.
  std::string read_reason(const std::byte* data, size_t size, reason_fields& out);

  struct exit_fields {
    caf::actor_id receiver = 0;
    caf::actor_id source = 0;
    caf::node_id source_node; ///< invalid for an anonymous exit
    caf::error reason;
  };

  /// An exit record; its reason must be readable (it decides whether the
  /// receiver dies).
  std::string read_exit(const std::byte* data, size_t size, exit_fields& out);

  /// The local actor or the proxy (made if needed) of actor `aid` of `nid`;
  /// null for an invalid id or node.
  caf::strong_actor_ptr resolve(const caf::node_id& nid, caf::actor_id aid);

  /// True if `nid` can be a process of this bus: a CAF default node id of
  /// this machine (all processes of a bus map one segment).
  bool plausible_node(const caf::node_id& nid) const;

  /// "0x1000000000000002": a message id for problem texts.
  static std::string hex(uint64_t x);

  // -- senders (I/O thread) --------------------------------------------------

  /// Forgets the cached proxy of actor `aid` of `slot` (it died).
  void forget_sender(uint32_t slot, caf::actor_id aid);

  /// Forgets every cached sender of `slot` (a new or lost incarnation).
  void forget_peer(uint32_t slot);

  /// Called once CAF's registry entries of local actors were released (the
  /// node stops): sending threads register their actors again. Clears the
  /// sender caches.
  void registry_released();

  // -- senders in records (group records write them too) ---------------------

  /// Appends `sender` (see wire::sender_tag). A local sender goes into
  /// CAF's registry, where an answer finds it. Any thread.
  void put_sender(std::vector<char>& buf, const caf::strong_actor_ptr& sender);

  /// Reads a sender that put_sender() wrote at `offset` of a record from
  /// `from`; advances `offset`. I/O thread.
  std::string read_sender(peer_ref from, const std::byte* data, size_t size, size_t& offset,
                          caf::strong_actor_ptr& sender);

private:
  /// Reads an exit reason; the error says why it could not.
  caf::error read_error(const std::byte* data, size_t size, caf::error& out);

  caf::actor_system& sys_;
  caf::proxy_registry& proxies_;
  io_execution_unit& eu_;
  peer_table& peers_;
  registry_entries& entries_;
  std::shared_ptr<transport::buffer_pool> pool_;
  /// wire::to_bytes of this process's node id, for plausible_node().
  wire::node_bytes own_node_;
  /// Element types of message contents, resolved once per type list.
  message_types types_;

  /// Bumped by registry_released(); the sending threads' caches of actors
  /// they registered are valid for one epoch.
  static inline std::atomic<uint64_t> registry_epoch_{0};

  /// I/O thread only: proxies of recent senders per slot (looking them up
  /// in CAF's proxy registry costs a lock and a node-id hash per message).
  std::vector<std::unordered_map<caf::actor_id, caf::strong_actor_ptr>> sender_cache_;
  /// I/O thread only: per slot, the sender of its last message (a stream
  /// comes from one actor: no hash lookup). Always an entry of sender_cache_.
  std::vector<std::pair<caf::actor_id, caf::strong_actor_ptr>> last_sender_;
};

} // namespace shmbus::bus
