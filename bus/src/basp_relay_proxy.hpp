// The bus's stand-in for an actor of another machine whose handle arrived
// over the bus: everything goes to BASP's own proxy of that actor (the
// target), which routes it over its direct connection, and the relay dies
// when the target dies, with its reason. The bus owns its relays (its proxy
// registry holds them, stop() kills them); BASP's proxies belong to BASP
// and the bus never kills them.
//
// Links: the linker's link travels to the remote actor as BASP's proxies
// send it (link_atom with the target as sender), and the relay keeps the
// back link. When the remote actor itself exits, its exit_msg arrives
// over BASP directly, so the relay drops its back links before it dies;
// only a lost connection (remote_link_unreachable) makes it send them.
//
// Requests: CAF 0.17.6's BASP proxies do not fail the requests pending on
// them when their connection is lost, so the relay remembers the last
// `tracked_requests` requests it forwarded (requester and message id) and,
// when it dies of a lost connection, fails each with
// sec::request_receiver_down, as the bus does within a machine. It cannot
// see the responses (they travel straight to the requester), so some of
// those were answered already: an event-based requester drops a response
// it no longer awaits, a blocking one (scoped_actor) keeps it in its
// mailbox, unread, until it ends.
//
// A relay made before this process has a direct route to the actor's node
// starts without a target and holds what is sent to it (up to
// `held_messages`, in order) until bind() gives it BASP's proxy; links
// made meanwhile are sent then. A relay killed while it waits fails the
// requests it holds with sec::request_receiver_down.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/actor_proxy.hpp>
#include <caf/message_id.hpp>
#include <caf/weak_intrusive_ptr.hpp>

namespace shmbus::bus {

class basp_relay_proxy final : public caf::actor_proxy {
public:
  /// Requests remembered per relay; older ones are forgotten (and then
  /// fail only at their own timeout if the connection is lost).
  static constexpr size_t tracked_requests = 4096;

  /// Messages a relay without a target holds at most; past that, requests
  /// fail at once and other messages are dropped (and logged).
  static constexpr size_t held_messages = 4096;

  /// A null `target` makes a relay that waits for bind().
  basp_relay_proxy(caf::actor_config& cfg, caf::strong_actor_ptr target);

  /// Hands the message to the target, remembering requests, or holds it
  /// while the relay waits; requests to a dead relay fail at once with
  /// sec::request_receiver_down.
  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* ctx) override;

  /// Gives a waiting relay its target: sends the links made meanwhile,
  /// then what it held, in order. Does nothing to a relay that has a
  /// target or died.
  void bind(caf::strong_actor_ptr target);

  /// Run under the locks of the relay and `x` (monitorable_actor::add_link).
  bool add_backlink(caf::abstract_actor* x) override;
  bool remove_backlink(caf::abstract_actor* x) override;

  void kill_proxy(caf::execution_unit* ctx, caf::error reason) override;

  const char* name() const override { return "shmbus_basp_relay"; }

private:
  enum class state { waiting, flushing, bound, dead };

  /// Sends (link_atom or unlink_atom, x) through `target`, as BASP's
  /// proxies do.
  static void tell_target(const caf::strong_actor_ptr& target, bool link,
                          const caf::strong_actor_ptr& x);

  /// The target for `what` (null once dead), remembering a request; under mtx_.
  caf::strong_actor_ptr target_for(const caf::mailbox_element& what);

  /// Hands `what` to `target`, or fails it (a request) when null.
  static void deliver(const caf::strong_actor_ptr& target, caf::mailbox_element_ptr what,
                      caf::execution_unit* ctx);

  struct forwarded_request {
    caf::weak_actor_ptr requester;
    caf::message_id mid;
  };

  std::mutex mtx_;
  state state_;
  caf::strong_actor_ptr target_; // set while flushing or bound
  std::vector<caf::actor_addr> linked_;
  std::deque<forwarded_request> requests_; // the last tracked_requests, oldest first
  std::deque<caf::mailbox_element_ptr> held_; // while waiting or flushing
  bool overflow_logged_ = false;
};

} // namespace shmbus::bus
