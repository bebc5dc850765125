#include "module_actor.hpp"

#include <csignal>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "module_registry.hpp"
#include "shmbus/actors/defaults.hpp"
#include "shmbus/actors/errc.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/process/defaults.hpp"
#include "shmbus/process/os_process.hpp"

namespace shmbus::actors {

namespace {

using process::os_process;
using process::process_status;

std::string in_ms(caf::timespan x) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  return std::to_string(duration_cast<milliseconds>(x).count()) + " ms";
}

} // namespace

module_actor::module_actor(caf::actor_config& cfg, std::string module_name,
                           std::shared_ptr<os_process> proc, bus::node bus,
                           std::vector<published> names,
                           caf::timespan term_after, caf::timespan kill_after)
  : caf::event_based_actor(cfg),
    module_name_(std::move(module_name)),
    proc_(std::move(proc)),
    bus_(std::move(bus)),
    names_(std::move(names)),
    names_up_(names_.size()),
    term_after_(term_after),
    kill_after_(kill_after) {
  // nop
}

const char* module_actor::name() const {
  return "shmbus.module";
}

caf::behavior module_actor::make_behavior() {
  set_down_handler([this](caf::down_msg& dm) { handle_down(dm); });
  set_exit_handler([this](caf::exit_msg& em) {
    if (ended_) {
      finish(); // it ended before the request: say how
      return;
    }
    if (stop_cause_ != stop_cause::requested)
      requested_reason_ = std::move(em.reason);
    begin_stop(stop_cause::requested);
  });
  for (auto& x : names_)
    monitor(x.handle);
  // Weak: the process must not keep its actor alive.
  auto self = caf::actor_cast<caf::actor_addr>(this);
  proc_->on_reaped([self](const process_status& st) {
    if (auto hdl = caf::actor_cast<caf::actor>(self))
      caf::anon_send(hdl, module_ended_atom::value,
                     static_cast<int32_t>(st.how), int32_t{st.value});
  });
  return {
    [this](module_ended_atom, int32_t how, int32_t value) {
      handle_ended({static_cast<process_status::kind>(how), value});
    },
    [this](module_term_atom) {
      if (!ended_ && !term_sent_)
        send_sigterm();
    },
    [this](module_kill_atom) {
      if (!ended_) {
        kill_sent_ = true;
        proc_->signal(SIGKILL);
      }
    },
    [this](module_decide_atom) { finish(); },
    [this](module_orphan_atom) {
      if (ended_)
        return;
      if (stop_cause_ == stop_cause::unreachable) {
        // Not on the bus any more: a stop request cannot reach it.
        kill_sent_ = true;
        proc_->signal(SIGKILL);
      } else if (stop_cause_ == stop_cause::actor_down) {
        begin_stop(stop_cause::actor_down);
      }
    },
  };
}

void module_actor::on_exit() {
  // Also the path of exit_reason::kill, which no handler sees: the process
  // must not outlive its actor, and must not become a zombie.
  if (proc_ && !proc_->status())
    proc_->kill_and_reap(process::defaults::reap_timeout);
  names_.clear();
  module_registry::remove(system(), id());
}

void module_actor::handle_down(caf::down_msg& dm) {
  for (auto& x : names_) {
    if (!x.handle || x.handle.address() != dm.source)
      continue;
    x.handle = nullptr;
    --names_up_;
    if (ended_) {
      // The bus has reported the loss now: the reason can be decided.
      if (names_up_ == 0)
        finish();
      return;
    }
    if (stop_cause_ != stop_cause::none)
      return;
    // The process still runs. It either ends within moments (the bus saw it
    // die first) or it is broken: give it a grace period, then act.
    if (dm.reason == caf::exit_reason::remote_link_unreachable) {
      stop_cause_ = stop_cause::unreachable;
    } else {
      stop_cause_ = stop_cause::actor_down;
      actor_down_ = "its actor '" + x.name + "' went down with "
                    + system().render(dm.reason);
    }
    delayed_send(this, defaults::module_orphan_grace,
                 module_orphan_atom::value);
    return;
  }
}

void module_actor::handle_ended(process_status st) {
  if (ended_)
    return;
  ended_ = st;
  if (names_up_ == 0) {
    finish();
    return;
  }
  // The bus reports the loss right after the kernel does: wait for the
  // down_msgs, so that loss_of() tells a hang (heartbeat) from a kill.
  delayed_send(this, defaults::module_loss_report_grace,
               module_decide_atom::value);
}

void module_actor::begin_stop(stop_cause cause) {
  // The supervisor's request decides the exit reason over an earlier cause.
  if (cause == stop_cause::requested || stop_cause_ == stop_cause::none)
    stop_cause_ = cause;
  if (stopping_)
    return;
  stopping_ = true;
  if (auto err = bus_.request_stop(proc_->pid())) {
    // Not (or no longer) on the bus: SIGTERM is the only way to ask.
    send_sigterm();
  } else {
    delayed_send(this, term_after_, module_term_atom::value);
  }
  delayed_send(this, kill_after_, module_kill_atom::value);
}

void module_actor::send_sigterm() {
  term_sent_ = true;
  proc_->signal(SIGTERM);
  // A stopped process (SIGSTOP, a debugger) acts on SIGTERM only once it runs.
  proc_->signal(SIGCONT);
}

void module_actor::finish() {
  if (finished_)
    return;
  finished_ = true;
  quit(exit_reason());
}

caf::error module_actor::exit_reason() const {
  auto st = ended_.value_or(process_status{});
  auto how = to_string(st);
  auto code_for = [&] {
    return st.how == process_status::kind::signaled ? errc::module_killed
                                                    : errc::module_exited;
  };
  switch (stop_cause_) {
    case stop_cause::requested: {
      if (st.success())
        return requested_reason_;
      std::string what = who() + " did not stop cleanly: ";
      if (kill_sent_)
        what += "it ignored the stop request"
                + std::string{term_sent_ ? " and SIGTERM" : ""} + " for "
                + in_ms(kill_after_) + " and was ";
      return make_error(code_for(), what + how);
    }
    case stop_cause::actor_down:
      return make_error(code_for(), who() + ": " + actor_down_
                                      + "; the process was stopped and "
                                      + how);
    case stop_cause::none:
    case stop_cause::unreachable:
      break;
  }
  if (st.success())
    return caf::exit_reason::normal;
  if (st.how == process_status::kind::signaled) {
    auto loss = bus_.loss_of(proc_->pid());
    if (loss && (loss->cause == transport::loss_cause::heartbeat_timeout
                 || loss->cause == transport::loss_cause::stalled))
      return make_error(errc::module_hung,
                        who() + " hung (" + loss->text + ") and the bus " + how);
    return make_error(errc::module_killed, who() + " was " + how);
  }
  return make_error(errc::module_exited, who() + " " + how);
}

std::string module_actor::who() const {
  return "module '" + module_name_ + "' (pid " + std::to_string(proc_->pid())
         + ")";
}

} // namespace shmbus::actors
