#include "shm_actor_proxy.hpp"

#include <caf/mailbox_element.hpp>

#include "bus_core.hpp"
#include "pending_requests.hpp"

namespace shmbus::bus {

shm_actor_proxy::shm_actor_proxy(caf::actor_config& cfg,
                                 std::weak_ptr<bus_core> core, uint32_t slot,
                                 uint32_t incarnation)
  : caf::actor_proxy(cfg),
    core_(std::move(core)),
    slot_(slot),
    incarnation_(incarnation) {
  // nop
}

void shm_actor_proxy::enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) {
  if (auto core = core_.lock())
    core->forward(*this, std::move(what));
  else
    answer_with_error(what->sender, what->mid, caf::sec::request_receiver_down);
}

bool shm_actor_proxy::add_backlink(caf::abstract_actor* x) {
  if (!caf::monitorable_actor::add_backlink(x))
    return false;
  if (auto core = core_.lock())
    core->send_link(*this, x, true);
  return true;
}

bool shm_actor_proxy::remove_backlink(caf::abstract_actor* x) {
  if (!caf::monitorable_actor::remove_backlink(x))
    return false;
  if (auto core = core_.lock())
    core->send_link(*this, x, false);
  return true;
}

void shm_actor_proxy::kill_proxy(caf::execution_unit* ctx, caf::error reason) {
  // As in-process: the requests fail before the down/exit messages go out.
  if (auto core = core_.lock())
    core->fail_pending(node(), id());
  cleanup(std::move(reason), ctx);
}

} // namespace shmbus::bus
