// libFuzzer target: arbitrary bytes as bus records from another process of
// the bus. A bus server node (the process under test, with an actor that
// answers everything) runs in this process next to a transport node that
// plays a peer with a CAF node id of its own; every input is sent through
// the transport into the server's inbox, as a buggy or hostile process
// would write it, and the fuzzer waits until the server's I/O thread has
// consumed it. Whatever the record, the server must neither crash, nor
// hang, nor grow without bound (run with -rss_limit_mb).
//
// Build and run: tests/fuzz/run (clang-14, ASan + UBSan), as target bus-record;
// every test build replays its corpus (replay_main.cpp).
// SHMBUS_FUZZ_WRITE_SEEDS=DIR writes the seed corpus (valid records of
// every kind and a few forged ones) into DIR and exits.
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "shmbus/bus/config.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/transport/bus_admin.hpp"
#include "shmbus/transport/node.hpp"
#include "shmbus/transport/segment.hpp"

#include "../integration/bus/forged_records.hpp"

namespace {

using namespace std::chrono_literals;
namespace forge = shmbus::test::forge;

/// A peer's records that the harness does not care about (answers,
/// watches): read and dropped so that its inbox never fills.
struct ignore_all : shmbus::transport::inbox_handler {
  void on_message(const shmbus::transport::message_view&) override {}
};

/// Answers every request with its own content and ignores exits and
/// downs, so that forged records cannot end it.
caf::behavior answer_all(caf::event_based_actor* self) {
  self->set_default_handler(caf::reflect);
  self->set_exit_handler([](caf::exit_msg&) {});
  self->set_down_handler([](caf::down_msg&) {});
  self->set_error_handler([](caf::error&) {});
  return {[](int32_t x) { return x; }};
}

struct harness {
  std::string bus;
  shmbus::bus::config cfg;
  caf::actor_system* sys = nullptr;
  shmbus::bus::node node;
  caf::actor target;
  std::unique_ptr<shmbus::transport::node> forger;
  ignore_all ignore;
  uint32_t slot = 0;
  uint32_t incarnation = 0;
  size_t max_size = 0;
  shmbus::transport::inbox_ring ring;

  void drain() {
    while (forger->poll(ignore, 1024) > 0) {
    }
  }
};

harness* the_harness = nullptr;

void remove_bus() {
  if (the_harness != nullptr)
    shmbus::transport::remove_bus(the_harness->bus);
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bus_record_fuzz: %s\n", what.c_str());
  remove_bus();
  std::abort();
}

/// Buses of earlier runs, "fuzz-bus-<pid>" of a pid that is gone: the
/// segment, or its lock and socket files. Every run leaves some: the exit
/// handler cannot remove files of a bus its own live node still holds,
/// and a run that ended by a signal or a finding ran no handler at all.
void remove_stale_buses() {
  auto* dir = ::opendir("/dev/shm");
  if (dir == nullptr)
    return;
  std::set<std::string> stale;
  const std::string prefix = "shmbus-fuzz-bus-";
  while (auto* entry = ::readdir(dir)) {
    std::string name{entry->d_name};
    if (name.rfind(prefix, 0) != 0)
      continue;
    auto pid = std::atoi(name.c_str() + prefix.size());
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH)
      stale.insert("fuzz-bus-" + std::to_string(pid));
  }
  ::closedir(dir);
  for (auto& bus : stale)
    shmbus::transport::remove_bus(bus);
}

harness& setup() {
  // Never destroyed: libFuzzer ends with exit(), and the actor system's
  // shutdown is not what is under test.
  remove_stale_buses();
  auto* h = new harness;
  h->bus = "fuzz-bus-" + std::to_string(::getpid());
  shmbus::transport::remove_bus(h->bus);
  h->cfg.shmbus.bus = h->bus;
  h->cfg.shmbus.role = "server";
  h->cfg.shmbus.node_name = "fuzzed";
  // Nothing here is about liveness: a fuzzer busy elsewhere (merging,
  // minimizing) must not be declared hung.
  h->cfg.shmbus.heartbeat_interval = 1s;
  h->cfg.shmbus.heartbeat_timeout = 3600s;
  h->sys = new caf::actor_system{h->cfg};
  auto started = shmbus::bus::node::start(*h->sys);
  if (!started)
    die("cannot start the bus: " + h->sys->render(started.error()));
  h->node = *started;
  h->target = h->sys->spawn(answer_all);
  if (auto err = h->node.publish(h->target, "target"))
    die("cannot publish: " + h->sys->render(err));
  // The peer: a CAF node id of this machine with a pid no process has.
  auto id = forge::node_bytes(h->sys->node());
  uint32_t fake_pid = 0x7ffffff0;
  std::memcpy(id.data(), &fake_pid, sizeof(fake_pid));
  shmbus::transport::node_options opts;
  opts.bus = h->bus;
  opts.name = "forger";
  opts.kill_hung_peers = false;
  for (auto c : id)
    opts.user_data.push_back(static_cast<std::byte>(c));
  auto forger = shmbus::transport::node::start(opts);
  if (!forger)
    die("cannot start the forging peer: " + forger.err().message);
  h->forger = std::move(*forger);
  auto& transport = h->node.transport_node();
  h->slot = transport.slot();
  h->incarnation = transport.incarnation();
  h->max_size = transport.limits().max_message_bytes;
  h->ring = transport.shared_segment().ring(h->slot);
  the_harness = h;
  std::atexit(remove_bus);
  return *h;
}

void write_file(const std::string& path, const forge::bytes& data) {
  std::ofstream out{path, std::ios::binary};
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

/// Valid records of every kind for the harness's actor, and forged ones.
void write_seeds(harness& h, const std::string& dir) {
  using namespace forge;
  auto& sys = *h.sys;
  auto receiver = h.target.id();
  auto req = [](uint64_t n) { return normal_category | n; };
  std::vector<bytes> seeds;
  seeds.push_back(message_head(receiver, req(1)) + content(sys, caf::make_message(int32_t{21})));
  seeds.push_back(message_head(receiver, normal_category)
                  + content(sys, caf::make_message(std::string{"plain send"})));
  seeds.push_back(message_head(receiver, req(2))
                  + content(sys, caf::make_message(std::vector<std::string>{"a", "b"},
                                                   caf::atom("x"), 1.5, int64_t{-7})));
  // Every flat type (read without CAF's deserializer: flat_message.hpp).
  seeds.push_back(message_head(receiver, normal_category)
                  + content(sys, caf::make_message(caf::atom("ping"), uint64_t{7}, true,
                                                   std::string(130, 'x'))));
  seeds.push_back(message_head(receiver, normal_category)
                  + content(sys, caf::make_message(int8_t{-1}, uint16_t{2}, int32_t{-3},
                                                   uint32_t{4})));
  seeds.push_back(message_head(receiver, req(3))
                  + content(sys, caf::make_message(caf::make_message(int32_t{1}),
                                                   caf::error{caf::sec::runtime_error})));
  seeds.push_back(message_head(receiver, req(4))
                  + content(sys, caf::make_message(caf::config_value{
                                   caf::config_value::list{caf::config_value{int64_t{1}}}})));
  seeds.push_back(message_head(receiver, req(5))
                  + content(sys, caf::make_message(caf::actor_cast<caf::actor>(h.target))));
  seeds.push_back(message_head(receiver, response_flag | req(6))
                  + content(sys, caf::make_message(int32_t{1})));
  {
    // With a stage: the answer goes to the stage.
    auto head = message_head(receiver, req(7));
    head.back() = 1;
    std::vector<caf::strong_actor_ptr> stages{caf::actor_cast<caf::strong_actor_ptr>(h.target)};
    bytes tail;
    caf::binary_serializer sink{sys, tail};
    sink(stages);
    seeds.push_back(head + tail + content(sys, caf::make_message(int32_t{3})));
  }
  {
    // A sender named with its node id.
    bytes head{static_cast<char>(message_kind)};
    put_u64(head, receiver);
    put_u64(head, req(8));
    head.push_back(2);
    put_u64(head, 5);
    head = head + node_bytes(sys.node());
    head.push_back(0);
    seeds.push_back(head + content(sys, caf::make_message(int32_t{4})));
  }
  seeds.push_back(record(watch_kind, u64s({receiver})));
  seeds.push_back(record(down_kind, u64s({9}) + content(sys, caf::make_message(caf::error{}))));
  seeds.push_back(record(link_kind, u64s({receiver, 9})));
  seeds.push_back(record(unlink_kind, u64s({receiver, 9})));
  {
    bytes reason;
    caf::binary_serializer sink{sys, reason};
    caf::error err = caf::exit_reason::user_shutdown;
    sink(err);
    seeds.push_back(record(exit_kind, u64s({receiver, 9}) + node_bytes(sys.node()) + reason));
  }
  seeds.push_back(record(stop_kind));
  seeds.push_back(message_head(receiver, downstream_category | 9)
                  + content(sys, caf::make_message(int32_t{1})));
  seeds.push_back(message_head(receiver, req(10)) + object_header(sys, "@<>+@config_value")
                  + bytes{7, 1, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  for (size_t i = 0; i < seeds.size(); ++i)
    write_file(dir + "/seed-" + std::to_string(i), seeds[i]);
  std::fprintf(stderr, "bus_record_fuzz: wrote %zu seeds into %s\n", seeds.size(), dir.c_str());
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto& h = setup();
  if (auto* dir = std::getenv("SHMBUS_FUZZ_WRITE_SEEDS")) {
    write_seeds(h, dir);
    remove_bus();
    std::_Exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& h = *the_harness;
  if (size == 0 || size > h.max_size)
    return 0;
  for (;;) {
    auto err = h.forger->send(h.slot, h.incarnation, data, size, std::chrono::nanoseconds::zero());
    if (!err)
      break;
    if (err.code != shmbus::transport::errc::inbox_full)
      die("the peer cannot send: " + err.message);
    h.drain();
  }
  // Consumed once the consumer's head has caught up with the tail: it
  // publishes the head when it runs dry, after the record's handler.
  auto until = std::chrono::steady_clock::now() + 10s;
  auto* control = h.ring.control();
  while (control->head.load(std::memory_order_acquire)
         != control->tail.load(std::memory_order_acquire)) {
    h.drain();
    if (std::chrono::steady_clock::now() > until)
      die("the bus did not consume a record within 10 s (a hang)");
    ::sched_yield();
  }
  h.drain();
  return 0;
}
