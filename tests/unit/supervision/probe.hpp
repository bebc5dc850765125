// Test children that report what happens to them, and the probe that collects
// the reports: the only way the supervisor tests observe and synchronise.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <doctest/doctest.h>

#include "shmbus/supervision/child_info.hpp"
#include "shmbus/supervision/child_spec.hpp"

namespace shmbus::test {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// How long a test waits for one expected event. Events normally arrive
/// within milliseconds; the deadline only bounds a failing test.
constexpr auto event_deadline = std::chrono::milliseconds{3000};

// Reports from test children to the probe.
using started_atom = caf::atom_constant<caf::atom("t_started")>;
using start_failed_atom = caf::atom_constant<caf::atom("t_stfail")>;
using gone_atom = caf::atom_constant<caf::atom("t_gone")>;
using saw_exit_atom = caf::atom_constant<caf::atom("t_sawexit")>;
// Requests to test children.
using quit_atom = caf::atom_constant<caf::atom("t_quit")>;
using link_atom = caf::atom_constant<caf::atom("t_link")>;
using block_atom = caf::atom_constant<caf::atom("t_block")>;

inline int64_t to_ns(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           t.time_since_epoch())
    .count();
}

inline steady::time_point from_ns(int64_t ns) {
  return steady::time_point{std::chrono::nanoseconds{ns}};
}

/// How a test child behaves.
struct worker_options {
  /// The exit handler reports the exit_msg but does not quit: only
  /// `exit_reason::kill` stops the child.
  bool ignore_shutdown = false;
  /// Called before each start attempt (0-based); an error fails the start.
  std::function<caf::error(size_t attempt)> fail_start;
  /// Called at each start attempt before spawning; may block (test latches).
  std::function<void(size_t attempt)> on_start;
  /// Runs inside the child's handler for `block_atom`; may block (a child
  /// stuck in a handler, which not even a kill can stop).
  std::function<void()> on_block;
};

/// A test child: reports exit signals, quits, links and blocks on request.
inline caf::behavior test_worker(caf::event_based_actor* self,
                                 caf::actor probe, std::string id,
                                 worker_options opts) {
  self->set_exit_handler([=](caf::exit_msg& em) {
    caf::anon_send(probe, saw_exit_atom::value, id, em.reason);
    if (!opts.ignore_shutdown)
      self->quit(std::move(em.reason));
  });
  return {
    [=](quit_atom) { self->quit(); },
    [=](quit_atom, caf::error& reason) { self->quit(std::move(reason)); },
    [=](link_atom, const caf::actor& other) { self->link_to(other); },
    [=](block_atom) {
      if (opts.on_block)
        opts.on_block();
    },
  };
}

struct started_event {
  std::string id;
  caf::actor handle;
  steady::time_point at;
  caf::message args;
};

struct gone_event {
  std::string id;
  caf::actor_addr addr;
  caf::error reason;
};

struct saw_exit_event {
  std::string id;
  caf::error reason;
};

/// Collects the reports of test children and the down_msgs of the actors it
/// monitors. Everything a test waits for goes through `pull`, with a deadline.
class probe {
public:
  explicit probe(caf::actor_system& sys) : self_(sys) {
    // nop
  }

  caf::scoped_actor& self() {
    return self_;
  }

  caf::actor handle() const {
    return caf::actor_cast<caf::actor>(self_);
  }

  /// A start function for a test child named `id` that reports to this probe.
  /// The gone report is attached right after spawning, before the supervisor
  /// monitors the child; CAF notifies newest attachments first, so when the
  /// probe sees "gone", the supervisor's down_msg is already in its mailbox
  /// and any request sent afterwards is handled after it.
  shmbus::supervision::start_function worker(std::string id,
                                        worker_options opts = {}) {
    auto attempts = std::make_shared<std::atomic<size_t>>(0);
    auto me = handle();
    return [me, id, opts, attempts](caf::actor_system& sys,
                                    const caf::message& args)
             -> caf::expected<caf::actor> {
      auto attempt = attempts->fetch_add(1);
      if (opts.on_start)
        opts.on_start(attempt);
      if (opts.fail_start) {
        if (auto err = opts.fail_start(attempt)) {
          caf::anon_send(me, start_failed_atom::value, id,
                         to_ns(steady::now()));
          return err;
        }
      }
      auto hdl = sys.spawn(test_worker, me, id, opts);
      auto addr = hdl.address();
      hdl->attach_functor([me, id, addr](const caf::error& reason) {
        caf::anon_send(me, gone_atom::value, id, addr, reason);
      });
      caf::anon_send(me, started_atom::value, id, hdl, to_ns(steady::now()),
                     args);
      return hdl;
    };
  }

  /// Monitors `hdl` so that `down_reason` can wait for it.
  void watch(const caf::actor& hdl) {
    self_->monitor(hdl);
  }

  /// The next start of any test child, in order.
  started_event next_start() {
    auto until = steady::now() + event_deadline;
    while (starts_.empty())
      if (!pull(until))
        break;
    REQUIRE_MESSAGE(!starts_.empty(), "no child started within the deadline");
    auto result = std::move(starts_.front());
    starts_.pop_front();
    return result;
  }

  /// The next `n` starts; checks that they are of `ids`, in that order.
  std::vector<started_event> next_starts(const std::vector<std::string>& ids) {
    std::vector<started_event> result;
    for (auto& id : ids) {
      result.push_back(next_start());
      CHECK_EQ(result.back().id, id);
    }
    return result;
  }

  /// Why the incarnation `hdl` of a test child went down.
  caf::error gone_reason(const caf::actor& hdl) {
    return gone_reason(hdl.address());
  }

  caf::error gone_reason(const caf::actor_addr& addr) {
    auto pred = [&](const gone_event& x) { return x.addr == addr; };
    auto until = steady::now() + event_deadline;
    auto i = std::find_if(gones_.begin(), gones_.end(), pred);
    while (i == gones_.end() && pull(until))
      i = std::find_if(gones_.begin(), gones_.end(), pred);
    if (i == gones_.end()) {
      i = std::find_if(gones_.begin(), gones_.end(), pred);
      REQUIRE_MESSAGE(i != gones_.end(),
                      "child did not go down within the deadline");
    }
    return i->reason;
  }

  /// Why a watched actor went down.
  caf::error down_reason(const caf::actor& hdl) {
    auto addr = hdl.address();
    auto pred = [&](const caf::down_msg& x) { return x.source == addr; };
    auto until = steady::now() + event_deadline;
    auto i = std::find_if(downs_.begin(), downs_.end(), pred);
    while (i == downs_.end() && pull(until))
      i = std::find_if(downs_.begin(), downs_.end(), pred);
    if (i == downs_.end()) {
      i = std::find_if(downs_.begin(), downs_.end(), pred);
      REQUIRE_MESSAGE(i != downs_.end(),
                      "actor did not go down within the deadline");
    }
    return i->reason;
  }

  /// The next exit signal a test child reported.
  saw_exit_event next_saw_exit() {
    auto until = steady::now() + event_deadline;
    while (saw_exits_.empty())
      if (!pull(until))
        break;
    REQUIRE_MESSAGE(!saw_exits_.empty(),
                    "no child saw an exit within the deadline");
    auto result = std::move(saw_exits_.front());
    saw_exits_.pop_front();
    return result;
  }

  /// Takes everything already in the mailbox, without waiting.
  void drain() {
    while (pull(steady::now()))
      ; // nop
  }

  /// Collects events for `window`: used only to show that something does
  /// NOT happen within a window longer than any timer involved.
  void collect_for(steady::duration window) {
    auto until = steady::now() + window;
    while (steady::now() < until)
      pull(until);
  }

  std::deque<started_event>& starts() {
    return starts_;
  }

  std::deque<saw_exit_event>& saw_exits() {
    return saw_exits_;
  }

  size_t failed_starts() const {
    return failed_starts_;
  }

  /// Tells a test child to quit with `reason`.
  void crash(const caf::actor& hdl, caf::error reason) {
    caf::anon_send(hdl, quit_atom::value, std::move(reason));
  }

  /// Tells a test child to quit normally.
  void finish(const caf::actor& hdl) {
    caf::anon_send(hdl, quit_atom::value);
  }

private:
  /// Receives one message if one arrives before `until`.
  bool pull(steady::time_point until) {
    bool got = false;
    auto remaining = until - steady::now();
    if (remaining < steady::duration::zero())
      remaining = steady::duration::zero();
    self_->receive(
      [&](started_atom, std::string& id, caf::actor& hdl, int64_t at,
          caf::message& args) {
        starts_.push_back({std::move(id), std::move(hdl), from_ns(at),
                           std::move(args)});
        got = true;
      },
      [&](start_failed_atom, std::string&, int64_t) {
        ++failed_starts_;
        got = true;
      },
      [&](gone_atom, std::string& id, caf::actor_addr& addr,
          caf::error& reason) {
        gones_.push_back({std::move(id), std::move(addr), std::move(reason)});
        got = true;
      },
      [&](saw_exit_atom, std::string& id, caf::error& reason) {
        saw_exits_.push_back({std::move(id), std::move(reason)});
        got = true;
      },
      [&](caf::down_msg& dm) {
        downs_.push_back(std::move(dm));
        got = true;
      },
      caf::after(remaining) >> [] {});
    return got;
  }

  caf::scoped_actor self_;
  std::deque<started_event> starts_;
  std::vector<gone_event> gones_;
  std::deque<saw_exit_event> saw_exits_;
  std::vector<caf::down_msg> downs_;
  size_t failed_starts_ = 0;
};

} // namespace shmbus::test

namespace doctest {

// Readable failure messages for the values the tests compare.
template <>
struct StringMaker<caf::error> {
  static String convert(const caf::error& x) {
    return caf::to_string(x).c_str();
  }
};

template <>
struct StringMaker<caf::actor> {
  static String convert(const caf::actor& x) {
    return caf::to_string(x).c_str();
  }
};

template <>
struct StringMaker<shmbus::supervision::child_state> {
  static String convert(shmbus::supervision::child_state x) {
    return to_string(x).c_str();
  }
};

} // namespace doctest
