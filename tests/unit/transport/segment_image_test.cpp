// Pins the bytes of a segment: a fixed scenario (known limits and timing, a
// known client joining, sending and leaving, a published name) run by this
// build must leave the segment byte for byte as the golden image recorded
// for its layout version says, apart from pids, clocks and the bus name.
// The compiler cannot see a changed encoding, field order or constant that
// keeps every size and offset; other builds reading the segment would. When
// the image differs: bump `layout_version` in segment_layout.hpp and record
// the image of the new version.
#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "shmbus/transport/error_log.hpp"
#include "shmbus/transport/node.hpp"
#include "shmbus/transport/group_summary_table.hpp"
#include "shmbus/transport/supervision_table.hpp"

#include "bus_fixture.hpp"
#include "layout_fields.hpp"

using namespace shmbus;
using namespace shmbus::transport;
using namespace shmbus::test;

namespace {

/// A stretch of the segment that the golden image holds.
struct region {
  std::string name; ///< e.g. "node_slot[1]"
  std::string type; ///< key of compiled_fields(), or "inbox"
  size_t offset;    ///< from the start of the segment
  size_t bytes;
  /// Bytes that differ from run to run (pids, clocks, the bus name) or
  /// mean nothing (what is left of a free tag after a short payload).
  std::vector<field> varying;
};

/// Bytes of each inbox buffer in the image: the scenario's records and the
/// free tags after them.
constexpr size_t inbox_bytes_in_image = 128;
constexpr size_t bytes_per_line = 16;

std::vector<field> fields_named(const std::string& type,
                                std::initializer_list<const char*> names) {
  std::vector<field> result;
  for (auto name : names)
    for (auto& f : compiled_fields().at(type))
      if (f.name == name)
        result.push_back(f);
  return result;
}

/// The server's inbox (slot 0) holds the scenario's message, then the
/// client's goodbye: one byte of payload, the rest of its word is left as
/// it was.
field goodbye_padding(size_t message_bytes) {
  auto payload = record::record_bytes(message_bytes) + record::header_bytes;
  return field{"goodbye padding", payload + 1, record::alignment - 1};
}

std::vector<region> image_regions(const segment& seg, size_t message_bytes) {
  auto g = compute_geometry(seg.limits());
  std::vector<region> result;
  result.push_back({"segment_header", "segment_header", 0, sizeof(segment_header),
                    fields_named("segment_header",
                                 {"creator_pid", "created_unix_ns", "bus_name"})});
  auto slot_varying
    = fields_named("node_slot", {"pid", "process_start", "joined_unix_ns", "heartbeat_ns",
                               "consumer_tid"});
  for (uint32_t i = 0; i < seg.node_slots(); ++i)
    result.push_back({"node_slot[" + std::to_string(i) + "]", "node_slot",
                      g.node_table_offset + i * sizeof(node_slot), sizeof(node_slot),
                      slot_varying});
  for (uint32_t i = 0; i < seg.limits().name_entries; ++i)
    result.push_back({"name_entry[" + std::to_string(i) + "]", "name_entry",
                      g.name_table_offset + i * sizeof(name_entry), sizeof(name_entry),
                      {}});
  for (uint32_t i = 0; i < seg.node_slots(); ++i) {
    auto ring = g.rings_offset + i * g.ring_stride;
    result.push_back({"ring_control[" + std::to_string(i) + "]", "ring_control", ring,
                      sizeof(ring_control), {}});
    std::vector<field> varying;
    if (i == 0)
      varying.push_back(goodbye_padding(message_bytes));
    result.push_back({"inbox[" + std::to_string(i) + "]", "inbox",
                      ring + ring_control_bytes, inbox_bytes_in_image, varying});
  }
  for (uint32_t i = 0; i < seg.limits().supervision_entries; ++i)
    result.push_back({"supervision_entry[" + std::to_string(i) + "]", "supervision_entry",
                      g.supervision_offset + i * sizeof(supervision_entry),
                      sizeof(supervision_entry),
                      fields_named("supervision_entry", {"updated_unix_ns"})});
  result.push_back({"error_log_header", "error_log_header", g.error_log_offset,
                    sizeof(error_log_header), {}});
  for (uint32_t i = 0; i < seg.limits().error_entries; ++i)
    result.push_back({"error_entry[" + std::to_string(i) + "]", "error_entry",
                      g.error_log_offset + sizeof(error_log_header) + i * sizeof(error_entry),
                      sizeof(error_entry),
                      fields_named("error_entry", {"first_unix_ns", "last_unix_ns"})});
  for (uint32_t i = 0; i < seg.node_slots(); ++i)
    for (uint32_t j = 0; j < group_rows_per_node; ++j)
      result.push_back({"group_summary_entry[" + std::to_string(i) + "][" + std::to_string(j)
                          + "]",
                        "group_summary_entry",
                        g.group_summary_offset
                          + (uint64_t{i} * group_rows_per_node + j) * sizeof(group_summary_entry),
                        sizeof(group_summary_entry), {}});
  return result;
}

/// One region as text tokens: two hex digits per byte, ".." where it varies.
std::vector<std::string> dump(const segment& seg, const region& r) {
  auto* base = reinterpret_cast<const std::byte*>(&seg.header());
  std::vector<std::string> tokens;
  // Word by word with atomic loads: the liveness threads write heartbeats
  // meanwhile (masked, but a plain memcpy would still be a data race).
  for (size_t at = 0; at < r.bytes; at += sizeof(uint64_t)) {
    auto word = __atomic_load_n(reinterpret_cast<const uint64_t*>(base + r.offset + at),
                                __ATOMIC_RELAXED);
    unsigned char bytes[sizeof(word)];
    std::memcpy(bytes, &word, sizeof(word));
    for (auto b : bytes) {
      char hex[3];
      std::snprintf(hex, sizeof(hex), "%02x", b);
      tokens.push_back(hex);
    }
  }
  for (auto& f : r.varying)
    for (size_t i = 0; i < f.size; ++i)
      tokens[f.offset + i] = "..";
  return tokens;
}

/// The image as a file: a region line, then lines of 16 bytes; lines of
/// zeros are left out.
std::string image_text(const std::vector<region>& regions,
                       const std::vector<std::vector<std::string>>& dumps) {
  std::ostringstream out;
  out << "# Golden image of a shmbus segment, layout version " << layout_version
      << ", in native (little-endian) byte order.\n"
         "# Written by the scenario in tests/unit/transport/segment_image_test.cpp;\n"
         "# '..' marks bytes that vary from run to run or mean nothing; lines not\n"
         "# listed are zero.\n"
         "# Record a new one only together with a layout_version bump:\n"
         "#   SHMBUS_RECORD_GOLDEN=1 build/tests/shmbus-test-transport -tc='*golden*'\n";
  for (size_t i = 0; i < regions.size(); ++i) {
    auto& r = regions[i];
    out << "region " << r.name << " " << r.offset << " " << r.bytes << "\n";
    for (size_t line = 0; line < r.bytes; line += bytes_per_line) {
      bool zero = true;
      std::string text;
      for (size_t b = line; b < line + bytes_per_line && b < r.bytes; ++b) {
        zero = zero && dumps[i][b] == "00";
        text += " " + dumps[i][b];
      }
      if (!zero) {
        char offset[24];
        std::snprintf(offset, sizeof(offset), "%04zx", line);
        out << offset << " " << text << "\n";
      }
    }
  }
  return out.str();
}

struct golden_region {
  size_t offset = 0;
  size_t bytes = 0;
  std::vector<std::string> tokens; ///< "00" where the file lists no line
};

std::map<std::string, golden_region> parse_image(const std::string& text) {
  std::map<std::string, golden_region> result;
  golden_region* current = nullptr;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#')
      continue;
    std::istringstream words(line);
    std::string first;
    words >> first;
    if (first == "region") {
      std::string name;
      golden_region r;
      words >> name >> r.offset >> r.bytes;
      r.tokens.assign(r.bytes, "00");
      current = &(result[name] = std::move(r));
      continue;
    }
    REQUIRE_MESSAGE(current != nullptr, "golden image: bytes before any region: " << line);
    auto at = std::stoul(first, nullptr, 16);
    for (std::string token; words >> token && at < current->bytes; ++at)
      current->tokens[at] = token;
  }
  return result;
}

/// The field of `type` that holds byte `at`, for messages.
std::string field_at(const std::string& type, size_t at) {
  auto it = compiled_fields().find(type);
  if (it == compiled_fields().end())
    return "";
  for (auto& f : it->second)
    if (at >= f.offset && at < f.offset + f.size)
      return "." + f.name;
  return ".<padding>";
}

std::string golden_path() {
  return std::string(SHMBUS_TEST_DATA_DIR) + "/golden/segment_layout_v"
         + std::to_string(layout_version) + ".txt";
}

} // namespace

TEST_CASE("a segment written by this build is byte for byte the golden image of its layout version") {
  // The scenario: a server with known limits and timing, a client that
  // joins, sends one message, and leaves (a goodbye record); the server
  // publishes one name, one supervision row, one group summary row and one
  // error (twice). Nobody consumes, so both records stay in the inbox.
  test::scoped_bus bus{"golden"};
  node_options server_options;
  server_options.bus = bus.name;
  server_options.role = node_role::server;
  server_options.name = "golden-server";
  server_options.limits.node_slots = 2;
  server_options.limits.inbox_bytes = limits::min_inbox_bytes;
  server_options.limits.max_message_bytes = 1024;
  server_options.limits.name_entries = 2;
  server_options.limits.supervision_entries = 2;
  server_options.limits.error_entries = 2;
  // Long, so that no liveness round runs while the client comes and goes.
  server_options.timing.heartbeat_interval = std::chrono::seconds{5};
  server_options.timing.heartbeat_timeout = std::chrono::seconds{30};
  for (size_t i = 0; i < limits::max_user_data_bytes; ++i)
    server_options.user_data.push_back(static_cast<std::byte>(i + 1));
  auto server = node::start(server_options);
  REQUIRE_MESSAGE(server, server.err().message);
  node_options client_options;
  client_options.bus = bus.name;
  client_options.name = "golden-client";
  client_options.user_data = {std::byte{0xc1}, std::byte{0xc2}, std::byte{0xc3}};
  auto client = node::start(client_options);
  REQUIRE_MESSAGE(client, client.err().message);
  const std::string message = "golden!!"; // whole words: no stale padding
  auto sent = (*client)->send(0, (*server)->incarnation(), message.data(), message.size());
  REQUIRE_MESSAGE(!sent, sent.message);
  auto published = (*server)->publish("golden.name", 0x1122334455667788, 0x99aabbccddeeff00);
  REQUIRE_MESSAGE(!published, published.message);
  // One supervisor row and one error reported twice.
  supervision_table table{(*server)->shared_segment()};
  auto row_index = table.claim(0, (*server)->incarnation());
  REQUIRE(row_index);
  supervision_row row;
  row.supervisor_id = 0x0102030405060708;
  row.supervisor_name = "golden-sup";
  row.position = 1;
  row.child_name = "golden-child";
  row.kind = supervised_kind::supervisor;
  row.state = supervised_state::restarting;
  row.pid = 4242;
  row.restarts = 3;
  row.child_actor_id = 0x1112131415161718;
  row.strategy = "one_for_all";
  row.last_exit_reason = "golden reason";
  REQUIRE_FALSE(table.write(*row_index, 0, (*server)->incarnation(), row));
  // One group summary row (its second: the first claimed, then freed).
  group_summary_table groups{(*server)->shared_segment()};
  auto first_group = groups.claim(0, (*server)->incarnation());
  REQUIRE(first_group);
  auto group_index = groups.claim(0, (*server)->incarnation());
  REQUIRE(group_index);
  groups.release(0, (*server)->incarnation(), *first_group);
  group_summary_row group;
  group.name = "golden.group";
  group.local_subscribers = 0x21;
  group.published = 0x2223242526272829;
  group.records_out = 0x3132333435363738;
  group.undelivered = 0x41;
  group.records_in = 0x5152535455565758;
  REQUIRE_FALSE(groups.write(0, (*server)->incarnation(), *group_index, group));
  error_log errors{(*server)->shared_segment()};
  error_reporter reporter{0, (*server)->incarnation(), 4242, "golden-server"};
  auto entry = errors.report("golden/kind", "golden text", reporter);
  REQUIRE(entry != error_log::no_entry);
  REQUIRE(errors.report("golden/kind", "golden text", reporter, entry) == entry);
  (*client)->leave();

  auto& seg = (*server)->shared_segment();
  CHECK(std::string(seg.header().bus_name) == bus.name); // masked in the image
  auto regions = image_regions(seg, message.size());
  std::vector<std::vector<std::string>> dumps;
  for (auto& r : regions)
    dumps.push_back(dump(seg, r));

  if (std::getenv("SHMBUS_RECORD_GOLDEN") != nullptr) {
    std::ofstream out(golden_path());
    out << image_text(regions, dumps);
    REQUIRE_MESSAGE(out, "cannot write " << golden_path());
    MESSAGE("recorded " << golden_path());
    return;
  }
  std::ifstream in(golden_path());
  REQUIRE_MESSAGE(in, "there is no golden image for layout version "
                        << layout_version << " (" << golden_path() << "): if you bumped "
                        "layout_version, record one with SHMBUS_RECORD_GOLDEN=1");
  auto golden = parse_image(read_text(golden_path()));
  std::vector<std::string> differences;
  for (size_t i = 0; i < regions.size(); ++i) {
    auto& r = regions[i];
    auto it = golden.find(r.name);
    if (it == golden.end() || it->second.offset != r.offset || it->second.bytes != r.bytes) {
      differences.push_back(r.name + " is at " + std::to_string(r.offset) + " with "
                            + std::to_string(r.bytes) + " bytes, not where the image has it");
      continue;
    }
    // One line per differing field: where, what the image says, what we wrote.
    std::string last_field;
    for (size_t b = 0; b < r.bytes; ++b) {
      auto& expected = it->second.tokens[b];
      if (expected == ".." || expected == dumps[i][b])
        continue;
      auto where = r.name + field_at(r.type, b);
      if (where == last_field)
        continue;
      last_field = where;
      differences.push_back(where + " (byte " + std::to_string(b) + "): image "
                            + expected + ", this build " + dumps[i][b]);
    }
  }
  std::string report;
  for (size_t i = 0; i < differences.size() && i < 30; ++i)
    report += "\n  " + differences[i];
  CHECK_MESSAGE(differences.empty(), differences.size()
                                       << " differences from " << golden_path() << ":"
                                       << report << "\n" << bump_remedy);
}
