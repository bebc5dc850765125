// The tables tools read from a segment: the supervision table (rows owned by
// a node incarnation) and the distinct-error log (entries that outlive
// their reporter). Real segments; scribbled words must be left out or shown
// bounded, never trusted.
#include <doctest/doctest.h>

#include "bus_fixture.hpp"
#include "shmbus/transport/error_log.hpp"
#include "shmbus/transport/node.hpp"
#include "shmbus/transport/supervision_table.hpp"

using namespace shmbus;
using namespace shmbus::transport;
using namespace shmbus::test;

namespace {

/// A server node on a bus of its own with small tables.
struct table_fixture {
  explicit table_fixture(const std::string& tag) : bus(tag) {
    node_options opts;
    opts.bus = bus.name;
    opts.role = node_role::server;
    opts.name = "tables";
    opts.limits.node_slots = 2;
    opts.limits.inbox_bytes = limits::min_inbox_bytes;
    opts.limits.max_message_bytes = 64;
    opts.limits.supervision_entries = 3;
    opts.limits.error_entries = 2;
    opts.timing.heartbeat_timeout = std::chrono::seconds{2};
    auto started = node::start(opts);
    REQUIRE_MESSAGE(started, started.err().message);
    server = std::move(*started);
  }

  const segment& seg() const { return server->shared_segment(); }

  error_reporter reporter() const {
    return {server->slot(), server->incarnation(), 4242, "tables"};
  }

  scoped_bus bus;
  std::unique_ptr<node> server;
};

supervision_row child_row(const std::string& name) {
  supervision_row row;
  row.supervisor_id = 7;
  row.supervisor_name = "sup";
  row.position = 0;
  row.child_name = name;
  row.state = supervised_state::running;
  row.pid = 99;
  return row;
}

} // namespace

TEST_CASE("the error log counts a repeated error once, with its first and last time") {
  table_fixture fx{"errlog-count"};
  error_log log{fx.seg()};
  auto first = log.report("bus/kind", "the same text", fx.reporter());
  REQUIRE(first != error_log::no_entry);
  CHECK_EQ(log.report("bus/kind", "the same text", fx.reporter()), first);
  CHECK_EQ(log.report("bus/kind", "the same text", fx.reporter(), first), first);
  auto other = log.report("bus/kind", "another text", fx.reporter(), first);
  CHECK_NE(other, first);
  auto entries = log.list();
  REQUIRE_EQ(entries.size(), 2u);
  CHECK_EQ(entries[first].count, 3u);
  CHECK_EQ(entries[first].kind, "bus/kind");
  CHECK_EQ(entries[first].text, "the same text");
  CHECK_EQ(entries[first].node, "tables");
  CHECK_EQ(entries[first].first_pid, 4242);
  CHECK(entries[first].first_unix_ns > 0);
  CHECK(entries[first].first_unix_ns <= entries[first].last_unix_ns);
  CHECK_EQ(entries[other].count, 1u);
}

TEST_CASE("a full error log counts the errors it cannot keep as dropped") {
  table_fixture fx{"errlog-full"};
  error_log log{fx.seg()};
  log.report("a", "1", fx.reporter());
  log.report("b", "2", fx.reporter());
  CHECK_EQ(log.report("c", "3", fx.reporter()), error_log::no_entry);
  CHECK_EQ(log.dropped(), 1u);
  CHECK_EQ(log.report("a", "1", fx.reporter()), 0u); // known ones still count
}

TEST_CASE("an error entry left half-written by a reporter that is gone is taken again") {
  table_fixture fx{"errlog-stale"};
  // Claimed by an incarnation of slot 1 that never lived.
  fx.seg().error_at(0).state.store(make_name_state(name_entry_state::writing, 1, 77));
  error_log log{fx.seg()};
  CHECK(log.list().empty());
  CHECK_EQ(log.report("k", "t", fx.reporter()), 0u);
  CHECK_EQ(log.list().size(), 1u);
}

TEST_CASE("texts longer than their fields are cut, and match again when repeated") {
  table_fixture fx{"errlog-long"};
  error_log log{fx.seg()};
  std::string text(1000, 'x');
  auto i = log.report("k", text, fx.reporter());
  CHECK_EQ(log.report("k", text, fx.reporter()), i);
  auto entries = log.list();
  REQUIRE_EQ(entries.size(), 1u);
  CHECK_EQ(entries[0].text.size(), error_text_bytes - 1);
  CHECK_EQ(entries[0].count, 2u);
}

TEST_CASE("supervision rows are listed while their owner lives and freed by it") {
  table_fixture fx{"svtable-live"};
  supervision_table table{fx.seg()};
  auto slot = fx.server->slot();
  auto inc = fx.server->incarnation();
  auto a = table.claim(slot, inc);
  auto b = table.claim(slot, inc);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(table.list().empty()); // claimed, not written: nothing to show yet
  REQUIRE_FALSE(table.write(*a, slot, inc, child_row("alpha")));
  REQUIRE_FALSE(table.write(*b, slot, inc, child_row("beta")));
  auto rows = table.list();
  REQUIRE_EQ(rows.size(), 2u);
  CHECK_EQ(rows[0].child_name, "alpha");
  CHECK_EQ(rows[0].owner_slot, slot);
  CHECK_EQ(rows[0].pid, 99);
  // Someone else's write is refused; release frees only the owner's rows.
  CHECK(table.write(*a, slot, inc + 1, child_row("intruder")));
  table.release(*a, slot, inc + 1);
  CHECK_EQ(table.list().size(), 2u);
  table.release(*a, slot, inc);
  CHECK_EQ(table.list().size(), 1u);
}

TEST_CASE("rows of an incarnation that is gone are neither listed nor kept from reuse") {
  table_fixture fx{"svtable-gone"};
  supervision_table table{fx.seg()};
  auto slot = fx.server->slot();
  auto gone = fx.server->incarnation() + 1; // never alive
  for (uint32_t i = 0; i < 3; ++i)
    fx.seg().supervision(i).state.store(make_name_state(name_entry_state::valid, slot, gone));
  CHECK(table.list().empty());
  // The table is full of a dead incarnation's rows: they are taken over.
  auto mine = table.claim(slot, fx.server->incarnation());
  CHECK(mine);
}

TEST_CASE("a scribbled supervision row is shown bounded or left out") {
  table_fixture fx{"svtable-scribble"};
  supervision_table table{fx.seg()};
  auto slot = fx.server->slot();
  auto inc = fx.server->incarnation();
  auto a = table.claim(slot, inc);
  auto b = table.claim(slot, inc);
  auto c = table.claim(slot, inc);
  REQUIRE((a && b && c));
  for (auto i : {*a, *b, *c})
    REQUIRE_FALSE(table.write(i, slot, inc, child_row("row")));
  // An enum value no build writes: listed, named "unknown" by tools.
  fx.seg().supervision(*a).kind.store(99);
  // An owner slot beyond the table: left out.
  fx.seg().supervision(*b).state.store(make_name_state(name_entry_state::valid, 4000, inc));
  // A writer that never finishes (odd version): left out after a few tries.
  fx.seg().supervision(*c).version.store(1);
  auto rows = table.list();
  REQUIRE_EQ(rows.size(), 1u);
  CHECK_EQ(std::string{to_string(rows[0].kind)}, "unknown");
  // A row whose owner slot is out of range belongs to nobody: taken again.
  auto again = table.claim(slot, inc);
  REQUIRE(again);
  CHECK_EQ(*again, *b);
}
