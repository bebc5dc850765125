#include "bus_bench.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <caf/all.hpp>

#include "bench_plan.hpp"
#include "bus_mechanism.hpp"
#include "clock.hpp"
#include "cpu_usage.hpp"
#include "measurement.hpp"
#include "placement.hpp"
#include "process_pair.hpp"
#include "registry.hpp"

namespace shmbus::bench {

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using item_atom = caf::atom_constant<caf::atom("item")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using bye_atom = caf::atom_constant<caf::atom("bye")>;
using finished_atom = caf::atom_constant<caf::atom("finished")>;

/// A request without an answer for this long fails the row.
constexpr auto reply_timeout = std::chrono::seconds{5};

// -- process B (or the same system for in-process rows) -----------------------

struct peer_state {
  std::uint64_t expected = 0;
  std::uint64_t received = 0;
  std::uint64_t out_of_sequence = 0;
};

/// Echoes pings, counts and checks stream items, acknowledges every
/// stream_ack_interval-th item to its sender, quits on bye.
caf::behavior bench_peer(caf::stateful_actor<peer_state>* self) {
  return {
    [](ping_atom, std::string& payload) { return std::move(payload); },
    [=](item_atom, std::uint64_t seq, const std::string&) {
      auto& st = self->state;
      if (seq != st.expected)
        ++st.out_of_sequence;
      st.expected = seq + 1;
      if (++st.received % stream_ack_interval == 0)
        self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                   ack_atom::value, st.received);
    },
    [=](done_atom, std::uint64_t) {
      auto& st = self->state;
      auto answer = std::make_tuple(st.received, st.out_of_sequence);
      st = peer_state{};
      return answer;
    },
    [=](bye_atom) {
      self->quit();
      return caf::ok_atom::value;
    },
  };
}

// -- process A: drivers -------------------------------------------------------

/// Filled by a driver actor, read by the main thread after `finished_atom`
/// (the message hand-over orders the writes before the reads).
struct driver_result {
  std::vector<double> rtt_us;
  std::uint64_t messages = 0;
  double seconds = 0;
  std::string error;
};

struct driver_base {
  caf::actor peer;
  caf::actor notify;
  std::shared_ptr<driver_result> out;
};

template <class State>
void finish(caf::stateful_actor<State>* self, std::string error = {}) {
  self->state.out->error = std::move(error);
  self->send(self->state.notify, finished_atom::value);
  self->quit();
}

struct rtt_state : driver_base {
  std::string payload;
  std::size_t warmup = 0;
  std::size_t samples = 0;
  std::chrono::milliseconds sample_limit{0};
  bool warming = false;
  std::size_t count = 0;
  mono_clock::time_point phase_end;
};

using rtt_actor = caf::stateful_actor<rtt_state>;

/// Counts a round trip; false once the last phase is over.
bool next_round_trip(rtt_actor* self, double rtt_us) {
  auto& st = self->state;
  auto now = mono_clock::now();
  if (st.warming) {
    if (++st.count < st.warmup && now < st.phase_end)
      return true;
    st.warming = false;
    st.count = 0;
    st.phase_end = now + st.sample_limit;
    return st.samples > 0;
  }
  st.out->rtt_us.push_back(rtt_us);
  return ++st.count < st.samples && now < st.phase_end;
}

void send_ping(rtt_actor* self) {
  auto start = mono_clock::now();
  auto& st = self->state;
  self->request(st.peer, reply_timeout, ping_atom::value, st.payload)
    .then(
      [=](const std::string& echo) {
        auto stop = mono_clock::now();
        auto& st = self->state;
        if (echo.size() != st.payload.size())
          return finish(self, "echo of " + std::to_string(echo.size())
                                + " bytes for a request of "
                                + std::to_string(st.payload.size()));
        auto rtt = std::chrono::duration<double, std::micro>(stop - start);
        if (next_round_trip(self, rtt.count()))
          send_ping(self);
        else
          finish(self);
      },
      [=](caf::error& err) {
        finish(self, "request failed after "
                       + std::to_string(self->state.out->rtt_us.size())
                       + " timed round trips: " + self->system().render(err));
      });
}

/// One request at a time: sends the next in the handler of the last answer.
caf::behavior rtt_driver(rtt_actor* self, driver_base base, std::size_t payload,
                         bench_plan plan) {
  auto& st = self->state;
  static_cast<driver_base&>(st) = std::move(base);
  st.payload.assign(payload, 'x');
  st.warmup = plan.warmup;
  st.samples = plan.samples;
  st.sample_limit = plan.sample_limit;
  st.warming = plan.warmup > 0;
  st.phase_end = mono_clock::now()
                 + (st.warming ? plan.warmup_limit : plan.sample_limit);
  if (st.warming || st.samples > 0)
    send_ping(self);
  else
    finish(self);
  // Answers arrive through the .then handlers; nothing else is expected.
  return {[](bye_atom) {}};
}

struct sender_state : driver_base {
  std::string payload;
  std::uint64_t sent = 0;
  std::uint64_t acked = 0;
  mono_clock::time_point start;
  mono_clock::time_point stop_sending;
  bool stopping = false;
};

using sender_actor = caf::stateful_actor<sender_state>;

/// Fills the window: at most stream_window items not yet acknowledged.
void refill(sender_actor* self) {
  auto& st = self->state;
  while (st.sent - st.acked < stream_window)
    self->send(st.peer, item_atom::value, st.sent++, st.payload);
}

/// Streams items for `duration`, then asks B how many it got.
caf::behavior stream_sender(sender_actor* self, driver_base base,
                            std::chrono::milliseconds duration) {
  auto& st = self->state;
  static_cast<driver_base&>(st) = std::move(base);
  st.payload.assign(stream_payload_bytes, 'x');
  st.start = mono_clock::now();
  st.stop_sending = st.start + duration;
  refill(self);
  return {
    [=](ack_atom, std::uint64_t received) {
      auto& st = self->state;
      st.acked = received;
      if (st.stopping)
        return;
      if (mono_clock::now() < st.stop_sending)
        return refill(self);
      st.stopping = true;
      self->request(st.peer, reply_timeout, done_atom::value, st.sent)
        .then(
          [=](std::uint64_t received, std::uint64_t out_of_sequence) {
            auto& st = self->state;
            st.out->seconds = seconds_between(st.start, mono_clock::now());
            st.out->messages = received;
            if (received != st.sent || out_of_sequence != 0)
              return finish(self, "B received " + std::to_string(received)
                                    + " of " + std::to_string(st.sent)
                                    + " messages, "
                                    + std::to_string(out_of_sequence)
                                    + " out of sequence");
            finish(self);
          },
          [=](caf::error& err) {
            finish(self, "end of stream: " + self->system().render(err));
          });
    },
  };
}

// -- process A: main thread ---------------------------------------------------

std::size_t thread_count(pid_t pid) {
  auto dir = pid == 0 ? std::string{"/proc/self/task"}
                      : "/proc/" + std::to_string(pid) + "/task";
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator{dir, ec};
       !ec && it != std::filesystem::directory_iterator{}; it.increment(ec))
    ++n;
  return n;
}

void apply_scheduler_args(caf::actor_system_config& cfg,
                          const role_args& args) {
  if (auto policy = args.get_or("caf_policy", ""); !policy.empty())
    cfg.set("scheduler.policy", caf::atom_from_string(policy));
  if (auto n = args.get_int_or("caf_max_threads", 0); n > 0)
    cfg.set("scheduler.max-threads", static_cast<std::size_t>(n));
}

std::string scheduler_policy(caf::actor_system& sys) {
  return caf::to_string(caf::get_or(sys.config(), "scheduler.policy",
                                    caf::defaults::scheduler::policy));
}

/// Calls the mechanism's shutdown on every exit path, before the actor
/// system's destructor runs (declare it after the system).
class shutdown_on_scope_end {
public:
  shutdown_on_scope_end(bus_mechanism& mechanism, caf::actor_system& sys)
    : mechanism_(mechanism), sys_(sys) {
    // nop
  }
  ~shutdown_on_scope_end() {
    mechanism_.shutdown(sys_);
  }
  shutdown_on_scope_end(const shutdown_on_scope_end&) = delete;
  shutdown_on_scope_end& operator=(const shutdown_on_scope_end&) = delete;

private:
  bus_mechanism& mechanism_;
  caf::actor_system& sys_;
};

/// Runs at scope exit: a peer actor left alive would make the actor system's
/// destructor wait forever.
class exit_on_scope_end {
public:
  explicit exit_on_scope_end(caf::actor whom) : whom_(std::move(whom)) {
    // nop
  }
  ~exit_on_scope_end() {
    if (whom_)
      caf::anon_send_exit(whom_, caf::exit_reason::user_shutdown);
  }
  exit_on_scope_end(const exit_on_scope_end&) = delete;
  exit_on_scope_end& operator=(const exit_on_scope_end&) = delete;

private:
  caf::actor whom_;
};

/// Spawns a driver, waits (up to `budget`) for it to finish and returns what
/// it measured; throws with the driver's error.
template <class F, class... Ts>
driver_result run_driver(caf::actor_system& sys, caf::scoped_actor& self,
                         const caf::actor& peer,
                         std::chrono::milliseconds budget, F fun, Ts&&... xs) {
  auto out = std::make_shared<driver_result>();
  driver_base base{peer, caf::actor_cast<caf::actor>(self), out};
  auto driver = sys.spawn(fun, std::move(base), std::forward<Ts>(xs)...);
  bool finished = false;
  self->receive([&](finished_atom) { finished = true; },
                caf::after(budget) >> [] {});
  if (!finished) {
    self->send_exit(driver, caf::exit_reason::kill);
    throw std::runtime_error("driver did not finish within "
                             + std::to_string(budget.count()) + " ms");
  }
  if (!out->error.empty())
    throw std::runtime_error(out->error);
  return std::move(*out);
}

} // namespace

int bus_driver_role(const role_args& args) {
  auto mechanism = find_bus_mechanism(args.get("mechanism"));
  caf::actor_system_config cfg;
  // The mechanism sets its defaults first; --caf-* options override them.
  mechanism->configure(cfg, bench_process::driver);
  apply_scheduler_args(cfg, args);
  std::chrono::milliseconds budget{args.get_int("budget_ms")};
  auto& bench = args.get("bench");
  auto payload = static_cast<std::size_t>(args.get_int_or("payload", 64));
  auto plan = bench_plan::read_from(args);
  auto peer_pid = static_cast<pid_t>(args.get_int_or("peer_pid", 0));
  measurement result;
  {
    caf::actor_system sys{cfg};
    shutdown_on_scope_end mechanism_guard{*mechanism, sys};
    result.add("caf_policy", scheduler_policy(sys));
    result.add("caf_max_threads",
               static_cast<double>(sys.scheduler().num_workers()));
    auto peer = mechanism->in_process()
                  ? sys.spawn(bench_peer)
                  : mechanism->lookup(sys, args.get("address"),
                                      std::chrono::milliseconds{reply_timeout});
    exit_on_scope_end peer_guard{mechanism->in_process() ? peer : caf::actor{}};
    caf::scoped_actor self{sys};
    if (bench == "request_rtt") {
      auto r = run_driver(sys, self, peer, budget, rtt_driver, payload, plan);
      result.rtt_us = std::move(r.rtt_us);
    } else if (bench == "send_stream") {
      auto warmup_only = plan;
      warmup_only.samples = 0;
      run_driver(sys, self, peer, budget, rtt_driver, stream_payload_bytes,
                 warmup_only);
      cpu_sampler cpu_a;
      std::optional<cpu_sampler> cpu_b;
      if (peer_pid > 0)
        cpu_b.emplace(peer_pid);
      auto r = run_driver(sys, self, peer, budget, stream_sender,
                          plan.stream_duration);
      auto cpu = cpu_a.used();
      if (cpu_b)
        cpu += cpu_b->used();
      result.messages = r.messages;
      result.msgs_per_s = static_cast<double>(r.messages) / r.seconds;
      result.add("duration_s", r.seconds);
      result.add("cpu_us_per_msg", static_cast<double>(cpu.count())
                                     / static_cast<double>(r.messages));
      result.add("flow_control", "window " + std::to_string(stream_window)
                                   + ", ack every "
                                   + std::to_string(stream_ack_interval));
    } else if (bench == "idle_cpu") {
      // One round trip first: the pair is connected and B has answered.
      auto handshake = plan;
      handshake.warmup = 1;
      handshake.samples = 0;
      run_driver(sys, self, peer, budget, rtt_driver, payload, handshake);
      cpu_sampler cpu_a;
      std::optional<cpu_sampler> cpu_b;
      if (peer_pid > 0)
        cpu_b.emplace(peer_pid);
      // The measurement window itself, not a wait for some event.
      std::this_thread::sleep_for(plan.idle_window);
      result.add("cpu_idle_pct_a", cpu_a.percent_of_core());
      if (cpu_b)
        result.add("cpu_idle_pct_b", cpu_b->percent_of_core());
      result.add("idle_window_s",
                 std::chrono::duration<double>(plan.idle_window).count());
      result.add("threads_a", static_cast<double>(thread_count(0)));
      if (peer_pid > 0)
        result.add("threads_b", static_cast<double>(thread_count(peer_pid)));
    } else {
      throw std::invalid_argument("unknown bus bench '" + bench + "'");
    }
    if (!mechanism->in_process()) {
      // B exits when its actor quits; without this it waits out its budget.
      self->request(peer, reply_timeout, bye_atom::value)
        .receive([](caf::ok_atom) {},
                 [&](caf::error& err) {
                   result.add("warning", "bye: " + sys.render(err));
                 });
    }
  }
  write_measurement(stdout, result);
  return 0;
}

int bus_peer_role(const role_args& args) {
  auto mechanism = find_bus_mechanism(args.get("mechanism"));
  caf::actor_system_config cfg;
  mechanism->configure(cfg, bench_process::peer);
  apply_scheduler_args(cfg, args);
  std::chrono::milliseconds budget{args.get_int("budget_ms")};
  {
    caf::actor_system sys{cfg};
    shutdown_on_scope_end mechanism_guard{*mechanism, sys};
    auto peer = sys.spawn(bench_peer);
    exit_on_scope_end peer_guard{peer};
    announce_ready(mechanism->expose(sys, peer));
    caf::scoped_actor self{sys};
    self->monitor(peer);
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; },
                  caf::after(budget) >> [] {});
    if (!down)
      throw std::runtime_error("A did not say bye within "
                               + std::to_string(budget.count()) + " ms");
  }
  return 0;
}

void run_bus_suite(const run_options& options, report& out) {
  auto mechanisms = bus_mechanisms();
  auto plan = options.quick ? bench_plan::quick() : bench_plan::full();
  auto spec_for = [&](const std::string& bench, const bus_mechanism& m,
                      std::optional<std::size_t> payload, const placement& where) {
    pair_spec spec;
    spec.suite = "bus";
    spec.bench = bench;
    spec.mechanism = m.name();
    spec.payload_bytes = payload;
    spec.where = where;
    spec.with_peer = !m.in_process();
    plan.write_to(spec.params);
    if (!options.caf_policy.empty())
      spec.params.set("caf_policy", options.caf_policy);
    if (options.caf_max_threads > 0)
      spec.params.set("caf_max_threads",
                      static_cast<long long>(options.caf_max_threads));
    spec.budget = plan.row_budget();
    return spec;
  };
  // One process cannot be split over two cores: its placements are one core
  // (for "cores 0/0") and unpinned.
  auto place = [](const bus_mechanism& m,
                  const placement& where) -> std::optional<placement> {
    if (!m.in_process())
      return where;
    if (where.core_a < 0)
      return where;
    if (where.core_a == where.core_b)
      return single_core(where.core_a);
    return std::nullopt;
  };
  std::vector<const bus_mechanism*> selected;
  for (auto& m : mechanisms)
    if (options.selects(m->name())) {
      selected.push_back(m.get());
      out.note(m->description());
    }
  auto run_all = [&](const char* bench, std::size_t payload) {
    for (auto& where : pair_placements())
      for (auto* m : selected)
        if (auto actual = place(*m, where))
          out.add(run_pair(spec_for(bench, *m, payload, *actual)));
  };
  run_all("request_rtt", 64);
  run_all("request_rtt", 4096);
  run_all("send_stream", stream_payload_bytes);
  for (auto* m : selected)
    if (!m->in_process())
      out.add(run_pair(spec_for("idle_cpu", *m, std::nullopt, unpinned())));
  out.note("request_rtt: an event-based actor in A sends request(peer, 5s, "
           "ping_atom, std::string payload).then(...), one at a time, the "
           "next from the handler of the last; B's actor returns the string; "
           "each round trip timed in A's handler; "
           + plan.describe_rtt());
  out.note("send_stream: each message is (item_atom, uint64_t seq, std::string "
           "of 64 bytes); B checks every seq and acks every "
           + std::to_string(stream_ack_interval)
           + "th message to the sender, which keeps at most "
           + std::to_string(stream_window)
           + " unacked messages in flight (refills on each ack); after "
           + std::to_string(plan.stream_duration.count())
           + " ms of sending, request(done) returns B's count; msgs/s = "
             "messages / (first send .. that answer); cpu_us_per_msg = CPU "
             "time of A + B per message");
  out.note(pair_placements_note());
  out.note("caf_policy, caf_max_threads: scheduler of each row's actor systems: "
           "shmbus rows use shmbus::bus::config's default (work sharing), the "
           "others CAF's "
           "(CAF 0.17.6 defaults unless --caf-policy / --caf-max-threads: "
           "work stealing with max(hardware threads, 4) workers)");
  out.note("idle_cpu (bus): both actor systems up and connected, nothing "
           "sent; utime+stime of each process from /proc/<pid>/stat, % of "
           "one core");
}

} // namespace shmbus::bench
