// The tables tools read from a segment: the supervision table and the group
// summary (rows owned by a node incarnation) and the distinct-error log
// (entries that outlive their reporter). Real segments; scribbled words must be left out or shown
// bounded, never trusted.
#include <doctest/doctest.h>

#include "bus_fixture.hpp"
#include "shmbus/transport/error_log.hpp"
#include "shmbus/transport/group_summary_table.hpp"
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

TEST_CASE("a node's group summary rows are listed until released and are bounded per slot") {
  table_fixture fx{"groups-rows"};
  group_summary_table table{fx.seg()};
  auto slot = fx.server->slot();
  auto inc = fx.server->incarnation();
  auto first = table.claim(slot, inc);
  REQUIRE(first);
  group_summary_row row;
  row.name = "blocks";
  row.local_subscribers = 3;
  row.published = 5;
  row.records_out = 10;
  row.records_in = 2;
  REQUIRE_FALSE(table.write(slot, inc, *first, row));
  auto listed = table.list();
  REQUIRE(listed.rows.size() == 1);
  CHECK(listed.rows[0].name == "blocks");
  CHECK(listed.rows[0].owner_slot == slot);
  CHECK(listed.rows[0].owner_incarnation == inc);
  CHECK(listed.rows[0].local_subscribers == 3);
  CHECK(listed.rows[0].records_out == 10);
  CHECK_FALSE(listed.rows[0].name_cut);
  CHECK(listed.problems.empty());
  // A long name is cut and says so.
  row.name = std::string(100, 'x');
  REQUIRE_FALSE(table.write(slot, inc, *first, row));
  listed = table.list();
  REQUIRE(listed.rows.size() == 1);
  CHECK(listed.rows[0].name == std::string(group_summary_name_bytes - 1, 'x'));
  CHECK(listed.rows[0].name_cut);
  // Another incarnation cannot write it.
  CHECK(table.write(slot, inc + 1, *first, row).code == errc::invalid_argument);
  // Bounded: every row of the slot, then group_summary_full.
  for (uint32_t i = 1; i < group_rows_per_node; ++i)
    REQUIRE(table.claim(slot, inc));
  CHECK(table.claim(slot, inc).err().code == errc::group_summary_full);
  table.release(slot, inc, *first);
  CHECK(table.list().rows.empty()); // the others were claimed, never written
  CHECK(table.claim(slot, inc));
}

TEST_CASE("group summary rows that name another slot or carry garbage are left out and reported") {
  table_fixture fx{"groups-garbage"};
  group_summary_table table{fx.seg()};
  auto slot = fx.server->slot();
  auto inc = fx.server->incarnation();
  group_summary_row row;
  row.name = "blocks";
  // Seven honest rows first (a claim may take a row of a dead owner).
  std::vector<group_summary_entry*> rows;
  for (int i = 0; i < 7; ++i) {
    auto index = table.claim(slot, inc);
    REQUIRE(index);
    REQUIRE_FALSE(table.write(slot, inc, *index, row));
    rows.push_back(&fx.seg().group_row(slot, *index));
  }
  rows[0]->state.store(make_name_state(name_entry_state::valid, slot + 1, 1));
  rows[1]->name.store("bad\x01name");
  rows[2]->name_bytes.store(200);
  rows[3]->reserved.store(1);
  rows[4]->local_subscribers.store(~uint64_t{0});
  rows[5]->state.store(make_name_state(name_entry_state::valid, slot, inc + 7)); // dead owner
  auto listed = table.list();
  REQUIRE(listed.rows.size() == 1);
  CHECK(listed.rows[0].name == "blocks");
  REQUIRE(listed.problems.size() == 5);
  CHECK(listed.problems[0].find("names slot") != std::string::npos);
  CHECK(listed.problems[1].find("unprintable") != std::string::npos);
  CHECK(listed.problems[2].find("claims a name of 200 bytes") != std::string::npos);
  CHECK(listed.problems[3].find("reserved") != std::string::npos);
  CHECK(listed.problems[4].find("subscribers") != std::string::npos);
}
