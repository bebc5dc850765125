#include "basp_relay_proxy.hpp"

#include <algorithm>

#include <caf/default_attachable.hpp>
#include <caf/detail/sync_request_bouncer.hpp>
#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>

namespace shmbus::bus {

basp_relay_proxy::basp_relay_proxy(caf::actor_config& cfg, caf::strong_actor_ptr target)
  : caf::actor_proxy(cfg), target_(std::move(target)) {
  // nop
}

void basp_relay_proxy::enqueue(caf::mailbox_element_ptr what, caf::execution_unit* ctx) {
  caf::strong_actor_ptr target;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    target = target_;
    if (target && what->mid.is_request() && what->sender) {
      if (requests_.size() == tracked_requests)
        requests_.pop_front();
      requests_.push_back({caf::weak_actor_ptr{what->sender.get()}, what->mid});
    }
  }
  if (target) {
    target->get()->enqueue(std::move(what), ctx);
    return;
  }
  caf::detail::sync_request_bouncer bounce{caf::exit_reason::remote_link_unreachable};
  bounce(what->sender, what->mid);
}

void basp_relay_proxy::tell_target(bool link, caf::abstract_actor* x) {
  caf::strong_actor_ptr target;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    target = target_;
  }
  if (!target)
    return;
  auto msg = link ? caf::make_message(caf::link_atom::value, x->ctrl())
                  : caf::make_message(caf::unlink_atom::value, x->ctrl());
  target->get()->enqueue(caf::make_mailbox_element(target, caf::make_message_id(), {},
                                                   std::move(msg)),
                         nullptr);
}

bool basp_relay_proxy::add_backlink(caf::abstract_actor* x) {
  if (!caf::monitorable_actor::add_backlink(x))
    return false;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    linked_.push_back(x->address());
  }
  tell_target(true, x);
  return true;
}

bool basp_relay_proxy::remove_backlink(caf::abstract_actor* x) {
  if (!caf::monitorable_actor::remove_backlink(x))
    return false;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    auto addr = x->address();
    linked_.erase(std::remove(linked_.begin(), linked_.end(), addr), linked_.end());
  }
  tell_target(false, x);
  return true;
}

void basp_relay_proxy::kill_proxy(caf::execution_unit* ctx, caf::error reason) {
  std::vector<caf::actor_addr> linked;
  std::deque<forwarded_request> requests;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    target_.reset();
    linked.swap(linked_);
    requests.swap(requests_);
  }
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
