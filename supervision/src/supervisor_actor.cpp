#include "supervisor_actor.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>

#include "child_shutdown.hpp"
#include "error_text.hpp"
#include "shmbus/log/logger.hpp"
#include "shmbus/supervision/atoms.hpp"
#include "shmbus/supervision/errc.hpp"

namespace shmbus::supervision {

namespace {

/// How many gone incarnations handle_exit recognises.
constexpr size_t former_children_capacity = 64;

/// OTP's "normal" and "shutdown": a transient child stopping for these reasons
/// meant to stop.
bool is_orderly_exit(const caf::error& reason) {
  return reason == caf::exit_reason::normal
         || reason == caf::exit_reason::user_shutdown;
}

bool should_restart(restart_type type, const caf::error& reason) {
  switch (type) {
    case restart_type::permanent: return true;
    case restart_type::transient: return !is_orderly_exit(reason);
    case restart_type::temporary: return false;
  }
  return false;
}

} // namespace

// -- construction -------------------------------------------------------------

supervisor_actor::supervisor_actor(caf::actor_config& cfg,
                                   supervisor_flags flags,
                                   std::vector<child_spec> specs)
  : caf::event_based_actor(cfg),
    flags_(std::move(flags)),
    intensity_(flags_.intensity, flags_.period),
    rng_(std::random_device{}()),
    observer_(flags_.observer ? flags_.observer : make_default_observer(system())) {
  if (is_simple()) {
    // start_supervisor() checked that there is exactly the template.
    template_ = std::move(specs.front());
    return;
  }
  children_.reserve(specs.size());
  for (auto& spec : specs) {
    children_.emplace_back();
    children_.back().spec = std::move(spec);
  }
}

const char* supervisor_actor::name() const {
  return "shmbus.supervisor";
}

caf::behavior supervisor_actor::make_behavior() {
  set_down_handler([this](caf::down_msg& dm) { handle_down(dm); });
  set_exit_handler([this](caf::exit_msg& em) { handle_exit(em); });
  return {
    [this](supervisor_init_atom) { return init(); },
    [this](supervisor_retry_atom, uint64_t token) { restart_pending(token); },
    [this](start_child_atom, child_spec& spec) { return add_child(spec); },
    [this](start_child_atom, caf::message& args) {
      return add_dynamic_child(args);
    },
    [this](terminate_child_atom, const std::string& id) -> caf::result<void> {
      auto i = find_id(id);
      if (i == children_.end())
        return not_found(id);
      return terminate(i);
    },
    [this](terminate_child_atom, const caf::actor& hdl) -> caf::result<void> {
      auto i = hdl ? find_handle(hdl.address()) : children_.end();
      if (i == children_.end())
        return make_error(errc::child_not_found,
                          self_description() + " has no child with handle "
                            + caf::to_string(hdl));
      return terminate(i);
    },
    [this](restart_child_atom, const std::string& id) {
      return restart_stopped(id);
    },
    [this](delete_child_atom, const std::string& id) {
      return remove_stopped(id);
    },
    [this](which_children_atom) { return infos(); },
    [this](count_children_atom) { return counts(); },
  };
}

void supervisor_actor::on_exit() {
  // Last resort when the supervisor could not stop its children itself (it
  // was killed, which CAF does not let it intercept, or a bug threw): kill
  // them, newest first, so that none outlives it.
  // No execution unit: on_exit may run from the destructor.
  for (auto i = children_.rbegin(); i != children_.rend(); ++i)
    if (i->handle)
      send_exit_now(address(), nullptr, i->handle, caf::exit_reason::kill);
  children_.clear();
  if (observer_) {
    try {
      observer_->supervisor_stopped(id());
    } catch (...) {
      // An observer must not keep the supervisor from ending.
    }
    observer_.reset();
  }
}

// -- starting -----------------------------------------------------------------

caf::result<void> supervisor_actor::init() {
  if (initialized_)
    return caf::make_error(caf::sec::invalid_argument,
                           self_description() + " is already started");
  initialized_ = true;
  for (size_t k = 0; k < children_.size(); ++k) {
    if (auto cause = start(children_[k])) {
      auto err = start_error(children_[k].spec.id, cause);
      std::vector<child*> started;
      for (size_t j = k; j-- > 0;)
        started.push_back(&children_[j]);
      stop_children(started);
      quit(err);
      return err;
    }
  }
  changed();
  return {};
}

caf::error supervisor_actor::start(child& c) {
  caf::expected<caf::actor> started{caf::actor{}};
  try {
    started = c.spec.start(system(), c.args);
  } catch (const std::exception& e) {
    started = caf::make_error(caf::sec::runtime_error,
                              std::string{"start function threw: "} + e.what());
  } catch (...) {
    started = caf::make_error(caf::sec::runtime_error,
                              "start function threw a non-standard exception");
  }
  if (started && !*started)
    started = caf::make_error(caf::sec::runtime_error,
                              "start function returned an invalid handle");
  if (!started) {
    log_event(log::level::warning, "child_start_failed", c,
              self_description() + ": child " + quoted(c.spec.id) + " failed to start",
              started.error());
    return std::move(started.error());
  }
  monitor(*started);
  c.handle = std::move(*started);
  c.state = child_state::running;
  c.restart_token = 0;
  c.started_at = now();
  ++c.starts;
  if (c.starts == 1)
    log_event(log::level::info, "child_started", c,
              self_description() + ": child " + quoted(c.spec.id) + " started");
  else
    log_event(log::level::info, "child_restarted", c,
              self_description() + ": child " + quoted(c.spec.id) + " restarted (restart "
                + std::to_string(c.starts - 1) + ")");
  changed();
  return caf::none;
}

caf::error supervisor_actor::start_error(const std::string& id,
                                         const caf::error& cause) const {
  auto what = flags_.name.empty() ? std::string{}
                                  : self_description() + ": ";
  what += "child " + quoted(id) + " failed to start: " + system().render(cause);
  return make_error(errc::child_start_failed, std::move(what));
}

// -- failures and restarts ----------------------------------------------------

void supervisor_actor::handle_down(caf::down_msg& dm) {
  auto i = find_handle(dm.source);
  if (i == children_.end())
    return; // stale: an incarnation we stopped or already replaced
  remember_former(dm.source);
  i->handle = nullptr;
  i->state = child_state::stopped;
  i->last_exit_reason = dm.reason;
  log_event(is_orderly_exit(dm.reason) ? log::level::info : log::level::warning,
            "child_terminated", *i,
            self_description() + ": child " + quoted(i->spec.id) + " terminated",
            dm.reason);
  if (!should_restart(i->spec.restart, dm.reason)) {
    // OTP: a temporary child's spec goes with it; a dynamic child has no
    // identity beyond its incarnation.
    if (i->spec.restart == restart_type::temporary || is_simple())
      children_.erase(i);
    changed();
    return;
  }
  auto failed = static_cast<size_t>(i - children_.begin());
  if (!intensity_.add_restart(now())) {
    give_up(i->spec.id, dm.reason);
    return;
  }
  begin_restart(failed);
}

void supervisor_actor::handle_exit(caf::exit_msg& em) {
  // Children are watched through their down_msg; an exit_msg from one (it
  // linked itself to us) is not a request to stop the supervisor.
  if (find_handle(em.source) != children_.end()
      || std::find(former_children_.begin(), former_children_.end(), em.source)
           != former_children_.end())
    return;
  // From the parent (link) or anyone with our handle (send_exit).
  shutdown(std::move(em.reason));
}

void supervisor_actor::begin_restart(size_t failed) {
  // The range of children that restart together, in start order.
  size_t first = failed;
  size_t last = failed + 1;
  switch (flags_.strategy) {
    case restart_strategy::one_for_one:
    case restart_strategy::simple_one_for_one:
      break;
    case restart_strategy::one_for_all:
      first = 0;
      last = children_.size();
      break;
    case restart_strategy::rest_for_one:
      last = children_.size();
      break;
  }
  auto delay = next_backoff_delay(children_[failed], true);
  // Siblings stop before anything restarts, newest first.
  std::vector<child*> siblings;
  for (size_t k = last; k-- > first;)
    if (k != failed)
      siblings.push_back(&children_[k]);
  stop_children(siblings);
  auto token = next_token_++;
  for (size_t k = first; k < last; ++k) {
    children_[k].state = child_state::restarting;
    children_[k].restart_token = token;
  }
  // OTP: temporary children are never restarted, not even with siblings.
  children_.erase(std::remove_if(children_.begin(), children_.end(),
                                 [token](const child& c) {
                                   return c.restart_token == token
                                          && c.spec.restart
                                               == restart_type::temporary;
                                 }),
                  children_.end());
  changed();
  if (delay > caf::timespan::zero())
    delayed_send(caf::actor_cast<caf::actor>(this), delay,
                 supervisor_retry_atom::value, token);
  else
    restart_pending(token);
}

void supervisor_actor::restart_pending(uint64_t token) {
  std::vector<size_t> group;
  for (size_t k = 0; k < children_.size(); ++k)
    if (children_[k].restart_token == token
        && children_[k].state == child_state::restarting)
      group.push_back(k);
  if (group.empty())
    return; // stale timer: the restart was cancelled or superseded
  for (size_t n = 0; n < group.size(); ++n) {
    auto& c = children_[group[n]];
    auto cause = start(c);
    if (!cause)
      continue;
    c.last_exit_reason = cause;
    auto failed_id = c.spec.id;
    std::vector<size_t> waiting(group.begin() + static_cast<ptrdiff_t>(n),
                                group.end());
    if (flags_.strategy == restart_strategy::one_for_all) {
      // All or nothing: the ones started in this round stop again.
      std::vector<child*> started;
      for (size_t j = n; j-- > 0;)
        started.push_back(&children_[group[j]]);
      stop_children(started);
      waiting = group;
    }
    // A failed restart counts as a restart attempt, as in OTP.
    if (!intensity_.add_restart(now())) {
      give_up(failed_id, cause);
      return;
    }
    auto next_token = next_token_++;
    for (auto k : waiting) {
      children_[k].state = child_state::restarting;
      children_[k].restart_token = next_token;
    }
    changed();
    // Retry through the mailbox so that requests (e.g. a terminate_child
    // or our own shutdown) get a chance between attempts, as in OTP.
    auto delay = next_backoff_delay(children_[group[n]], false);
    if (delay > caf::timespan::zero())
      delayed_send(caf::actor_cast<caf::actor>(this), delay,
                   supervisor_retry_atom::value, next_token);
    else
      send(caf::actor_cast<caf::actor>(this), supervisor_retry_atom::value,
           next_token);
    return;
  }
}

caf::timespan supervisor_actor::next_backoff_delay(child& c,
                                                   bool was_running) {
  if (!flags_.backoff)
    return caf::timespan::zero();
  auto& opts = *flags_.backoff;
  // A child that ran quietly for reset_after starts over at min_delay. A failed
  // start never resets: the child did not run at all.
  if (was_running && now() - c.started_at >= opts.reset_after)
    c.backoff_attempts = 0;
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  return opts.delay_for(c.backoff_attempts++, unit(rng_));
}

void supervisor_actor::give_up(const std::string& child_id,
                               const caf::error& cause) {
  auto what = self_description() + " gave up: more than "
              + std::to_string(flags_.intensity) + " restart(s) within "
              + in_ms(flags_.period) + "; child " + quoted(child_id)
              + " last failed with " + system().render(cause);
  log::write(log::level::error, "supervision", "intensity_exceeded", what,
             {{"supervisor", flags_.name}, {"child", child_id},
              {"intensity", std::to_string(flags_.intensity)},
              {"period", in_ms(flags_.period)}, {"reason", system().render(cause)}});
  shutdown(make_error(errc::restart_intensity_exceeded, std::move(what)));
}

// -- stopping -----------------------------------------------------------------

void supervisor_actor::stop_children(const std::vector<child*>& targets) {
  if (targets.empty())
    return;
  // A private blocking actor observes the children going down, so that this
  // handler can wait for them with deadlines; our own monitor is dropped
  // first, so their down_msgs do not come back to us as failures.
  caf::scoped_actor waiter{system()};
  if (is_simple()) {
    stop_together(*waiter, targets);
    return;
  }
  for (auto* c : targets)
    stop_together(*waiter, {c});
}

void supervisor_actor::stop_together(caf::blocking_actor& waiter,
                                     const std::vector<child*>& targets) {
  std::vector<child*> stopped;
  std::vector<stop_target> xs;
  for (auto* c : targets) {
    if (c->state == child_state::restarting) {
      c->restart_token = 0; // a pending timer finds nobody to restart
      c->state = child_state::stopped;
      continue;
    }
    if (c->state != child_state::running)
      continue;
    auto hdl = std::move(c->handle);
    c->handle = nullptr;
    c->state = child_state::stopped;
    // Its down_msg goes to the waiter, not to us as a failure; an exit_msg
    // of its link is recognised as a former child's.
    remember_former(hdl.address());
    demonitor(hdl);
    unlink_from(hdl.address());
    xs.push_back({c->spec.id, std::move(hdl), c->spec.effective_shutdown()});
    stopped.push_back(c);
  }
  if (xs.empty())
    return;
  auto reasons = stop_concurrently(*this, waiter, xs, flags_.kill_timeout);
  for (size_t k = 0; k < stopped.size(); ++k) {
    stopped[k]->last_exit_reason = std::move(reasons[k]);
    log_event(log::level::info, "child_terminated", *stopped[k],
              self_description() + ": child " + quoted(stopped[k]->spec.id) + " stopped",
              stopped[k]->last_exit_reason);
  }
  changed();
}

void supervisor_actor::shutdown(caf::error reason) {
  std::vector<child*> all;
  for (auto i = children_.rbegin(); i != children_.rend(); ++i)
    all.push_back(&*i);
  stop_children(all);
  quit(std::move(reason));
}

// -- runtime API --------------------------------------------------------------

caf::result<caf::actor> supervisor_actor::add_child(child_spec& spec) {
  if (is_simple())
    return make_error(errc::child_start_failed,
                      self_description()
                        + " is simple_one_for_one: start_child takes "
                          "extra arguments for its template, not a spec");
  if (spec.id.empty() || !spec.start)
    return caf::make_error(caf::sec::invalid_argument,
                           "a child spec needs an id and a start function");
  if (auto i = find_id(spec.id); i != children_.end())
    return make_error(errc::child_already_exists,
                      self_description() + " already has a child "
                        + quoted(spec.id) + " ("
                        + to_string(i->state) + ")");
  children_.emplace_back();
  children_.back().spec = std::move(spec);
  if (auto cause = start(children_.back())) {
    auto err = start_error(children_.back().spec.id, cause);
    children_.pop_back(); // OTP keeps no spec of a child that never started
    changed();
    return err;
  }
  return children_.back().handle;
}

caf::result<caf::actor> supervisor_actor::add_dynamic_child(caf::message& args) {
  if (!is_simple())
    return make_error(errc::child_start_failed,
                      self_description()
                        + " is not simple_one_for_one: start_child "
                          "takes a child spec");
  children_.emplace_back();
  auto& c = children_.back();
  c.spec = *template_;
  c.spec.id = template_->id + "#" + std::to_string(next_dynamic_id_++);
  c.args = std::move(args);
  if (auto cause = start(c)) {
    auto err = start_error(c.spec.id, cause);
    children_.pop_back();
    changed();
    return err;
  }
  return c.handle;
}

caf::result<void> supervisor_actor::terminate(child_iterator i) {
  stop_children({&*i});
  // Stopping waited on other actors only: `i` is still valid.
  if (i->spec.restart == restart_type::temporary || is_simple())
    children_.erase(i);
  changed();
  return {};
}

caf::result<caf::actor>
supervisor_actor::restart_stopped(const std::string& id) {
  auto i = find_id(id);
  if (i == children_.end())
    return not_found(id);
  if (i->state == child_state::running)
    return make_error(errc::child_running,
                      "child " + quoted(id) + " of " + self_description()
                        + " is running");
  if (i->state == child_state::restarting)
    return make_error(errc::child_running,
                      "child " + quoted(id) + " of " + self_description()
                        + " waits for its restart; terminate_child "
                          "cancels it");
  if (auto cause = start(*i)) {
    i->last_exit_reason = cause;
    changed();
    return start_error(id, cause);
  }
  return i->handle;
}

caf::result<void> supervisor_actor::remove_stopped(const std::string& id) {
  auto i = find_id(id);
  if (i == children_.end())
    return not_found(id);
  if (i->state != child_state::stopped)
    return make_error(errc::child_running,
                      "child " + quoted(id) + " of " + self_description()
                        + " is " + to_string(i->state)
                        + "; terminate_child first");
  children_.erase(i);
  changed();
  return {};
}

std::vector<child_info> supervisor_actor::infos() const {
  std::vector<child_info> result;
  result.reserve(children_.size());
  for (auto& c : children_) {
    child_info x;
    x.id = c.spec.id;
    x.handle = c.handle;
    x.restarts = c.starts > 0 ? c.starts - 1 : 0;
    x.state = c.state;
    x.last_exit_reason = c.last_exit_reason;
    x.kind = c.spec.kind;
    result.push_back(std::move(x));
  }
  return result;
}

child_counts supervisor_actor::counts() const {
  child_counts result;
  auto running = static_cast<uint64_t>(
    std::count_if(children_.begin(), children_.end(), [](const child& c) {
      return c.state == child_state::running;
    }));
  result.active = running;
  if (is_simple()) {
    // OTP: one spec, the template; kinds count the dynamic children.
    result.specs = 1;
    if (template_->kind == child_kind::supervisor)
      result.supervisors = running;
    else
      result.workers = running;
    return result;
  }
  result.specs = children_.size();
  for (auto& c : children_) {
    if (c.spec.kind == child_kind::supervisor)
      ++result.supervisors;
    else
      ++result.workers;
  }
  return result;
}

// -- utility ------------------------------------------------------------------

supervisor_actor::time_point supervisor_actor::now() const {
  return flags_.clock ? flags_.clock() : std::chrono::steady_clock::now();
}

supervisor_actor::child_iterator
supervisor_actor::find_id(const std::string& id) {
  return std::find_if(children_.begin(), children_.end(),
                      [&](const child& c) { return c.spec.id == id; });
}

supervisor_actor::child_iterator
supervisor_actor::find_handle(const caf::actor_addr& addr) {
  return std::find_if(children_.begin(), children_.end(),
                      [&](const child& c) {
                        return c.handle && c.handle.address() == addr;
                      });
}

void supervisor_actor::remember_former(const caf::actor_addr& addr) {
  if (former_children_.size() == former_children_capacity)
    former_children_.pop_front();
  former_children_.push_back(addr);
}

std::string supervisor_actor::self_description() const {
  if (flags_.name.empty())
    return "supervisor";
  return "supervisor " + quoted(flags_.name);
}

void supervisor_actor::changed() {
  if (!observer_ || !initialized_)
    return;
  supervisor_snapshot x;
  x.supervisor = id();
  x.name = flags_.name;
  x.strategy = flags_.strategy;
  x.children = infos();
  try {
    observer_->children_changed(x);
  } catch (...) {
    // Observing must not break supervising.
  }
}

void supervisor_actor::log_event(log::level severity, const char* event,
                                 const child& c, const std::string& message,
                                 const caf::error& reason) {
  if (!log::enabled(severity))
    return;
  std::vector<log::field> fields{
    {"supervisor", flags_.name},
    {"child", c.spec.id},
    {"kind", to_string(c.spec.kind)},
    {"restarts", std::to_string(c.starts > 0 ? c.starts - 1 : 0)}};
  std::string text = message;
  if (reason) {
    auto rendered = system().render(reason);
    text += ": " + rendered;
    fields.push_back({"reason", std::move(rendered)});
  }
  log::write(severity, "supervision", event, std::move(text), std::move(fields));
}

caf::error supervisor_actor::not_found(const std::string& id) const {
  return make_error(errc::child_not_found,
                    self_description() + " has no child " + quoted(id));
}

} // namespace shmbus::supervision
