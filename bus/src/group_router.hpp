// Groups between the processes of one bus: which other processes subscribe
// to which group, the group records in and out (wire.hpp), and a message
// sent to a group fanned out as one record per subscribed process, never
// one per remote subscriber actor.
//
// Subscription state is kept by messages, not in the segment: a process
// tells every peer when its first actor joins a group and when its last
// one leaves (group_join / group_leave), and a newcomer learns the groups
// of every process that sees it join. So each process keeps only what its
// peers said of themselves, a peer can speak only for its own slot, and a
// lost process's subscriptions go with its loss event, which the transport
// delivers after its last record: there is no shared table to scribble on,
// audit or repair, and the segment's layout stays as it was.
//
// Big payloads: a message that holds pool buffers (shared_buffer) carries
// them by handle, as a direct send does: each subscribed process gets its
// own record with its own in-flight reference, so the buffer is written once
// whatever the number of subscribers, and a process lost with a reference in
// flight gives it back (buffer_pool.hpp). Other messages are serialized once.
//
// Order: a group message is one record in each subscribed process's inbox,
// written by the publishing thread, so a publisher's messages reach every
// subscriber in order. A full inbox holds up only its own process: the
// record is first offered to every subscribed process without waiting, then
// the ones that were full get it under the full-inbox policy (outbox.hpp).
// What cannot be written is counted per group (node::groups()) and logged
// once per group and process.
//
// Tools: each process shows the groups it subscribes to or publishes to in
// its own rows of the segment's group summary (group_summary_table.hpp),
// which `shmbusctl show` reads without joining the bus. Those rows mirror
// this router's state and are written under its lock, after the state
// changes; nothing of the bus reads them back.
//
// Thread safety: every member may be called from any thread unless it says
// "I/O thread". Lock order: a group's lock, then this router's.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <caf/actor_control_block.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>

#include "shmbus/bus/bus_settings.hpp"
#include "shmbus/bus/group_view.hpp"
#include "shmbus/transport/group_summary_table.hpp"
#include "shmbus/transport/node.hpp"

#include "buffer_storage.hpp"
#include "io_execution_unit.hpp"
#include "once_log.hpp"
#include "outbox.hpp"
#include "peer_table.hpp"
#include "record_codec.hpp"
#include "wire.hpp"

namespace shmbus::bus {

class shm_group_module;

class group_router {
public:
  group_router(caf::actor_system& sys, const bus_settings& settings,
               const transport::node& transport, peer_table& peers, record_codec& codec,
               outbox& out, io_execution_unit& eu, once_log& log);

  /// Connects to the system's `shmbus` group module (unless another bus
  /// node of the system carries it) and announces its subscribed groups.
  /// `self` shares the bus's lifetime.
  void bind(std::shared_ptr<group_router> self);

  /// Disconnects from the group module (the node stops) and frees this
  /// process's group summary rows.
  void unbind();

  // -- this process's subscriptions (called under the group's lock) -----------

  /// The first local actor joined `id`: every peer is told. Never blocks.
  void local_join(const std::string& id);

  /// The last local actor left `id`: every peer is told. Never blocks.
  void local_leave(const std::string& id);

  /// `id` has `n` local subscribers now (for tools). Never blocks.
  void local_count(const std::string& id, size_t n);

  // -- fan-out ----------------------------------------------------------------

  /// Writes `msg` from `sender` once per process subscribed to `id`.
  /// @warning Blocks the caller while a subscribed process's inbox is full,
  ///          up to shmbus.full-inbox-timeout per full process, after every
  ///          process with room has the record.
  void publish(const std::string& id, const caf::strong_actor_ptr& sender,
               const caf::message& msg);

  // -- peers (I/O thread) -------------------------------------------------------

  /// `peer` (a CAF node) joined: it learns this process's groups.
  void peer_joined(peer_ref peer);

  /// The process in `slot` is gone: its subscriptions go with it.
  void peer_lost(uint32_t slot);

  /// This node came back as a new incarnation: its group summary rows went
  /// with the old one, so they are written anew. I/O thread.
  void rejoined();

  /// Handles a group record of `kind` (body without the kind byte).
  /// Returns an empty string, or what is wrong with the record.
  std::string on_record(peer_ref from, wire::kind kind, const std::byte* body, size_t size);

  // -- observers ----------------------------------------------------------------

  /// Every group this process has subscribers of, publishes to, or that a
  /// peer subscribes to.
  std::vector<group_view> groups() const;

private:
  struct group_state {
    std::vector<peer_ref> processes; ///< subscribed peers
    bool local = false;              ///< an actor of this process joined
    uint64_t published = 0;
    uint64_t records_out = 0;
    uint64_t undelivered = 0;
    uint64_t records_in = 0;
    size_t local_subscribers = 0;
    /// Its row in the group summary, while it has one, and the
    /// incarnation that claimed it (a rejoin leaves the old one's rows).
    int32_t row = -1;
    uint32_t row_incarnation = 0;
  };

  /// A group record for one process (or for all: see publish()).
  struct encoded {
    std::vector<char> buf;
    /// The in-flight references of pool buffers it carries, to its process.
    buffer_export exports;
    bool failed = false;
  };

  /// Writes the group record of `msg` to `to` into `out`: pool buffers in
  /// it become handles in flight to `to` (out.exports). Returns an empty
  /// string, or why the message cannot go (its references cancelled).
  std::string encode(const std::string& id, const caf::strong_actor_ptr& sender,
                     const caf::message& msg, peer_ref to, encoded& out);
  /// The state of `id`, made if there is room (max_groups); null otherwise.
  /// Holds mtx_.
  group_state* state(const std::string& id);
  /// Sends a join or leave record of `id` to `to`. Holds mtx_.
  void tell(peer_ref to, wire::kind kind, const std::string& id);
  /// Reads the group name at the start of `body`; advances `offset`.
  static std::string read_name(const std::byte* body, size_t size, size_t& offset,
                               std::string& out);
  std::string on_message(peer_ref from, const std::byte* body, size_t size);
  /// Writes `g`'s row of the group summary: claims one when it has local
  /// subscribers or was published to, frees it when neither. Holds mtx_.
  void show(const std::string& id, group_state& g);
  /// Frees `g`'s row, if it has one. Holds mtx_.
  void hide(group_state& g);
  /// Counts `n` undelivered records of `id` and logs the first per group
  /// and process. `written`: they were counted in records_out when the
  /// outbox queued them, and failed in its queue since.
  void undelivered(const std::string& id, peer_ref to, uint64_t n, const std::string& why,
                   bool written = false);

  caf::actor_system& sys_;
  const bus_settings& settings_;
  const transport::node& transport_;
  transport::group_summary_table summary_;
  peer_table& peers_;
  record_codec& codec_;
  outbox& out_;
  io_execution_unit& eu_;
  once_log& log_;
  /// Set while bound: the module outlives every bound router (the bus stops
  /// before CAF destroys its group modules).
  std::atomic<shm_group_module*> module_{nullptr};

  mutable std::mutex mtx_;
  std::map<std::string, group_state> groups_;
  /// CAF peers told about this process's groups (I/O thread adds and removes).
  std::vector<peer_ref> known_;
};

} // namespace shmbus::bus
