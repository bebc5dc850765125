// Shared buffers across processes: one buffer read by three receiver
// processes from the pool, senders and receivers killed with SIGKILL at
// every stage without leaking a block, round trips through an in-process
// receiver and through CAF's TCP networking (BASP), forged handles refused
// and a process scribbling the pool's words not taking honest ones down; a
// group event holding a buffer reaching three subscriber processes as the
// same pool bytes.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <sstream>

#include <caf/io/middleman.hpp>

#include "shmbus/bus/group_view.hpp"
#include "shmbus/bus/shared_buffer.hpp"
#include "shmbus/transport/buffer_pool.hpp"
#include "shmbus/transport/node.hpp"
#include "shmbus/transport/segment.hpp"
#include "role_helpers.hpp"
#include "test_types.hpp"
#include "text.hpp"
#include "wait.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

using drop_atom = caf::atom_constant<caf::atom("drop")>;

/// What a receiver says of the last buffer it got: size, edge sum, in pool.
using buffer_facts = std::tuple<uint64_t, uint64_t, bool>;

/// Sum of the first and last 64 bytes (what a real receiver would touch).
uint64_t edge_sum(caf::span<const std::byte> bytes) {
  uint64_t sum = 0;
  auto n = std::min<size_t>(64, bytes.size());
  for (size_t i = 0; i < n; ++i)
    sum += std::to_integer<uint64_t>(bytes[i])
           + std::to_integer<uint64_t>(bytes[bytes.size() - 1 - i]);
  return sum;
}

void fill_pattern(caf::span<std::byte> bytes) {
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<std::byte>((i * 7 + 3) & 0xff);
}

/// Holds every buffer it gets; get_atom tells about the last one.
struct reader_state {
  std::vector<bus::shared_buffer> held;
};

caf::behavior reader_impl(caf::stateful_actor<reader_state>* self) {
  return {
    [=](const bus::shared_buffer& b) {
      self->state.held.push_back(b);
      return buffer_facts{b.size(), edge_sum(b.bytes()), b.in_pool()};
    },
    [=](caf::get_atom) {
      if (self->state.held.empty())
        return buffer_facts{0, 0, false};
      auto& b = self->state.held.back();
      return buffer_facts{b.size(), edge_sum(b.bytes()), b.in_pool()};
    },
    [=](drop_atom) { self->state.held.clear(); },
  };
}

/// A reader that joins group `g`.
caf::behavior group_reader_impl(caf::stateful_actor<reader_state>* self, caf::group g) {
  self->join(g);
  return reader_impl(self);
}

/// Pool use as the server's mapping shows it.
transport::pool_usage usage_of(const bus::node& node) {
  return transport::buffer_pool::usage(node.transport_node().shared_segment());
}

bool pool_at_baseline(const bus::node& node) {
  auto u = usage_of(node);
  return u.used_blocks() == 0 && u.holders.empty();
}

std::string describe(const transport::pool_usage& u) {
  std::ostringstream out;
  out << u.used_blocks() << " blocks in use;";
  for (auto& h : u.holders)
    out << " slot " << h.slot << ": " << h.held << " held, " << h.inflight << " in flight;";
  return out.str();
}

/// The facts reader `r` reports, waiting up to 5 s for it to hold a buffer.
std::optional<buffer_facts> facts_of(caf::scoped_actor& self, const caf::actor& r) {
  std::optional<buffer_facts> result;
  wait_until(
    [&] {
      self->request(r, 1s, caf::get_atom::value)
        .receive([&](uint64_t size, uint64_t sum, bool in_pool) {
                   if (size > 0)
                     result = buffer_facts{size, sum, in_pool};
                 },
                 [](caf::error&) {});
      return result.has_value();
    },
    5s);
  return result;
}

constexpr uint64_t buffer_size = 300000;

/// A server with a pool, three reader processes and what they publish.
struct three_readers {
  explicit three_readers(const std::string& tag) : bus(tag) {
    for (int i = 1; i <= 3; ++i) {
      readers.push_back(child_process::spawn("buf-reader", {bus.name, "r" + std::to_string(i)}));
      await_ready(readers.back());
    }
  }

  void kill_all_and_wait_for_baseline() {
    for (auto& r : readers)
      if (!r.reaped())
        r.signal(SIGKILL);
    bool clean = wait_until([&] { return pool_at_baseline(server.node); }, 10s);
    CHECK_MESSAGE(clean, describe(usage_of(server.node)));
  }

  scoped_bus bus;
  bus_process<test_config> server{bus.name, "server", "srv"};
  std::vector<child_process> readers;
};

} // namespace

TEST_CASE("one buffer reaches three processes as the same pool bytes and is freed by its last holder") {
  three_readers fx{"buf-three"};
  auto sender = child_process::spawn("buf-sender", {fx.bus.name, "send",
                                                    std::to_string(buffer_size)});
  REQUIRE(sender.expect_line("sent", 10s));
  std::vector<std::byte> expected(buffer_size);
  fill_pattern(expected);
  caf::scoped_actor self{*fx.server.sys};
  for (int i = 1; i <= 3; ++i) {
    auto facts = facts_of(self, must_lookup(fx.server.node, "r" + std::to_string(i) + ".reader"));
    REQUIRE(facts);
    CHECK(std::get<0>(*facts) == buffer_size);
    CHECK(std::get<1>(*facts) == edge_sum(expected));
    CHECK(std::get<2>(*facts));
  }
  auto u = usage_of(fx.server.node);
  CHECK(u.used_blocks() == 1);
  CHECK(u.holders.size() == 4); // the sender and three readers
  stop_child(fx.server.node, sender);
  CHECK(usage_of(fx.server.node).used_blocks() == 1);
  for (int i = 1; i <= 3; ++i)
    self->send(must_lookup(fx.server.node, "r" + std::to_string(i) + ".reader"),
               drop_atom::value);
  bool freed = wait_until([&] { return pool_at_baseline(fx.server.node); }, 10s);
  CHECK_MESSAGE(freed, describe(usage_of(fx.server.node)));
  for (auto& r : fx.readers)
    stop_child(fx.server.node, r);
}

TEST_CASE("a sender killed after allocating, while filling or after sending leaves no block behind") {
  for (std::string stage : {"alloc", "fill", "send"}) {
    CAPTURE(stage);
    three_readers fx{"buf-kill-" + stage};
    auto sender = child_process::spawn("buf-sender", {fx.bus.name, stage,
                                                      std::to_string(buffer_size)});
    auto said = stage == "alloc" ? "allocated" : stage == "fill" ? "filling" : "sent";
    REQUIRE(sender.expect_line(said, 10s));
    CHECK(usage_of(fx.server.node).used_blocks() == 1);
    if (stage == "send") {
      caf::scoped_actor self{*fx.server.sys};
      CHECK(facts_of(self, must_lookup(fx.server.node, "r1.reader")));
    }
    sender.signal(SIGKILL);
    if (stage != "send") {
      bool freed = wait_until([&] { return pool_at_baseline(fx.server.node); }, 10s);
      CHECK_MESSAGE(freed, describe(usage_of(fx.server.node)));
    }
    // Receivers that hold it are killed too.
    fx.kill_all_and_wait_for_baseline();
  }
}

TEST_CASE("a receiver killed while a buffer is in flight to it or held by it leaves no block behind") {
  three_readers fx{"buf-inflight"};
  caf::scoped_actor self{*fx.server.sys};
  // r3 does not consume: the buffer stays in flight to it. Nobody in the
  // server watches r3 through a proxy: r3 lives only milliseconds after its
  // join, so the server may first look at its slot after the sender marked
  // it dead, and must report its end all the same (it drops the references
  // in flight to r3 on that report).
  fx.readers[2].signal(SIGSTOP);
  auto sender = child_process::spawn("buf-sender", {fx.bus.name, "send",
                                                    std::to_string(buffer_size)});
  REQUIRE(sender.expect_line("sent", 10s));
  CHECK(facts_of(self, must_lookup(fx.server.node, "r1.reader")));
  CHECK(facts_of(self, must_lookup(fx.server.node, "r2.reader")));
  auto u = usage_of(fx.server.node);
  uint32_t inflight = 0;
  for (auto& h : u.holders)
    inflight += h.inflight;
  CHECK_MESSAGE(inflight == 1, describe(u));
  fx.readers[2].signal(SIGKILL);
  bool dropped = wait_until(
    [&] {
      uint32_t n = 0;
      for (auto& h : usage_of(fx.server.node).holders)
        n += h.inflight;
      return n == 0;
    },
    10s);
  CHECK_MESSAGE(dropped, describe(usage_of(fx.server.node)));
  fx.readers[0].signal(SIGKILL); // holds it
  stop_child(fx.server.node, sender);
  fx.kill_all_and_wait_for_baseline();
}

TEST_CASE("a pool buffer sent to an actor of the same process comes back as the same bytes") {
  scoped_bus bus{"buf-local"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto w = server.node.make_buffer(100000);
  REQUIRE_MESSAGE(w, server.sys->render(w.error()));
  CHECK(w->in_pool());
  fill_pattern(w->bytes());
  auto b = std::move(*w).freeze();
  auto echo = server.sys->spawn([]() -> caf::behavior {
    return {[](const bus::shared_buffer& x) { return x; }};
  });
  exit_on_scope_end guard{echo};
  caf::scoped_actor self{*server.sys};
  bool answered = false;
  self->request(echo, 5s, b)
    .receive(
      [&](const bus::shared_buffer& back) {
        answered = true;
        CHECK(back.data() == b.data()); // not even copied
        CHECK(back == b);
      },
      [&](caf::error& err) { FAIL(server.sys->render(err)); });
  CHECK(answered);
}

TEST_CASE("a pool buffer crosses CAF's TCP networking as its bytes and comes back equal") {
  scoped_bus bus{"buf-basp"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto child = child_process::spawn("buf-basp-echo", {});
  auto line = child.read_line(10s);
  REQUIRE(line);
  REQUIRE_MESSAGE(line->rfind("port ", 0) == 0, *line);
  auto port = static_cast<uint16_t>(std::stoi(line->substr(5)));
  auto echo = server.sys->middleman().remote_actor("127.0.0.1", port);
  REQUIRE_MESSAGE(echo, server.sys->render(echo.error()));
  auto w = server.node.make_buffer(200000);
  REQUIRE(w);
  fill_pattern(w->bytes());
  auto b = std::move(*w).freeze();
  caf::scoped_actor self{*server.sys};
  bool answered = false;
  self->request(*echo, 10s, b)
    .receive(
      [&](const bus::shared_buffer& back) {
        answered = true;
        CHECK_FALSE(back.in_pool()); // bytes from TCP land on the heap
        CHECK(back == b);
      },
      [&](caf::error& err) { FAIL(server.sys->render(err)); });
  CHECK(answered);
  child.signal(SIGTERM);
  auto status = child.wait(10s);
  REQUIRE(status.has_value());
  CHECK_MESSAGE((status->exited && status->code == 0), status->to_string());
}

TEST_CASE("an exhausted pool fails with the remedy, or gives a heap buffer when asked") {
  scoped_bus bus{"buf-exhausted"};
  bus_process<test_config> server{bus.name, "server", "srv", [](test_config& cfg) {
                                    cfg.shmbus.pool_size = 5 * 65536;
                                    cfg.shmbus.pool_max_block = 65536;
                                  }};
  auto first = server.node.make_buffer(65536);
  REQUIRE(first);
  auto second = server.node.make_buffer(65536);
  REQUIRE_FALSE(second);
  CHECK(second.error() == bus::errc::pool_exhausted);
  CHECK(contains(server.sys->render(second.error()), "shmbus.pool-size"));
  auto heap = server.node.make_buffer(65536, bus::buffer_fallback::heap);
  REQUIRE(heap);
  CHECK_FALSE(heap->in_pool());
  CHECK(heap->size() == 65536);
}

TEST_CASE("forged buffer handles are refused and counted, and honest buffers still arrive") {
  scoped_bus bus{"buf-forged"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto sink = server.sys->spawn(reader_impl);
  exit_on_scope_end guard{sink};
  REQUIRE_FALSE(server.node.publish(sink, "srv.sink"));
  auto refused_before = usage_of(server.node).refused_handles;
  auto rejected_before = server.node.rejected_records();
  auto forger = child_process::spawn("buf-forger", {bus.name});
  REQUIRE(forger.expect_line("forged 5", 10s));
  // Its one honest buffer arrives; the five forged handles do not.
  caf::scoped_actor self{*server.sys};
  auto facts = facts_of(self, sink);
  REQUIRE(facts);
  CHECK(std::get<0>(*facts) == 4000);
  CHECK(std::get<2>(*facts));
  bool counted = wait_until([&] { return server.node.rejected_records() >= rejected_before + 5; },
                            5s);
  CHECK(counted);
  // Out of range and the wrong slot fail before the pool; the other three in it.
  CHECK(usage_of(server.node).refused_handles >= refused_before + 3);
  self->send(sink, drop_atom::value);
  stop_child(server.node, forger);
  bool clean = wait_until([&] { return pool_at_baseline(server.node); }, 10s);
  CHECK_MESSAGE(clean, describe(usage_of(server.node)));
}

TEST_CASE("a process scribbling the pool's words does not crash or hang honest processes") {
  scoped_bus bus{"buf-scribble"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  auto reader = child_process::spawn("buf-reader", {bus.name, "r1"});
  await_ready(reader);
  auto r = must_lookup(server.node, "r1.reader");
  auto scribbler = child_process::spawn("pool-scribbler", {bus.name});
  REQUIRE(scribbler.expect_line("scribbling", 10s));
  caf::scoped_actor self{*server.sys};
  int answered = 0;
  int failed = 0;
  auto until = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < until) {
    auto w = server.node.make_buffer(5000 + (answered + failed) % 70000);
    if (!w) {
      ++failed;
      continue;
    }
    fill_pattern(w->bytes());
    self->request(r, 5s, std::move(*w).freeze())
      .receive([&](uint64_t, uint64_t, bool) { ++answered; }, [&](caf::error&) { ++failed; });
    self->send(r, drop_atom::value);
  }
  REQUIRE(scribbler.expect_line("done", 10s));
  MESSAGE(answered << " round trips answered, " << failed << " failed while scribbled");
  // Both processes still serve.
  self->request(r, 5s, caf::get_atom::value)
    .receive([&](uint64_t, uint64_t, bool) {}, [&](caf::error& err) {
      FAIL("the reader no longer answers: " << server.sys->render(err));
    });
  CHECK(answered + failed > 0);
  stop_child(server.node, reader);
}

// args: bus, name. Publishes <name>.reader.
SHMBUS_CHILD_ROLE("buf-reader") {
  child_bus<> p{args.at(0), "client", args.at(1)};
  auto reader = p.sys->spawn(reader_impl);
  p.publish(reader, args.at(1) + ".reader");
  say("ready");
  p.await_stop();
  caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
  return 0;
}

// args: bus, stage, size. alloc: takes a buffer and waits; fill: fills one
// forever; send: fills, freezes and sends one to r1..r3.reader, keeps it.
SHMBUS_CHILD_ROLE("buf-sender") {
  child_bus<> p{args.at(0), "client", "sender"};
  auto stage = args.at(1);
  auto size = std::stoul(args.at(2));
  auto w = p.node.make_buffer(size);
  if (!w) {
    say("error: " + p.sys->render(w.error()));
    return 3;
  }
  if (stage == "alloc") {
    say("allocated");
    p.await_stop();
    return 0;
  }
  if (stage == "fill") {
    say("filling");
    for (uint8_t round = 0;; ++round)
      std::memset(w->data(), round, w->size());
  }
  fill_pattern(w->bytes());
  auto b = std::move(*w).freeze();
  for (int i = 1; i <= 3; ++i) {
    auto r = p.node.lookup("r" + std::to_string(i) + ".reader",
                           caf::timespan{std::chrono::seconds{5}});
    if (!r) {
      say("error: " + p.sys->render(r.error()));
      return 3;
    }
    caf::anon_send(*r, b);
  }
  say("sent");
  p.await_stop();
  return 0;
}

// No bus: publishes an echo over CAF's TCP networking and prints its port.
SHMBUS_CHILD_ROLE("buf-basp-echo") {
  block_stop_signals(); // before CAF starts its threads
  test_config cfg;
  caf::actor_system sys{cfg};
  auto echo = sys.spawn([]() -> caf::behavior {
    return {[](const bus::shared_buffer& x) { return x; }};
  });
  auto port = sys.middleman().publish(echo, 0, "127.0.0.1");
  if (!port) {
    say("error: " + sys.render(port.error()));
    return 3;
  }
  say("port " + std::to_string(*port));
  wait_for_stop_signal(std::chrono::seconds{60}); // the test stops it
  sys.middleman().unpublish(echo, *port);
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  return 0;
}

namespace {

/// A shared_buffer's wire form with whatever fields a forger likes.
struct forged_buffer {
  uint8_t tag = 1;
  uint32_t block = 0;
  uint32_t generation = 0;
  uint32_t sender_slot = 0;
  uint32_t entry = 0;
  uint64_t size = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forged_buffer& x) {
  return f(caf::meta::type_name("forged_buffer"), x.tag, x.block, x.generation, x.sender_slot,
           x.entry, x.size);
}

/// Sends forged_buffer under shared_buffer's name.
struct forger_config : test_config {
  forger_config() {
    add_message_type<forged_buffer>("shmbus::shared_buffer");
  }
};

} // namespace

// args: bus. Sends srv.sink one honest 4000-byte buffer, then five forged
// handles: out of range, another slot's, the wrong generation, its own
// held reference, and the honest one again after it was adopted.
SHMBUS_CHILD_ROLE("buf-forger") {
  child_bus<forger_config> p{args.at(0), "client", "forger"};
  auto sink = p.node.lookup("srv.sink", caf::timespan{std::chrono::seconds{5}});
  if (!sink) {
    say("error: " + p.sys->render(sink.error()));
    return 3;
  }
  auto& tn = p.node.transport_node();
  auto pool = transport::buffer_pool::open(tn.shared_segment(), tn.slot(), tn.incarnation());
  if (!pool) {
    say("error: " + pool.err().message);
    return 3;
  }
  auto ref = (*pool)->allocate(4000);
  if (!ref) {
    say("error: " + ref.err().message);
    return 3;
  }
  (*pool)->seal(*ref);
  auto server = tn.peer(0);
  auto h = (*pool)->export_to(*ref, 0, server ? server->incarnation : 0);
  if (!h) {
    say("error: " + h.err().message);
    return 3;
  }
  auto as_forged = [&](transport::buffer_handle x) {
    return forged_buffer{1, x.block, x.generation, x.sender_slot, x.entry, x.size};
  };
  caf::anon_send(*sink, as_forged(*h));
  auto out_of_range = *h;
  out_of_range.block = 1u << 30;
  auto other_slot = *h;
  other_slot.sender_slot = 0;
  auto wrong_generation = *h;
  wrong_generation.generation += 1;
  auto own_reference = *h;
  own_reference.entry = ref->entry;
  for (auto& x : std::vector<transport::buffer_handle>{out_of_range, other_slot, wrong_generation,
                                                      own_reference, *h})
    caf::anon_send(*sink, as_forged(x));
  (*pool)->release(*ref);
  say("forged 5");
  p.await_stop();
  return 0;
}

// args: bus. Writes random words over the pool's descriptors and holder
// lists for one second.
SHMBUS_CHILD_ROLE("pool-scribbler") {
  auto seg = transport::segment::attach(args.at(0));
  if (!seg) {
    say("error: " + seg.err().message);
    return 3;
  }
  auto& g = seg->pool();
  auto* base = seg->pool_base();
  auto words = (g.data_offset - g.descriptors_offset) / 8;
  auto* first = reinterpret_cast<std::atomic<uint64_t>*>(base + g.descriptors_offset);
  std::mt19937_64 rng{42};
  say("scribbling");
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds{1};
  while (std::chrono::steady_clock::now() < until)
    for (int i = 0; i < 64; ++i)
      first[rng() % words].store(rng(), std::memory_order_relaxed);
  say("done");
  return 0;
}

TEST_CASE("a group event holding a buffer reaches three subscriber processes as the same pool "
          "bytes and the pool returns to its baseline after they release it or are killed") {
  scoped_bus bus{"buf-group"};
  bus_process<test_config> server{bus.name, "server", "srv"};
  std::vector<child_process> readers;
  for (int i = 1; i <= 3; ++i) {
    readers.push_back(child_process::spawn("buf-group-reader", {bus.name, "g" + std::to_string(i)}));
    await_ready(readers.back());
  }
  auto big = server.sys->groups().get(bus::group_module_name, "big");
  REQUIRE(big);
  auto subscribed = [&] {
    for (auto& x : server.node.groups())
      if (x.name == "big")
        return x.processes.size();
    return size_t{0};
  };
  REQUIRE(wait_until([&] { return subscribed() == 3; }, 10s));
  constexpr size_t event_size = size_t{1} << 20;
  auto w = server.node.make_buffer(event_size);
  REQUIRE_MESSAGE(w, server.sys->render(w.error()));
  REQUIRE(w->in_pool());
  fill_pattern(w->bytes());
  auto event = std::move(*w).freeze();
  caf::scoped_actor self{*server.sys};
  self->send(*big, event);
  std::vector<std::byte> expected(event_size);
  fill_pattern(expected);
  for (int i = 1; i <= 3; ++i) {
    auto reader = must_lookup(server.node, "g" + std::to_string(i) + ".reader");
    auto facts = facts_of(self, reader);
    REQUIRE(facts);
    CHECK(std::get<0>(*facts) == event_size);
    CHECK(std::get<1>(*facts) == edge_sum(expected));
    CHECK(std::get<2>(*facts)); // in the pool
  }
  // Each subscriber's buffer is in the pool, and the pool has one block in
  // use, held by all four processes: the publisher's block, no copy.
  auto u = usage_of(server.node);
  CHECK_MESSAGE(u.used_blocks() == 1, describe(u));
  CHECK_MESSAGE(u.holders.size() == 4, describe(u)); // the publisher and three subscribers
  for (auto& x : server.node.groups())
    if (x.name == "big") {
      CHECK(x.records_out == 3);
      CHECK(x.undelivered == 0);
    }
  // g3 is killed holding its reference; the publisher and g1 let go.
  readers[2].signal(SIGKILL);
  REQUIRE(readers[2].wait(10s));
  event = bus::shared_buffer{};
  self->send(must_lookup(server.node, "g1.reader"), drop_atom::value);
  bool one_left = wait_until(
    [&] {
      auto v = usage_of(server.node);
      return v.used_blocks() == 1 && v.holders.size() == 1;
    },
    10s);
  CHECK_MESSAGE(one_left, describe(usage_of(server.node)));
  self->send(must_lookup(server.node, "g2.reader"), drop_atom::value);
  bool freed = wait_until([&] { return pool_at_baseline(server.node); }, 10s);
  CHECK_MESSAGE(freed, describe(usage_of(server.node)));
  stop_child(server.node, readers[0]);
  stop_child(server.node, readers[1]);
}

// args: bus, name. Publishes <name>.reader, a reader that joined group "big".
SHMBUS_CHILD_ROLE("buf-group-reader") {
  child_bus<> p{args.at(0), "client", args.at(1)};
  auto big = p.sys->groups().get(bus::group_module_name, "big");
  if (!big) {
    say("error: " + p.sys->render(big.error()));
    return 3;
  }
  auto reader = p.sys->spawn(group_reader_impl, *big);
  bool joined = wait_until(
    [&] {
      for (auto& x : p.node.groups())
        if (x.name == "big")
          return x.local_subscribers == 1;
      return false;
    },
    std::chrono::seconds{10});
  if (!joined) {
    say("error: the reader did not join");
    return 3;
  }
  p.publish(reader, args.at(1) + ".reader");
  say("ready");
  p.await_stop();
  caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
  return 0;
}
