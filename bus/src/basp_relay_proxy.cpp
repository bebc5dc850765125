#include "basp_relay_proxy.hpp"

#include <algorithm>

#include <caf/default_attachable.hpp>
#include <caf/detail/sync_request_bouncer.hpp>
#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>

#include "shmbus/log/logger.hpp"

namespace shmbus::bus {

basp_relay_proxy::basp_relay_proxy(caf::actor_config& cfg, caf::strong_actor_ptr target)
  : caf::actor_proxy(cfg),
    state_(target ? state::bound : state::waiting),
    target_(std::move(target)) {
  // nop
}

void basp_relay_proxy::enqueue(caf::mailbox_element_ptr what, caf::execution_unit* ctx) {
  caf::strong_actor_ptr target;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    if (state_ == state::waiting || state_ == state::flushing) {
      if (held_.size() < held_messages) {
        held_.push_back(std::move(what));
        return;
      }
      if (!overflow_logged_) {
        overflow_logged_ = true;
        log::write(log::level::warning, "bus", "relay_overflow",
                   "the relay of actor " + std::to_string(id()) + " of node "
                     + caf::to_string(node()) + " holds " + std::to_string(held_messages)
                     + " messages while it waits for a direct BASP route; until the route "
                       "is up, requests to it fail and other messages to it are dropped");
      }
    } else {
      target = target_for(*what);
    }
  }
  deliver(target, std::move(what), ctx);
}

caf::strong_actor_ptr basp_relay_proxy::target_for(const caf::mailbox_element& what) {
  if (state_ == state::dead || !target_)
    return nullptr;
  if (what.mid.is_request() && what.sender) {
    if (requests_.size() == tracked_requests)
      requests_.pop_front();
    requests_.push_back({caf::weak_actor_ptr{what.sender.get()}, what.mid});
  }
  return target_;
}

void basp_relay_proxy::deliver(const caf::strong_actor_ptr& target,
                               caf::mailbox_element_ptr what, caf::execution_unit* ctx) {
  if (target) {
    target->get()->enqueue(std::move(what), ctx);
    return;
  }
  caf::detail::sync_request_bouncer bounce{caf::exit_reason::remote_link_unreachable};
  bounce(what->sender, what->mid);
}

void basp_relay_proxy::bind(caf::strong_actor_ptr target) {
  std::vector<caf::actor_addr> linked;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    if (state_ != state::waiting || !target)
      return;
    target_ = target;
    state_ = state::flushing;
    linked = linked_;
  }
  for (auto& addr : linked)
    if (auto x = caf::actor_cast<caf::strong_actor_ptr>(addr))
      tell_target(target, true, x);
  // What arrives while flushing queues behind what was held: order holds.
  for (;;) {
    std::deque<caf::mailbox_element_ptr> batch;
    {
      std::lock_guard<std::mutex> guard(mtx_);
      if (state_ != state::flushing)
        return; // died meanwhile: kill_proxy failed the rest
      if (held_.empty()) {
        state_ = state::bound;
        return;
      }
      batch.swap(held_);
    }
    for (auto& x : batch) {
      caf::strong_actor_ptr to;
      {
        std::lock_guard<std::mutex> guard(mtx_);
        to = target_for(*x);
      }
      deliver(to, std::move(x), nullptr);
    }
  }
}

void basp_relay_proxy::tell_target(const caf::strong_actor_ptr& target, bool link,
                                   const caf::strong_actor_ptr& x) {
  auto msg = link ? caf::make_message(caf::link_atom::value, x)
                  : caf::make_message(caf::unlink_atom::value, x);
  target->get()->enqueue(caf::make_mailbox_element(target, caf::make_message_id(), {},
                                                   std::move(msg)),
                         nullptr);
}

bool basp_relay_proxy::add_backlink(caf::abstract_actor* x) {
  if (!caf::monitorable_actor::add_backlink(x))
    return false;
  caf::strong_actor_ptr target;
  {
    // With bind(), under one lock: the link is sent once, by one of them.
    std::lock_guard<std::mutex> guard(mtx_);
    linked_.push_back(x->address());
    if (state_ == state::flushing || state_ == state::bound)
      target = target_;
  }
  if (target)
    tell_target(target, true, x->ctrl());
  return true;
}

bool basp_relay_proxy::remove_backlink(caf::abstract_actor* x) {
  if (!caf::monitorable_actor::remove_backlink(x))
    return false;
  caf::strong_actor_ptr target;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    auto addr = x->address();
    linked_.erase(std::remove(linked_.begin(), linked_.end(), addr), linked_.end());
    if (state_ == state::flushing || state_ == state::bound)
      target = target_;
  }
  if (target)
    tell_target(target, false, x->ctrl());
  return true;
}

void basp_relay_proxy::kill_proxy(caf::execution_unit* ctx, caf::error reason) {
  std::vector<caf::actor_addr> linked;
  std::deque<forwarded_request> requests;
  std::deque<caf::mailbox_element_ptr> held;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    state_ = state::dead;
    target_.reset();
    linked.swap(linked_);
    requests.swap(requests_);
    held.swap(held_);
  }
  // What it held never left this process: no answer can come.
  caf::detail::sync_request_bouncer bounce_held{caf::exit_reason::remote_link_unreachable};
  for (auto& x : held)
    bounce_held(x->sender, x->mid);
  // Over a lost connection no answer comes: fail what may still be
  // pending. Otherwise the answers still travel over BASP (an actor that
  // exits has the requests left in its mailbox answered by CAF there).
  if (reason == caf::exit_reason::remote_link_unreachable) {
    caf::detail::sync_request_bouncer bounce{reason};
    for (auto& r : requests)
      if (auto requester = r.requester.lock())
        bounce(requester, r.mid);
  }
  // The remote actor's own exit_msg reached the linkers over BASP; only a
  // lost connection leaves them to the relay.
  if (reason != caf::exit_reason::remote_link_unreachable)
    for (auto& addr : linked) {
      caf::default_attachable::observe_token tk{addr, caf::default_attachable::link};
      detach(caf::attachable::token{caf::default_attachable::observe_token::token_type, &tk});
    }
  cleanup(std::move(reason), ctx);
}

} // namespace shmbus::bus
