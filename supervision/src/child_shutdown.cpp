#include "child_shutdown.hpp"

#include <chrono>
#include <optional>

#include <caf/after.hpp>
#include <caf/atom.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/local_actor.hpp>
#include <caf/message_id.hpp>
#include <caf/message_priority.hpp>
#include <caf/system_messages.hpp>

#include "error_text.hpp"

namespace shmbus::supervision {

namespace {

using clock_type = std::chrono::steady_clock;

/// The stop of one target, while it is under way.
struct stopping {
  caf::actor_addr addr;
  std::optional<clock_type::time_point> deadline; // none: wait forever
  bool killed = false;
  bool done = false;
};

} // namespace

void send_exit_now(const caf::actor_addr& sender, caf::execution_unit* ctx,
                   const caf::actor& dest, caf::error reason) {
  dest->eq_impl(caf::make_message_id(caf::message_priority::high), nullptr,
                ctx, caf::exit_msg{sender, std::move(reason)});
}

std::vector<caf::error> stop_concurrently(caf::local_actor& sender,
                                          caf::blocking_actor& waiter,
                                          const std::vector<stop_target>& targets,
                                          caf::timespan kill_timeout) {
  std::vector<caf::error> reasons(targets.size());
  std::vector<stopping> xs(targets.size());
  auto exit_now = [&](const caf::actor& dest, caf::error reason) {
    send_exit_now(sender.address(), sender.context(), dest, std::move(reason));
  };
  auto t0 = clock_type::now();
  for (size_t k = 0; k < targets.size(); ++k) {
    auto& t = targets[k];
    auto& s = xs[k];
    s.addr = t.handle.address();
    waiter.monitor(t.handle);
    switch (t.policy.mode) {
      case shutdown_mode::brutal_kill:
        exit_now(t.handle, caf::exit_reason::kill);
        s.killed = true;
        s.deadline = t0 + kill_timeout;
        break;
      case shutdown_mode::timeout:
        exit_now(t.handle, caf::exit_reason::user_shutdown);
        s.deadline = t0 + t.policy.timeout;
        break;
      case shutdown_mode::infinity:
        exit_now(t.handle, caf::exit_reason::user_shutdown);
        break;
    }
  }
  auto pending = xs.size();
  auto on_down = [&](caf::down_msg& dm) {
    for (size_t k = 0; k < xs.size(); ++k) {
      if (!xs[k].done && xs[k].addr == dm.source) {
        xs[k].done = true;
        reasons[k] = std::move(dm.reason);
        --pending;
        return;
      }
    }
  };
  while (pending > 0) {
    std::optional<clock_type::time_point> next;
    for (auto& s : xs)
      if (!s.done && s.deadline && (!next || *s.deadline < *next))
        next = s.deadline;
    if (!next) {
      waiter.receive(on_down);
      continue;
    }
    auto remaining = *next - clock_type::now();
    if (remaining > clock_type::duration::zero())
      waiter.receive(on_down, caf::after(remaining) >> [] {});
    auto now = clock_type::now();
    for (size_t k = 0; k < xs.size(); ++k) {
      auto& s = xs[k];
      if (s.done || !s.deadline || *s.deadline > now)
        continue;
      if (!s.killed) {
        exit_now(targets[k].handle, caf::exit_reason::kill);
        s.killed = true;
        s.deadline = now + kill_timeout;
      } else {
        s.done = true;
        --pending;
        reasons[k] = caf::error{
          static_cast<uint8_t>(caf::exit_reason::kill), caf::atom("exit"),
          caf::make_message("child " + quoted(targets[k].id)
                            + " did not go down within " + in_ms(kill_timeout)
                            + " of exit_reason::kill; it may still run")};
      }
    }
  }
  return reasons;
}

} // namespace shmbus::supervision
