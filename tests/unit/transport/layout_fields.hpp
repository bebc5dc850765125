// The shared structs of the segment as the compiler lays them out, for the
// layout tests: they compare it with what the headers document and use it
// to name the field behind a byte that differs from the golden image.
#pragma once

#include <cstddef>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "shmbus/transport/error_entry.hpp"
#include "shmbus/transport/group_summary_entry.hpp"
#include "shmbus/transport/inbox_ring_data.hpp"
#include "shmbus/transport/name_entry.hpp"
#include "shmbus/transport/node_slot.hpp"
#include "shmbus/transport/buffer_pool_data.hpp"
#include "shmbus/transport/segment_layout.hpp"
#include "shmbus/transport/supervision_entry.hpp"

namespace shmbus::test {

/// What every layout failure says: other builds read the segment.
inline const std::string bump_remedy
  = "the binary layout changed: bump layout_version in segment_layout.hpp "
    "(other builds read this segment) and record a new golden image with "
    "SHMBUS_RECORD_GOLDEN=1 build/tests/shmbus-test-transport -tc='*golden*'";

/// The whole file at `path`; fails the test if it cannot be read.
inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in, "cannot read " << path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

/// A member of a shared struct: where it is, how many bytes it has.
struct field {
  std::string name;
  size_t offset;
  size_t size;
};

#define SHMBUS_FIELD(type, member)                                              \
  field {                                                                       \
    #member, offsetof(type, member), sizeof(type::member)                       \
  }

/// Every member of the shared structs, where the compiler puts it.
inline const std::map<std::string, std::vector<field>>& compiled_fields() {
  static const std::map<std::string, std::vector<field>> fields{
    {"segment_header",
     {SHMBUS_FIELD(transport::segment_header, magic),
      SHMBUS_FIELD(transport::segment_header, layout_version),
      SHMBUS_FIELD(transport::segment_header, header_bytes),
      SHMBUS_FIELD(transport::segment_header, segment_bytes),
      SHMBUS_FIELD(transport::segment_header, node_slots),
      SHMBUS_FIELD(transport::segment_header, inbox_bytes),
      SHMBUS_FIELD(transport::segment_header, max_message_bytes),
      SHMBUS_FIELD(transport::segment_header, name_entries),
      SHMBUS_FIELD(transport::segment_header, node_table_offset),
      SHMBUS_FIELD(transport::segment_header, name_table_offset),
      SHMBUS_FIELD(transport::segment_header, rings_offset),
      SHMBUS_FIELD(transport::segment_header, ring_stride),
      SHMBUS_FIELD(transport::segment_header, heartbeat_interval_ns),
      SHMBUS_FIELD(transport::segment_header, heartbeat_timeout_ns),
      SHMBUS_FIELD(transport::segment_header, creator_pid),
      SHMBUS_FIELD(transport::segment_header, flags),
      SHMBUS_FIELD(transport::segment_header, created_unix_ns),
      SHMBUS_FIELD(transport::segment_header, bus_name),
      SHMBUS_FIELD(transport::segment_header, membership_epoch),
      SHMBUS_FIELD(transport::segment_header, names_epoch),
      SHMBUS_FIELD(transport::segment_header, supervision_offset),
      SHMBUS_FIELD(transport::segment_header, error_log_offset),
      SHMBUS_FIELD(transport::segment_header, supervision_entries),
      SHMBUS_FIELD(transport::segment_header, error_entries),
      SHMBUS_FIELD(transport::segment_header, pool_offset),
      SHMBUS_FIELD(transport::segment_header, pool_bytes),
      SHMBUS_FIELD(transport::segment_header, pool_max_block),
      SHMBUS_FIELD(transport::segment_header, pool_region_bytes),
      SHMBUS_FIELD(transport::segment_header, pool_holder_entries),
      SHMBUS_FIELD(transport::segment_header, group_summary_offset),
      SHMBUS_FIELD(transport::segment_header, group_rows_per_node)}},
    {"pool_class_info",
     {SHMBUS_FIELD(transport::pool_class_info, block_bytes),
      SHMBUS_FIELD(transport::pool_class_info, data_offset),
      SHMBUS_FIELD(transport::pool_class_info, blocks),
      SHMBUS_FIELD(transport::pool_class_info, first_block)}},
    {"pool_header",
     {SHMBUS_FIELD(transport::pool_header, class_count),
      SHMBUS_FIELD(transport::pool_header, holder_entries),
      SHMBUS_FIELD(transport::pool_header, descriptors_offset),
      SHMBUS_FIELD(transport::pool_header, holders_offset),
      SHMBUS_FIELD(transport::pool_header, data_offset),
      SHMBUS_FIELD(transport::pool_header, total_blocks),
      SHMBUS_FIELD(transport::pool_header, reserved0),
      SHMBUS_FIELD(transport::pool_header, classes),
      SHMBUS_FIELD(transport::pool_header, next_block),
      SHMBUS_FIELD(transport::pool_header, allocations),
      SHMBUS_FIELD(transport::pool_header, exhausted),
      SHMBUS_FIELD(transport::pool_header, refused_handles),
      SHMBUS_FIELD(transport::pool_header, corrupt_words),
      SHMBUS_FIELD(transport::pool_header, released_for_lost)}},
    {"block_descriptor",
     {SHMBUS_FIELD(transport::block_descriptor, word),
      SHMBUS_FIELD(transport::block_descriptor, size)}},
    {"holder_entry",
     {SHMBUS_FIELD(transport::holder_entry, meta),
      SHMBUS_FIELD(transport::holder_entry, block)}},
    {"holder_list_header",
     {SHMBUS_FIELD(transport::holder_list_header, incarnation),
      SHMBUS_FIELD(transport::holder_list_header, reserved0),
      SHMBUS_FIELD(transport::holder_list_header, reserved1)}},
    {"node_slot",
     {SHMBUS_FIELD(transport::node_slot, state),
      SHMBUS_FIELD(transport::node_slot, pid),
      SHMBUS_FIELD(transport::node_slot, role),
      SHMBUS_FIELD(transport::node_slot, process_start),
      SHMBUS_FIELD(transport::node_slot, joined_unix_ns),
      SHMBUS_FIELD(transport::node_slot, reserved0),
      SHMBUS_FIELD(transport::node_slot, name),
      SHMBUS_FIELD(transport::node_slot, user_data),
      SHMBUS_FIELD(transport::node_slot, heartbeat_ns),
      SHMBUS_FIELD(transport::node_slot, loss_cause),
      SHMBUS_FIELD(transport::node_slot, loss_detail),
      SHMBUS_FIELD(transport::node_slot, consumer_tid),
      SHMBUS_FIELD(transport::node_slot, reserved3),
      SHMBUS_FIELD(transport::node_slot, msgs_out),
      SHMBUS_FIELD(transport::node_slot, bytes_out),
      SHMBUS_FIELD(transport::node_slot, send_errors),
      SHMBUS_FIELD(transport::node_slot, full_inbox_waits),
      SHMBUS_FIELD(transport::node_slot, producer_repairs),
      SHMBUS_FIELD(transport::node_slot, msgs_in),
      SHMBUS_FIELD(transport::node_slot, bytes_in),
      SHMBUS_FIELD(transport::node_slot, corrupt_records),
      SHMBUS_FIELD(transport::node_slot, stale_dropped),
      SHMBUS_FIELD(transport::node_slot, skipped_claims),
      SHMBUS_FIELD(transport::node_slot, checksum_failures),
      SHMBUS_FIELD(transport::node_slot, ring_repairs),
      SHMBUS_FIELD(transport::node_slot, bytes_lost),
      SHMBUS_FIELD(transport::node_slot, slot_repairs),
      SHMBUS_FIELD(transport::node_slot, heartbeat_repairs),
      SHMBUS_FIELD(transport::node_slot, false_identities),
      SHMBUS_FIELD(transport::node_slot, stale_heartbeats),
      SHMBUS_FIELD(transport::node_slot, reserved2)}},
    {"name_entry",
     {SHMBUS_FIELD(transport::name_entry, state),
      SHMBUS_FIELD(transport::name_entry, value),
      SHMBUS_FIELD(transport::name_entry, aux),
      SHMBUS_FIELD(transport::name_entry, version),
      SHMBUS_FIELD(transport::name_entry, reserved),
      SHMBUS_FIELD(transport::name_entry, name)}},
    {"ring_control",
     {SHMBUS_FIELD(transport::ring_control, head),
      SHMBUS_FIELD(transport::ring_control, tail),
      SHMBUS_FIELD(transport::ring_control, head_cache),
      SHMBUS_FIELD(transport::ring_control, consumer_parked),
      SHMBUS_FIELD(transport::ring_control, space_seq),
      SHMBUS_FIELD(transport::ring_control, space_waiters),
      SHMBUS_FIELD(transport::ring_control, initialized)}},
    {"supervision_entry",
     {SHMBUS_FIELD(transport::supervision_entry, state),
      SHMBUS_FIELD(transport::supervision_entry, version),
      SHMBUS_FIELD(transport::supervision_entry, supervisor_id),
      SHMBUS_FIELD(transport::supervision_entry, child_actor_id),
      SHMBUS_FIELD(transport::supervision_entry, restarts),
      SHMBUS_FIELD(transport::supervision_entry, updated_unix_ns),
      SHMBUS_FIELD(transport::supervision_entry, pid),
      SHMBUS_FIELD(transport::supervision_entry, position),
      SHMBUS_FIELD(transport::supervision_entry, kind),
      SHMBUS_FIELD(transport::supervision_entry, child_state),
      SHMBUS_FIELD(transport::supervision_entry, supervisor_name),
      SHMBUS_FIELD(transport::supervision_entry, child_name),
      SHMBUS_FIELD(transport::supervision_entry, strategy),
      SHMBUS_FIELD(transport::supervision_entry, last_exit_reason)}},
    {"error_log_header",
     {SHMBUS_FIELD(transport::error_log_header, dropped),
      SHMBUS_FIELD(transport::error_log_header, reserved)}},
    {"error_entry",
     {SHMBUS_FIELD(transport::error_entry, state),
      SHMBUS_FIELD(transport::error_entry, hash),
      SHMBUS_FIELD(transport::error_entry, count),
      SHMBUS_FIELD(transport::error_entry, first_unix_ns),
      SHMBUS_FIELD(transport::error_entry, last_unix_ns),
      SHMBUS_FIELD(transport::error_entry, first_pid),
      SHMBUS_FIELD(transport::error_entry, last_pid),
      SHMBUS_FIELD(transport::error_entry, reserved),
      SHMBUS_FIELD(transport::error_entry, kind),
      SHMBUS_FIELD(transport::error_entry, node),
      SHMBUS_FIELD(transport::error_entry, text)}},
    {"group_summary_entry",
     {SHMBUS_FIELD(transport::group_summary_entry, state),
      SHMBUS_FIELD(transport::group_summary_entry, version),
      SHMBUS_FIELD(transport::group_summary_entry, local_subscribers),
      SHMBUS_FIELD(transport::group_summary_entry, published),
      SHMBUS_FIELD(transport::group_summary_entry, records_out),
      SHMBUS_FIELD(transport::group_summary_entry, undelivered),
      SHMBUS_FIELD(transport::group_summary_entry, records_in),
      SHMBUS_FIELD(transport::group_summary_entry, name_bytes),
      SHMBUS_FIELD(transport::group_summary_entry, reserved),
      SHMBUS_FIELD(transport::group_summary_entry, name)}},
  };
  return fields;
}

#undef SHMBUS_FIELD

} // namespace shmbus::test
