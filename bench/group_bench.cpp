#include "group_bench.hpp"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "child_process.hpp"
#include "clock.hpp"
#include "measurement.hpp"
#include "placement.hpp"
#include "process_pair.hpp"
#include "shmbus/bus/config.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/bus/shared_buffer.hpp"
#include "shmbus/transport/bus_admin.hpp"

namespace shmbus::bench {

namespace {

using namespace std::chrono_literals;

using warm_atom = caf::atom_constant<caf::atom("warm")>;

constexpr int subscriber_processes = 3;
constexpr const char* group_name = "blocks";
constexpr auto ready_timeout = 10s;
constexpr auto delivery_timeout = 30s;
/// Events from this size on carry a shmbus::bus::shared_buffer (a pool
/// buffer on shmbus, bytes on CAF's networking) instead of a string.
constexpr size_t buffer_event_bytes = size_t{1} << 20;
/// How long the publisher waits for a free pool block for the next event.
constexpr auto pool_wait_timeout = 30s;

/// CPU time of the calling thread or of the whole process, in microseconds.
double cpu_us(clockid_t which) {
  timespec ts{};
  ::clock_gettime(which, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/// One line on stdout, whole, from any thread.
void say(const std::string& line) {
  static std::mutex mtx;
  std::lock_guard<std::mutex> guard(mtx);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

/// What the subscriber actors of one process have seen.
struct tally {
  explicit tally(int actors, long long expected) : actors(actors), expected(expected) {}
  const int actors;
  const long long expected; ///< events in all: actors x events
  std::atomic<int> warm{0};
  std::atomic<long long> received{0};
  /// Called once everything arrived (a line for the driver, or a flag).
  std::function<void()> on_warm;
  std::function<void()> on_done;
};

/// Joins `g`; counts events, and its first warm-up message.
caf::behavior subscriber(caf::event_based_actor* self, caf::group g,
                         std::shared_ptr<tally> t) {
  self->join(g);
  auto warm = std::make_shared<bool>(false);
  return {
    [=](warm_atom) {
      if (!*warm) {
        *warm = true;
        if (t->warm.fetch_add(1) + 1 == t->actors)
          t->on_warm();
      }
    },
    [=](int32_t, const std::string&) {
      if (t->received.fetch_add(1) + 1 == t->expected)
        t->on_done();
    },
    [=](int32_t, const bus::shared_buffer&) {
      if (t->received.fetch_add(1) + 1 == t->expected)
        t->on_done();
    },
  };
}

/// Starts the bus node of `sys` (per its config) into `node` and returns
/// the `shmbus` group of the benchmark; throws saying why not.
caf::group join_group(caf::actor_system& sys, bus::node& node) {
  auto started = bus::node::start(sys);
  if (!started)
    throw std::runtime_error(sys.render(started.error()));
  node = *started;
  return *sys.groups().get("shmbus", group_name);
}

/// Subscriber actors per process: `total` spread over the processes.
std::vector<int> spread(int total) {
  std::vector<int> result;
  for (int i = 0; i < subscriber_processes; ++i) {
    int k = total / subscriber_processes + (i < total % subscriber_processes ? 1 : 0);
    if (k > 0)
      result.push_back(k);
  }
  return result;
}

/// Sends warm-up messages to `g` until `stop`: the subscriptions are in
/// place everywhere once every subscriber got one.
std::thread warm_up(caf::actor_system& sys, caf::group g, std::atomic<bool>& stop) {
  return std::thread([&sys, g, &stop] {
    caf::scoped_actor self{sys};
    while (!stop.load()) {
      self->send(g, warm_atom::value);
      std::this_thread::sleep_for(5ms);
    }
  });
}

/// One big event's bytes, copied from `source` into a buffer: from the
/// bus's pool if `node` is given (waiting while every block is in flight;
/// `waits` counts the tries that found none), else on the heap.
bus::shared_buffer big_event(const bus::node* node, const std::vector<std::byte>& source,
                             long long& waits) {
  bus::buffer_writer writer;
  if (!node) {
    writer = bus::buffer_writer::on_heap(source.size());
  } else {
    deadline free_block{pool_wait_timeout};
    for (;;) {
      auto made = node->make_buffer(source.size());
      if (made) {
        writer = std::move(*made);
        break;
      }
      if (free_block.expired())
        throw std::runtime_error("no pool block came free within 30 s: "
                                 + caf::to_string(made.error()));
      ++waits;
      std::this_thread::yield();
    }
  }
  std::memcpy(writer.data(), source.data(), source.size());
  return std::move(writer).freeze();
}

/// Publishes `events` events of `payload` bytes to `g` and waits for
/// `delivered` (true once every subscriber has all); fills `out`. Events of
/// buffer_event_bytes or more are written once each into a shared_buffer
/// (from `node`'s pool if given), whatever the number of subscribers.
template <class Delivered>
void publish_and_measure(caf::actor_system& sys, caf::group g, long long events, size_t payload,
                         int subscribers, const bus::node* node, Delivered delivered,
                         measurement& out) {
  bool big = payload >= buffer_event_bytes;
  std::string body(!big && payload > 8 ? payload - 8 : 0, 'x'); // with the seq: ~payload bytes
  std::vector<std::byte> source(big ? payload : 0, std::byte{0x5a});
  long long pool_waits = 0;
  caf::scoped_actor self{sys};
  auto proc0 = cpu_us(CLOCK_PROCESS_CPUTIME_ID);
  auto start = mono_clock::now();
  auto thread0 = cpu_us(CLOCK_THREAD_CPUTIME_ID);
  for (long long i = 0; i < events; ++i) {
    if (big)
      self->send(g, static_cast<int32_t>(i), big_event(node, source, pool_waits));
    else
      self->send(g, static_cast<int32_t>(i), body);
  }
  auto thread1 = cpu_us(CLOCK_THREAD_CPUTIME_ID);
  if (big && node)
    out.add("pool_waits", static_cast<double>(pool_waits));
  if (!delivered())
    throw std::runtime_error("not every subscriber got every event within 30 s");
  auto took = std::chrono::duration<double>(mono_clock::now() - start).count();
  auto proc1 = cpu_us(CLOCK_PROCESS_CPUTIME_ID);
  auto total = events * subscribers;
  out.messages = static_cast<uint64_t>(total);
  out.msgs_per_s = total / took;
  out.add("events", static_cast<double>(events));
  out.add("subscribers", subscribers);
  out.add("publish_us_per_event", (thread1 - thread0) / events);
  out.add("cpu_us_per_event", (proc1 - proc0) / events);
}

void in_process(const role_args& args, measurement& out) {
  caf::actor_system_config cfg;
  cfg.add_message_type<bus::shared_buffer>("shmbus::shared_buffer");
  caf::actor_system sys{cfg};
  auto g = *sys.groups().get("local", group_name);
  auto subscribers = static_cast<int>(args.get_int("subscribers"));
  auto events = args.get_int("events");
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;
  auto t = std::make_shared<tally>(subscribers, subscribers * events);
  t->on_warm = [] {};
  t->on_done = [&] {
    std::lock_guard<std::mutex> guard(mtx);
    done = true;
    cv.notify_all();
  };
  std::vector<caf::actor> actors;
  for (int i = 0; i < subscribers; ++i)
    actors.push_back(sys.spawn(subscriber, g, t));
  std::atomic<bool> stop{false};
  auto warmer = warm_up(sys, g, stop);
  deadline ready{ready_timeout};
  while (t->warm.load() < subscribers && !ready.expired())
    std::this_thread::sleep_for(1ms);
  stop = true;
  warmer.join();
  publish_and_measure(sys, g, events, static_cast<size_t>(args.get_int("payload")), subscribers,
                      nullptr,
                      [&] {
                        std::unique_lock<std::mutex> guard(mtx);
                        return cv.wait_for(guard, delivery_timeout, [&] { return done; });
                      },
                      out);
  out.add("processes", 1);
  for (auto& a : actors)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

void across_processes(const role_args& args, measurement& out) {
  auto mechanism = args.get("mechanism");
  bool shm = mechanism != "caf-tcp";
  bus::config shm_cfg;
  caf::actor_system_config tcp_cfg;
  caf::actor_system_config& cfg = shm ? static_cast<caf::actor_system_config&>(shm_cfg) : tcp_cfg;
  auto bus_name = "bench-groups-" + std::to_string(::getpid());
  if (shm) {
    transport::remove_bus(bus_name);
    shm_cfg.shmbus.bus = bus_name;
    shm_cfg.shmbus.role = "server";
    shm_cfg.shmbus.node_name = "publisher";
    shm_cfg.shmbus.log_level = "warning"; // no line per subscriber process killed at the end
    // Room for 1 MiB events in flight: 5 size classes of 32 MiB each, and
    // references enough for a subscriber process that lags behind.
    shm_cfg.shmbus.pool_size = size_t{160} << 20;
    shm_cfg.shmbus.pool_max_block = buffer_event_bytes;
    shm_cfg.shmbus.pool_holder_entries = 256;
  } else {
    tcp_cfg.load<caf::io::middleman>();
    tcp_cfg.add_message_type<bus::shared_buffer>("shmbus::shared_buffer");
  }
  caf::actor_system sys{cfg};
  bus::node node;
  caf::group g;
  std::string address;
  if (shm) {
    g = join_group(sys, node);
    address = bus_name;
  } else {
    auto port = sys.middleman().publish_local_groups(0, "127.0.0.1");
    if (!port)
      throw std::runtime_error(sys.render(port.error()));
    g = *sys.groups().get("local", group_name);
    address = std::to_string(*port);
  }
  auto subscribers = static_cast<int>(args.get_int("subscribers"));
  auto events = args.get_int("events");
  std::vector<child_process> children;
  for (auto k : spread(subscribers)) {
    role_args sub;
    sub.set("mechanism", mechanism)
      .set("address", address)
      .set("actors", k)
      .set("events", events)
      .set("parent", static_cast<long long>(::getpid()));
    children.push_back(child_process::spawn("groups-sub", sub));
  }
  auto expect = [&](const std::string& word, std::chrono::seconds timeout) {
    for (auto& child : children) {
      auto line = child.read_line(deadline{timeout});
      if (!line || *line != word)
        throw std::runtime_error("a subscriber process said '" + line.value_or("nothing")
                                 + "' instead of '" + word + "'");
    }
    return true;
  };
  std::atomic<bool> stop{false};
  auto warmer = warm_up(sys, g, stop);
  try {
    expect("warm", ready_timeout);
  } catch (...) {
    stop = true;
    warmer.join();
    throw;
  }
  stop = true;
  warmer.join();
  publish_and_measure(sys, g, events, static_cast<size_t>(args.get_int("payload")), subscribers,
                      shm ? &node : nullptr, [&] { return expect("done", delivery_timeout); },
                      out);
  out.add("processes", static_cast<double>(children.size()));
  if (shm) {
    // The publisher's cost per event is one record per subscribed process,
    // whatever the number of subscriber actors there: the bus counts them.
    for (auto& x : node.groups())
      if (x.name == group_name) {
        out.add("records_per_event", static_cast<double>(x.records_out) / (x.published));
        out.add("undelivered", static_cast<double>(x.undelivered));
      }
  }
  children.clear(); // killed and reaped
  if (shm)
    node.stop();
}

} // namespace

int groups_subscriber_role(const role_args& args) {
  auto mechanism = args.get("mechanism");
  bool shm = mechanism != "caf-tcp";
  bus::config shm_cfg;
  caf::actor_system_config tcp_cfg;
  caf::actor_system_config& cfg = shm ? static_cast<caf::actor_system_config&>(shm_cfg) : tcp_cfg;
  if (shm) {
    shm_cfg.shmbus.bus = args.get("address");
    shm_cfg.shmbus.node_name = "subscriber-" + std::to_string(::getpid());
    shm_cfg.shmbus.log_level = "warning";
  } else {
    tcp_cfg.load<caf::io::middleman>();
    tcp_cfg.add_message_type<bus::shared_buffer>("shmbus::shared_buffer");
  }
  caf::actor_system sys{cfg};
  bus::node node;
  caf::group g;
  if (shm) {
    g = join_group(sys, node);
  } else {
    auto port = static_cast<uint16_t>(std::stoi(args.get("address")));
    auto found = sys.middleman().remote_group(group_name, "127.0.0.1", port);
    if (!found)
      throw std::runtime_error(sys.render(found.error()));
    g = *found;
  }
  auto actors = static_cast<int>(args.get_int("actors"));
  auto t = std::make_shared<tally>(actors, actors * args.get_int("events"));
  t->on_warm = [] { say("warm"); };
  t->on_done = [] { say("done"); };
  for (int i = 0; i < actors; ++i)
    sys.spawn(subscriber, g, t);
  for (;;)
    ::pause(); // until the driver kills us
}

int groups_driver_role(const role_args& args) {
  measurement result;
  if (args.get("mechanism") == "caf-inprocess")
    in_process(args, result);
  else
    across_processes(args, result);
  write_measurement(stdout, result);
  return 0;
}

void run_groups_suite(const run_options& options, report& out) {
  // Streams of ~1 s or more where the mechanism allows (BENCH.md); CAF's
  // TCP groups have no backpressure, so every event not yet delivered sits
  // in memory: big events are fewer.
  auto events_of = [&](size_t payload) {
    if (payload <= 64)
      return options.quick ? 20000LL : 100000LL;
    if (payload < buffer_event_bytes)
      return options.quick ? 5000LL : 20000LL;
    return options.quick ? 100LL : 400LL;
  };
  for (auto* mechanism : {"shmbus-adaptive", "caf-tcp", "caf-inprocess"}) {
    if (!options.selects(mechanism))
      continue;
    for (size_t payload : {size_t{64}, size_t{4096}, buffer_event_bytes})
      for (int subscribers : {1, 4, 16}) {
        pair_spec spec;
        spec.suite = "groups";
        spec.bench = "group_fanout";
        spec.mechanism = mechanism;
        spec.payload_bytes = payload;
        spec.where = unpinned();
        spec.with_peer = false; // the publisher starts its own subscriber processes
        spec.params.set("subscribers", subscribers).set("events", events_of(payload));
        spec.budget = 60s;
        out.add(run_pair(spec));
      }
  }
  out.note("group_fanout: one publisher (a scoped_actor on its own thread) sends events "
           "(int32 seq + a string, payload_bytes in all; from 1 MiB on int32 seq + a "
           "shmbus::bus::shared_buffer that the publisher fills per event, from the bus's "
           "pool on shmbus (the event crosses as a handle, written once whatever the number "
           "of subscribers; pool_waits: tries that found every block in flight), bytes on "
           "the heap elsewhere) to a group whose `subscribers` "
           "actors are spread over up to 3 other processes (1: one process; 4: 2+1+1; "
           "16: 6+5+5); caf-inprocess keeps them in the publisher's process. msgs_per_s: "
           "events delivered to all subscribers per second, from the first send to the "
           "last arrival; publish_us_per_event: CPU of the publishing thread per event; "
           "cpu_us_per_event: CPU of the whole publishing process per event (its bus I/O "
           "or CAF's network threads included; waiting for room in a full inbox counts "
           "too). shmbus: `shmbus` groups, one record per subscribed process "
           "(records_per_event, warm-up messages included, from node::groups()); caf-tcp: publish_local_groups / remote_group over "
           "127.0.0.1. Processes unpinned.");
}

} // namespace shmbus::bench
