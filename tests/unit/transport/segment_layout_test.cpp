// Pins the binary layout of the segment. If a check here fails you changed
// what other builds read: bump `layout_version` in segment_layout.hpp and
// update the expected values together.
#include <doctest/doctest.h>

#include <cstddef>

#include "shmbus/transport/inbox_ring_data.hpp"
#include "shmbus/transport/name_entry.hpp"
#include "shmbus/transport/node_slot.hpp"
#include "shmbus/transport/segment_layout.hpp"

using namespace shmbus::transport;

TEST_CASE("the segment layout is the one of layout version 1") {
  INFO("the binary layout changed: bump layout_version in segment_layout.hpp");
  CHECK(layout_version == 1);
  CHECK(segment_magic == 0x3130'5355'424d'4853);
  CHECK(offsetof(segment_header, magic) == 0);
  CHECK(offsetof(segment_header, layout_version) == 8);
  CHECK(offsetof(segment_header, segment_bytes) == 16);
  CHECK(offsetof(segment_header, node_slots) == 24);
  CHECK(offsetof(segment_header, inbox_bytes) == 28);
  CHECK(offsetof(segment_header, max_message_bytes) == 32);
  CHECK(offsetof(segment_header, name_entries) == 36);
  CHECK(offsetof(segment_header, node_table_offset) == 40);
  CHECK(offsetof(segment_header, rings_offset) == 56);
  CHECK(offsetof(segment_header, heartbeat_timeout_ns) == 80);
  CHECK(offsetof(segment_header, bus_name) == 104);
  CHECK(offsetof(segment_header, membership_epoch) == 192);
  CHECK(offsetof(segment_header, names_epoch) == 256);

  CHECK(sizeof(node_slot) == 512);
  CHECK(offsetof(node_slot, state) == 0);
  CHECK(offsetof(node_slot, pid) == 8);
  CHECK(offsetof(node_slot, process_start) == 16);
  CHECK(offsetof(node_slot, name) == 64);
  CHECK(offsetof(node_slot, user_data) == 128);
  CHECK(offsetof(node_slot, heartbeat_ns) == 192);
  CHECK(offsetof(node_slot, loss_cause) == 200);
  CHECK(offsetof(node_slot, msgs_out) == 256);
  CHECK(offsetof(node_slot, msgs_in) == 320);

  CHECK(sizeof(name_entry) == 128);
  CHECK(offsetof(name_entry, version) == 24);
  CHECK(offsetof(name_entry, name) == 64);

  CHECK(offsetof(ring_control, head) == 0);
  CHECK(offsetof(ring_control, tail) == 64);
  CHECK(offsetof(ring_control, head_cache) == 72);
  CHECK(offsetof(ring_control, consumer_parked) == 128);
  CHECK(offsetof(ring_control, space_seq) == 192);
  CHECK(offsetof(ring_control, initialized) == 256);

  CHECK(record::header_bytes == 24);
  CHECK(record::free_tag(4096) == (uint64_t{1} << 63 | 512));
  CHECK(record::make_header(record_kind::data, 64, 5, 3)
        == (uint64_t{1} << 61 | uint64_t{3} << 44 | uint64_t{5} << 32 | 64));
  CHECK(make_state_word(node_state::alive, 7) == (uint64_t{2} << 32 | 7));
  CHECK(make_name_state(name_entry_state::valid, 3, 9)
        == (uint64_t{2} << 62 | uint64_t{3} << 32 | 9));
}

TEST_CASE("segment geometry places every table on its own pages") {
  bus_limits l;
  auto g = compute_geometry(l);
  CHECK(g.node_table_offset == 4096);
  CHECK(g.name_table_offset == 4096 + 64 * 512);
  CHECK(g.rings_offset == g.name_table_offset + 256 * 128);
  CHECK(g.ring_stride == 4096 + (1u << 20));
  CHECK(g.segment_bytes == g.rings_offset + 64 * g.ring_stride);
  CHECK(g.rings_offset % page_bytes == 0);
}
