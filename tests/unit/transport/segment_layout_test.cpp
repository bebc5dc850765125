// Pins the binary layout of the segment, which processes of other builds
// read, where the compiler cannot: the offsets and encodings the headers
// *document* (the tables in their comments) are compared with the code, so
// the documentation cannot drift from what other builds rely on. When a
// check fails, fix the comment, or, if the layout changed, bump
// `layout_version` in segment_layout.hpp (segment_image_test.cpp then wants
// a new golden image too).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "shmbus/transport/inbox_ring_data.hpp"
#include "shmbus/transport/name_entry.hpp"
#include "shmbus/transport/node_slot.hpp"
#include "shmbus/transport/segment_layout.hpp"

#include "layout_fields.hpp"

using namespace shmbus::transport;
using namespace shmbus::test;

namespace {

std::string header_text(const std::string& file) {
  return read_text(std::string(SHMBUS_TRANSPORT_INCLUDE_DIR) + "/" + file);
}

/// The members of `struct name` in a header, each with the offset its
/// trailing comment states ("// 64" or "// 64: why"); nullopt if none.
std::vector<std::pair<std::string, std::optional<size_t>>>
documented_fields(const std::string& text, const std::string& name) {
  std::regex opening("struct\\s+(alignas\\([^)]*\\)\\s+)?" + name + "\\s*\\{");
  std::smatch m;
  REQUIRE_MESSAGE(std::regex_search(text, m, opening), "no struct " << name);
  auto body = text.substr(static_cast<size_t>(m.position(0) + m.length(0)));
  body = body.substr(0, body.find("\n};"));
  std::regex member(R"(^\s*(alignas\([^)]*\)\s*)?[\w:<>, ]+\s+(\w+)\s*(\[[^\]]*\])?\s*;\s*(//\s*(\d+)\b)?)");
  std::vector<std::pair<std::string, std::optional<size_t>>> result;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    std::smatch f;
    if (line.find("//") == line.find_first_not_of(" \t") || !std::regex_search(line, f, member))
      continue;
    std::optional<size_t> offset;
    if (f[5].matched)
      offset = std::stoul(f[5].str());
    result.emplace_back(f[2].str(), offset);
  }
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

/// The first number after `pattern` (a regex with one group) in `text`.
uint64_t documented_number(const std::string& text, const std::string& pattern) {
  std::smatch m;
  REQUIRE_MESSAGE(std::regex_search(text, m, std::regex(pattern)),
                  "the header comment no longer says /" << pattern << "/");
  return std::stoull(m[1].str());
}

} // namespace

TEST_CASE("the offsets the layout headers document are where the compiler puts the fields") {
  check_documented_offsets("segment_layout.hpp", "segment_header");
  check_documented_offsets("node_slot.hpp", "node_slot");
  check_documented_offsets("name_entry.hpp", "name_entry");
  check_documented_offsets("inbox_ring_data.hpp", "ring_control");
}

TEST_CASE("the segment table in segment_layout.hpp matches the sizes of the code") {
  auto text = header_text("segment_layout.hpp");
  INFO(bump_remedy);
  CHECK(documented_number(text, R"(//\s+0\s+(\d+)\s+segment_header)") == page_bytes);
  CHECK(sizeof(segment_header) <= page_bytes);
  CHECK(documented_number(text, R"(node_slots \* (\d+)\s+node_slot\[)") == sizeof(node_slot));
  CHECK(documented_number(text, R"(name_entries \* (\d+)\s+name_entry\[)")
        == sizeof(name_entry));
  CHECK(documented_number(text, R"(ring_control \((\d+)\))") == ring_control_bytes);
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
    CHECK(g.segment_bytes == g.rings_offset + slots * g.ring_stride);
  }
}

TEST_CASE("the word encodings the headers document are the ones the code writes") {
  INFO(bump_remedy);
  // inbox_ring_data.hpp: "header  bit 63 = 0 | kind (2) | producer
  // incarnation (17) | producer slot (12) | record length in bytes (32)",
  // fields from the top bit down.
  auto ring_doc = header_text("inbox_ring_data.hpp");
  auto kind_bits = documented_number(ring_doc, R"(bit 63 = 0 \| kind \((\d+)\))");
  auto incarnation_bits = documented_number(ring_doc, R"(producer incarnation \((\d+)\))");
  auto slot_bits = documented_number(ring_doc, R"(producer slot \((\d+)\))");
  auto length_bits = documented_number(ring_doc, R"(record length in bytes \((\d+)\))");
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
  CHECK(documented_number(ring_doc, R"(free tag\s+bit (\d+) = 1)") == 63);
  CHECK(record::free_tag(8 * 12345) == (uint64_t{1} << 63 | 12345));
  // "[header word][payload bytes u32 | destination incarnation u32][position u64]"
  CHECK(record::header_bytes == 3 * sizeof(uint64_t));
  // node_slot.hpp: "State word: high 32 bits state, low 32 bits incarnation."
  auto slot_doc = header_text("node_slot.hpp");
  CHECK(documented_number(slot_doc, R"(State word: high (\d+) bits state)") == 32);
  CHECK(make_state_word(node_state::dead, 0xdeadbeef)
        == (uint64_t{static_cast<uint32_t>(node_state::dead)} << 32 | 0xdeadbeef));
  // name_entry.hpp: "state (2 bits) << 62 | owner slot (12 bits) << 32 | incarnation"
  auto name_doc = header_text("name_entry.hpp");
  CHECK(documented_number(name_doc, R"(state \(2 bits\) << (\d+))") == 62);
  CHECK(documented_number(name_doc, R"(owner slot \((\d+) bits\))") == 12);
  CHECK(make_name_state(name_entry_state::valid, 0xfff, 7)
        == (uint64_t{static_cast<uint32_t>(name_entry_state::valid)} << 62
            | uint64_t{0xfff} << 32 | 7));
}
