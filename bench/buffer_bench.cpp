#include "buffer_bench.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "bench_plan.hpp"
#include "bus_mechanism.hpp"
#include "caf_mechanisms.hpp"
#include "clock.hpp"
#include "measurement.hpp"
#include "placement.hpp"
#include "process_pair.hpp"
#include "shmbus/bus/bus_module.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/bus/shared_buffer.hpp"
#include "shmbus_bus_mechanism.hpp"

namespace shmbus::bench {

namespace {

using bytes = std::vector<uint8_t>;
using bye_atom = caf::atom_constant<caf::atom("bye")>;
using finished_atom = caf::atom_constant<caf::atom("finished")>;

constexpr auto reply_timeout = std::chrono::seconds{10};

/// The sizes of the rows; the largest sets the bus's limits.
constexpr size_t payload_sizes[] = {64, 4096, 65536, size_t{1} << 20, size_t{16} << 20};
constexpr size_t largest_payload = size_t{16} << 20;

/// What a real receiver touches: the size and the first and last 64 bytes.
template <class Bytes>
uint64_t edge_sum(const Bytes& b, size_t size) {
  uint64_t sum = 0;
  auto n = std::min<size_t>(64, size);
  for (size_t i = 0; i < n; ++i)
    sum += static_cast<uint64_t>(b[i]) + static_cast<uint64_t>(b[size - 1 - i]);
  return sum;
}

const uint8_t* as_bytes(const bus::shared_buffer& b) {
  return reinterpret_cast<const uint8_t*>(b.data());
}

/// Calls the mechanism's shutdown on every exit path, before the actor
/// system's destructor runs (declare it after the system).
struct shutdown_guard {
  bus_mechanism& mechanism;
  caf::actor_system& sys;
  ~shutdown_guard() { mechanism.shutdown(sys); }
};

/// A bus_mechanism of the bus suite, registering the payload types, and
/// whether its rows carry a shared_buffer.
class payload_mechanism : public bus_mechanism {
public:
  payload_mechanism(std::unique_ptr<bus_mechanism> inner, std::string name, bool buffer)
    : inner_(std::move(inner)), name_(std::move(name)), buffer_(buffer) {
    // nop
  }

  std::string name() const override { return name_; }
  std::string description() const override {
    return name_ + ": " + (buffer_ ? "a shmbus::bus::shared_buffer" : "a std::vector<uint8_t>")
           + " over " + inner_->description();
  }
  bool in_process() const override { return inner_->in_process(); }
  void configure(caf::actor_system_config& cfg, bench_process which) override {
    inner_->configure(cfg, which);
    cfg.add_message_type<bus::shared_buffer>("shmbus::shared_buffer");
    cfg.add_message_type<bytes>("std::vector<uint8_t>");
  }
  std::string expose(caf::actor_system& sys, const caf::actor& peer) override {
    return inner_->expose(sys, peer);
  }
  caf::actor lookup(caf::actor_system& sys, const std::string& address,
                    std::chrono::milliseconds timeout) override {
    return inner_->lookup(sys, address, timeout);
  }
  void shutdown(caf::actor_system& sys) noexcept override { inner_->shutdown(sys); }

  bool buffer() const noexcept { return buffer_; }

private:
  std::unique_ptr<bus_mechanism> inner_;
  std::string name_;
  bool buffer_;
};

/// A bus big enough for the largest payload as bytes, and a pool with a
/// block for it.
void big_payload_bus(bus::bus_settings& s) {
  s.node_slots = 4;
  s.max_message_size = largest_payload + 65536;
  s.inbox_size = size_t{64} << 20;
  s.pool_max_block = largest_payload;
  s.pool_size = 7 * largest_payload; // one block of each of the 7 classes' shares
}

std::vector<std::unique_ptr<payload_mechanism>> buffer_mechanisms() {
  std::vector<std::unique_ptr<payload_mechanism>> result;
  result.push_back(std::make_unique<payload_mechanism>(
    make_shmbus_bus_mechanism("adaptive", "inline", "shmbus-adaptive", big_payload_bus),
    "shmbus-buffer", true));
  result.push_back(std::make_unique<payload_mechanism>(
    make_shmbus_bus_mechanism("adaptive", "inline", "shmbus-adaptive", big_payload_bus),
    "shmbus-bytes", false));
  result.push_back(
    std::make_unique<payload_mechanism>(make_caf_tcp_mechanism(), "caf-tcp", false));
  result.push_back(std::make_unique<payload_mechanism>(make_caf_inprocess_mechanism(),
                                                       "caf-inprocess", false));
  return result;
}

std::unique_ptr<payload_mechanism> find_mechanism(const std::string& name) {
  for (auto& m : buffer_mechanisms())
    if (m->name() == name)
      return std::move(m);
  throw std::invalid_argument("unknown buffers mechanism '" + name + "'");
}

/// B's actor: answers a payload with its size and edge sum.
caf::behavior payload_peer(caf::event_based_actor* self) {
  return {
    [](const bus::shared_buffer& b) {
      return std::make_tuple(uint64_t{b.size()}, edge_sum(as_bytes(b), b.size()));
    },
    [](const bytes& b) { return std::make_tuple(uint64_t{b.size()}, edge_sum(b, b.size())); },
    [=](bye_atom) {
      self->quit();
      return caf::ok_atom::value;
    },
  };
}

struct driver_state {
  caf::actor peer;
  caf::actor notify;
  caf::message payload;
  uint64_t size = 0;
  uint64_t sum = 0;
  bench_plan plan;
  bool warming = true;
  size_t count = 0;
  mono_clock::time_point phase_end;
  std::vector<double>* rtt_us = nullptr;
  std::string* error = nullptr;
};

using driver_actor = caf::stateful_actor<driver_state>;

void done(driver_actor* self, std::string error = {}) {
  *self->state.error = std::move(error);
  self->send(self->state.notify, finished_atom::value);
  self->quit();
}

void next(driver_actor* self) {
  auto start = mono_clock::now();
  self->request(self->state.peer, reply_timeout, self->state.payload)
    .then(
      [=](uint64_t size, uint64_t sum) {
        auto rtt = std::chrono::duration<double, std::micro>(mono_clock::now() - start);
        auto& st = self->state;
        if (size != st.size || sum != st.sum)
          return done(self, "B answered size " + std::to_string(size) + " sum "
                              + std::to_string(sum) + " for " + std::to_string(st.size)
                              + " bytes with sum " + std::to_string(st.sum));
        auto now = mono_clock::now();
        if (st.warming) {
          if (++st.count >= st.plan.warmup || now >= st.phase_end) {
            st.warming = false;
            st.count = 0;
            st.phase_end = now + st.plan.sample_limit;
          }
          return next(self);
        }
        st.rtt_us->push_back(rtt.count());
        if (++st.count < st.plan.samples && now < st.phase_end)
          return next(self);
        done(self);
      },
      [=](caf::error& err) { done(self, "request failed: " + self->system().render(err)); });
}

caf::behavior payload_driver(driver_actor* self, driver_state init) {
  self->state = std::move(init);
  self->state.phase_end = mono_clock::now() + self->state.plan.warmup_limit;
  next(self);
  return {[](bye_atom) {}};
}

/// The payload, filled once before timing.
caf::message make_payload(caf::actor_system& sys, bool buffer, size_t size, uint64_t& sum) {
  auto fill = [](uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i)
      p[i] = static_cast<uint8_t>(i * 31 + 7);
  };
  if (!buffer) {
    bytes v(size);
    fill(v.data(), size);
    sum = edge_sum(v, size);
    return caf::make_message(std::move(v));
  }
  auto nodes = bus::bus_module::of(sys)->nodes();
  if (nodes.empty())
    throw std::runtime_error("no bus node to take a buffer from");
  auto w = nodes.front().make_buffer(size);
  if (!w)
    throw std::runtime_error("make_buffer: " + sys.render(w.error()));
  fill(reinterpret_cast<uint8_t*>(w->data()), size);
  auto b = std::move(*w).freeze();
  sum = edge_sum(as_bytes(b), size);
  return caf::make_message(std::move(b));
}

} // namespace

int buffer_driver_role(const role_args& args) {
  auto mechanism = find_mechanism(args.get("mechanism"));
  caf::actor_system_config cfg;
  mechanism->configure(cfg, bench_process::driver);
  std::chrono::milliseconds budget{args.get_int("budget_ms")};
  auto size = static_cast<size_t>(args.get_int("payload"));
  measurement result;
  std::string error;
  {
    caf::actor_system sys{cfg};
    shutdown_guard guard{*mechanism, sys};
    auto peer = mechanism->in_process()
                  ? sys.spawn(payload_peer)
                  : mechanism->lookup(sys, args.get("address"),
                                      std::chrono::milliseconds{reply_timeout});
    driver_state init;
    init.peer = peer;
    init.size = size;
    init.payload = make_payload(sys, mechanism->buffer(), size, init.sum);
    init.plan = bench_plan::read_from(args);
    init.rtt_us = &result.rtt_us;
    init.error = &error;
    caf::scoped_actor self{sys};
    init.notify = caf::actor_cast<caf::actor>(self);
    auto driver = sys.spawn(payload_driver, std::move(init));
    bool finished = false;
    self->receive([&](finished_atom) { finished = true; }, caf::after(budget) >> [] {});
    if (!finished) {
      self->send_exit(driver, caf::exit_reason::kill);
      error = "driver did not finish within " + std::to_string(budget.count()) + " ms";
    }
    if (mechanism->in_process())
      caf::anon_send_exit(peer, caf::exit_reason::user_shutdown);
    else
      self->request(peer, reply_timeout, bye_atom::value)
        .receive([](caf::ok_atom) {}, [](caf::error&) {});
  }
  if (!error.empty())
    throw std::runtime_error(error);
  write_measurement(stdout, result);
  return 0;
}

int buffer_peer_role(const role_args& args) {
  auto mechanism = find_mechanism(args.get("mechanism"));
  caf::actor_system_config cfg;
  mechanism->configure(cfg, bench_process::peer);
  std::chrono::milliseconds budget{args.get_int("budget_ms")};
  {
    caf::actor_system sys{cfg};
    shutdown_guard guard{*mechanism, sys};
    auto peer = sys.spawn(payload_peer);
    announce_ready(mechanism->expose(sys, peer));
    caf::scoped_actor self{sys};
    self->monitor(peer);
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; }, caf::after(budget) >> [] {});
    if (!down)
      caf::anon_send_exit(peer, caf::exit_reason::user_shutdown);
    if (!down)
      throw std::runtime_error("A did not say bye within " + std::to_string(budget.count())
                               + " ms");
  }
  return 0;
}

void run_buffer_suite(const run_options& options, report& out) {
  auto plan = options.quick ? bench_plan::quick() : bench_plan::full();
  if (options.quick)
    plan.sample_limit = std::chrono::milliseconds{1000};
  auto mechanisms = buffer_mechanisms();
  for (auto& m : mechanisms)
    if (options.selects(m->name()))
      out.note(m->description());
  for (auto size : payload_sizes)
    for (auto& m : mechanisms) {
      if (!options.selects(m->name()))
        continue;
      pair_spec spec;
      spec.suite = "buffers";
      spec.bench = "buffer_rtt";
      spec.mechanism = m->name();
      spec.payload_bytes = size;
      spec.where = unpinned();
      spec.with_peer = !m->in_process();
      plan.write_to(spec.params);
      spec.budget = plan.row_budget();
      out.add(run_pair(spec));
    }
  out.note("buffer_rtt: an event-based actor in A sends request(peer, 10s, payload), one at "
           "a time; the payload message is made and filled once before timing and sent "
           "again each time (a shared_buffer crosses shmbus as a handle; a vector is "
           "serialized and copied by every cross-process mechanism, shared in one "
           "process); B answers (size, sum of the first and last 64 bytes); "
           + plan.describe_rtt());
  out.note("shmbus rows: a bus of 4 node slots, 64 MiB inboxes, max-message-size 16 MiB + "
           "64 KiB, a 112 MiB pool with blocks of 4 KiB .. 16 MiB; processes unpinned");
}

} // namespace shmbus::bench
