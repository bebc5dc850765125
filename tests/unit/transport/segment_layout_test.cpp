// Pins the binary layout of the segment, which processes of other builds
// read, where the compiler cannot: the offsets and encodings the headers
// *document* (the tables in their comments) are compared with the code, so
// the documentation cannot drift from what other builds rely on. When a
// check fails, fix the comment, or, if the layout changed, bump
// `layout_version` in segment_layout.hpp (segment_image_test.cpp then wants
// a new golden image too).
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "shmbus/transport/error_entry.hpp"
#include "shmbus/transport/group_summary_entry.hpp"
#include "shmbus/transport/inbox_ring_data.hpp"
#include "shmbus/transport/name_entry.hpp"
#include "shmbus/transport/node_slot.hpp"
#include "shmbus/transport/segment_layout.hpp"
#include "shmbus/transport/supervision_entry.hpp"

#include "layout_fields.hpp"

using namespace shmbus::transport;
using namespace shmbus::test;

namespace {

std::string header_text(const std::string& file) {
  return read_text(std::string(SHMBUS_TRANSPORT_INCLUDE_DIR) + "/" + file);
}

/// The members of `struct name` in a header, each with the offset its
/// trailing comment states ("// 64" or "// 64: why"); nullopt if none.
/// Reads our headers' one-member-per-line style, nothing more general.
std::vector<std::pair<std::string, std::optional<size_t>>>
documented_fields(const std::string& text, const std::string& name) {
  std::vector<std::pair<std::string, std::optional<size_t>>> result;
  std::istringstream lines(text);
  bool inside = false;
  for (std::string line; std::getline(lines, line);) {
    if (!inside) {
      inside = line.rfind("struct ", 0) == 0 && line.find(" " + name + " {") != std::string::npos;
      continue;
    }
    if (line.rfind("};", 0) == 0)
      return result;
    auto code = line.substr(0, line.find("//"));
    auto semicolon = code.find(';');
    if (semicolon == std::string::npos)
      continue; // a comment or a blank line
    auto declaration = code.substr(0, code.find('['));
    declaration = declaration.substr(0, std::min(declaration.size(), semicolon));
    auto end = declaration.find_last_not_of(" \t");
    auto begin = declaration.find_last_of(" \t", end) + 1;
    std::optional<size_t> offset;
    auto comment = line.find("//", semicolon);
    if (comment != std::string::npos) {
      auto digits = line.find_first_not_of(' ', comment + 2);
      if (digits != std::string::npos && std::isdigit(static_cast<unsigned char>(line[digits])))
        offset = std::stoul(line.substr(digits));
    }
    result.emplace_back(declaration.substr(begin, end + 1 - begin), offset);
  }
  FAIL("no struct " << name << " that ends in a line '};'");
  return result;
}

void check_documented_offsets(const std::string& file, const std::string& name) {
  auto documented = documented_fields(header_text(file), name);
  auto& compiled = compiled_fields().at(name);
  INFO(file << ", struct " << name);
  std::vector<std::string> doc_names;
  for (auto& [member, offset] : documented) {
    doc_names.push_back(member);
    CHECK_MESSAGE(offset.has_value(),
                  name << "::" << member << " has no offset comment (\"// N\")");
    auto it = std::find_if(compiled.begin(), compiled.end(),
                           [&](const field& x) { return x.name == member; });
    if (it == compiled.end()) {
      FAIL_CHECK(name << "::" << member << " is new to this test: add it to "
                      "compiled_fields(); " << bump_remedy);
      continue;
    }
    if (offset)
      CHECK_MESSAGE(*offset == it->offset,
                    name << "::" << member << " is documented at offset " << *offset
                         << " but the compiler puts it at " << it->offset
                         << ": fix the comment; if the field moved, " << bump_remedy);
  }
  for (auto& x : compiled)
    CHECK_MESSAGE(std::find(doc_names.begin(), doc_names.end(), x.name) != doc_names.end(),
                  name << "::" << x.name << " is gone from " << file << ": " << bump_remedy);
}

/// The number right after the first `prefix` in `text`.
uint64_t number_after(const std::string& text, const std::string& prefix) {
  auto at = text.find(prefix);
  REQUIRE_MESSAGE(at != std::string::npos,
                  "the header comment no longer says \"" << prefix << "\"");
  return std::stoull(text.substr(at + prefix.size()));
}

/// The numbers of the first line of `text` that holds `key`.
std::vector<uint64_t> numbers_in_line(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(key) == std::string::npos)
      continue;
    std::vector<uint64_t> numbers;
    for (size_t at = 0; at < line.size();) {
      if (!std::isdigit(static_cast<unsigned char>(line[at]))
          || (at > 0 && (std::isalnum(static_cast<unsigned char>(line[at - 1])) || line[at - 1] == '_'))) {
        ++at;
        continue;
      }
      size_t used = 0;
      numbers.push_back(std::stoull(line.substr(at), &used));
      at += used;
    }
    return numbers;
  }
  FAIL("the header comment has no line with \"" << key << "\"");
  return {};
}

} // namespace

TEST_CASE("the offsets the layout headers document are where the compiler puts the fields") {
  check_documented_offsets("segment_layout.hpp", "segment_header");
  check_documented_offsets("node_slot.hpp", "node_slot");
  check_documented_offsets("name_entry.hpp", "name_entry");
  check_documented_offsets("inbox_ring_data.hpp", "ring_control");
  check_documented_offsets("supervision_entry.hpp", "supervision_entry");
  check_documented_offsets("error_entry.hpp", "error_log_header");
  check_documented_offsets("error_entry.hpp", "error_entry");
  check_documented_offsets("segment_layout.hpp", "pool_class_info");
  check_documented_offsets("buffer_pool_data.hpp", "pool_header");
  check_documented_offsets("buffer_pool_data.hpp", "block_descriptor");
  check_documented_offsets("buffer_pool_data.hpp", "holder_entry");
  check_documented_offsets("buffer_pool_data.hpp", "holder_list_header");
  check_documented_offsets("group_summary_entry.hpp", "group_summary_entry");
}

TEST_CASE("the segment table in segment_layout.hpp matches the sizes of the code") {
  auto text = header_text("segment_layout.hpp");
  INFO(bump_remedy);
  // "0   4096   segment_header", "node_slots * 512   node_slot[node_slots]", ...
  CHECK(numbers_in_line(text, "  segment_header") == std::vector<uint64_t>{0, page_bytes});
  CHECK(sizeof(segment_header) <= page_bytes);
  CHECK(numbers_in_line(text, "node_slot[node_slots]")
        == std::vector<uint64_t>{sizeof(node_slot)});
  CHECK(numbers_in_line(text, "name_entry[name_entries]")
        == std::vector<uint64_t>{sizeof(name_entry)});
  CHECK(numbers_in_line(text, "ring_control (") == std::vector<uint64_t>{ring_control_bytes});
  CHECK(numbers_in_line(text, "supervision_entry[supervision_entries]")
        == std::vector<uint64_t>{sizeof(supervision_entry)});
  CHECK(numbers_in_line(text, "  error_log_header")
        == std::vector<uint64_t>{sizeof(error_log_header)});
  CHECK(numbers_in_line(text, "error_entry[error_entries]")
        == std::vector<uint64_t>{sizeof(error_entry)});
  CHECK(numbers_in_line(text, "group_summary_entry[")
        == std::vector<uint64_t>{group_rows_per_node, sizeof(group_summary_entry),
                                 group_rows_per_node});
  for (uint32_t slots : {2u, 3u, 64u, 4096u}) {
    bus_limits l;
    l.node_slots = slots;
    l.name_entries = slots + 1;
    auto g = compute_geometry(l);
    CHECK(g.node_table_offset == page_bytes);
    CHECK(g.name_table_offset % page_bytes == 0);
    CHECK(g.name_table_offset >= g.node_table_offset + slots * sizeof(node_slot));
    CHECK(g.rings_offset % page_bytes == 0);
    CHECK(g.rings_offset >= g.name_table_offset + l.name_entries * sizeof(name_entry));
    CHECK(g.ring_stride == align_up(ring_control_bytes + l.inbox_bytes, page_bytes));
    CHECK(g.supervision_offset == g.rings_offset + slots * g.ring_stride);
    CHECK(g.error_log_offset % page_bytes == 0);
    CHECK(g.error_log_offset
          >= g.supervision_offset + l.supervision_entries * sizeof(supervision_entry));
    CHECK(g.pool_offset >= g.error_log_offset + sizeof(error_log_header)
                             + l.error_entries * sizeof(error_entry));
    CHECK(g.group_summary_offset % page_bytes == 0);
    CHECK(g.group_summary_offset >= g.pool_offset + g.pool.pool_bytes);
    CHECK(g.segment_bytes
          >= g.group_summary_offset
               + uint64_t{slots} * group_rows_per_node * sizeof(group_summary_entry));
    CHECK(g.segment_bytes % page_bytes == 0);
  }
}

TEST_CASE("the word encodings the headers document are the ones the code writes") {
  INFO(bump_remedy);
  // inbox_ring_data.hpp: "header  bit 63 = 0 | kind (2) | producer
  // incarnation (17) | producer slot (12) | record length in bytes (32)",
  // fields from the top bit down.
  auto ring_doc = header_text("inbox_ring_data.hpp");
  auto kind_bits = number_after(ring_doc, "bit 63 = 0 | kind (");
  auto incarnation_bits = number_after(ring_doc, "producer incarnation (");
  auto slot_bits = number_after(ring_doc, "producer slot (");
  auto length_bits = number_after(ring_doc, "record length in bytes (");
  CHECK(kind_bits + incarnation_bits + slot_bits + length_bits == 63);
  auto ones = [](uint64_t bits) { return (uint64_t{1} << bits) - 1; };
  auto length_shift = 0;
  auto slot_shift = length_bits;
  auto incarnation_shift = slot_shift + slot_bits;
  auto kind_shift = incarnation_shift + incarnation_bits;
  CHECK(record::make_header(record_kind::claimed, ~0u, 0, 0) == ones(length_bits) << length_shift);
  CHECK(record::make_header(record_kind::claimed, 0, ~0u, 0) == ones(slot_bits) << slot_shift);
  CHECK(record::make_header(record_kind::claimed, 0, 0, ~0u)
        == ones(incarnation_bits) << incarnation_shift);
  CHECK(record::make_header(record_kind::control, 0, 0, 0)
        == uint64_t{static_cast<uint32_t>(record_kind::control)} << kind_shift);
  CHECK(ones(kind_bits) >= static_cast<uint32_t>(record_kind::control));
  // "free tag  bit 63 = 1, bits 0..62 = position / 8"
  CHECK(numbers_in_line(ring_doc, "free tag   bit") == std::vector<uint64_t>{63, 1, 0, 62, 8});
  CHECK(record::free_tag(8 * 12345) == (uint64_t{1} << 63 | 12345));
  // "[header word][payload bytes u32 | destination incarnation u32][position u64]"
  CHECK(record::header_bytes == 3 * sizeof(uint64_t));
  // node_slot.hpp: "State word: high 32 bits state, low 32 bits incarnation."
  auto slot_doc = header_text("node_slot.hpp");
  CHECK(number_after(slot_doc, "State word: high ") == 32);
  CHECK(make_state_word(node_state::dead, 0xdeadbeef)
        == (uint64_t{static_cast<uint32_t>(node_state::dead)} << 32 | 0xdeadbeef));
  // name_entry.hpp: "state (2 bits) << 62 | owner slot (12 bits) << 32 | incarnation"
  auto name_doc = header_text("name_entry.hpp");
  CHECK(number_after(name_doc, "state (2 bits) << ") == 62);
  CHECK(number_after(name_doc, "owner slot (") == 12);
  CHECK(make_name_state(name_entry_state::valid, 0xfff, 7)
        == (uint64_t{static_cast<uint32_t>(name_entry_state::valid)} << 62
            | uint64_t{0xfff} << 32 | 7));
  // supervision_entry.hpp and error_entry.hpp: "encoded as a name_entry's".
  for (auto file : {"supervision_entry.hpp", "error_entry.hpp", "group_summary_entry.hpp"})
    CHECK_MESSAGE(header_text(file).find("encoded as a name_entry's") != std::string::npos,
                  file << " no longer says how its state word is encoded");
  CHECK(supervisor_row_position == 0xffffffff);
  CHECK(static_cast<uint32_t>(supervised_state::restarting) == 2);
  CHECK(static_cast<uint32_t>(supervised_kind::supervisor) == 1);
}
