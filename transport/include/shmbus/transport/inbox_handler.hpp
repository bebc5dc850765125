// What a node's consumer thread hands over: messages in its inbox, and the
// joins and losses of its peers, in one ordered stream.
#pragma once

#include <cstddef>
#include <cstdint>

#include "shmbus/transport/error.hpp"
#include "shmbus/transport/peer.hpp"

namespace shmbus::transport {

/// A message in the inbox, valid only during on_message.
struct message_view {
  uint32_t sender_slot;
  uint32_t sender_incarnation;
  const std::byte* data;
  size_t size;
  /// False if the record failed its checksum: some of its bytes (payload
  /// or header) are not what the sender wrote. Already counted and reported
  /// through on_error; the handler decides what to salvage (e.g. answer a
  /// request in it with an error) and must not trust any field.
  bool intact = true;
};

/// Receives, on the consumer thread and in order, what poll() finds.
/// Guarantees: a peer is announced (on_peer_joined) before its first
/// message; its loss comes after every message it committed to this inbox;
/// nothing from an incarnation follows its loss.
///
/// Every callback runs on the thread that called node::poll/run_once, while
/// that call lasts; a callback that blocks stalls the whole inbox.
class inbox_handler {
public:
  virtual ~inbox_handler() = default;
  virtual void on_message(const message_view& msg) = 0;
  virtual void on_peer_joined(const peer_info&) {}
  /// Also called with this node itself as the peer and cause `evicted` when
  /// peers declared this node lost, or `stalled` when it declared itself
  /// lost because its consumer stopped (delivered once the consumer runs
  /// again).
  virtual void on_peer_lost(const peer_loss&) {}
  /// A problem found in the inbox, already counted in this node's slot:
  /// corrupt_record (garbage skipped, with how many bytes were lost; a
  /// record that failed its checksum; a claim that stayed uncommitted too
  /// long) or a repaired control word of the ring; or in the node table
  /// (errc::table_tampered).
  virtual void on_error(const error&) {}
};

} // namespace shmbus::transport
