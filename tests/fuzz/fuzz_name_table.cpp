// libFuzzer target: the published-name table over arbitrary entry bytes
// and node-table states, with publish, unpublish, lookup, list and
// unpublish_all in an order and with names the input chooses. Findings:
// a crash, undefined behaviour, a loop that does not end, or an answer
// naming a slot outside the table.
#include <cstdint>
#include <string>

#include "shmbus/transport/name_table.hpp"
#include "shmbus/transport/node_slot.hpp"
#include "shmbus/transport/segment.hpp"

#include "fuzz_input.hpp"
#include "fuzz_segment.hpp"

using namespace shmbus::transport;
using shmbus::fuzz::fuzz_input;
using shmbus::fuzz::require;

namespace {

constexpr uint32_t slots = 4;
constexpr uint32_t entries = 8;
constexpr int max_steps = 64;

segment& shared_segment() {
  static segment seg = [] {
    bus_limits l;
    l.node_slots = slots;
    l.name_entries = entries;
    l.inbox_bytes = limits::min_inbox_bytes;
    l.max_message_bytes = 1024;
    return shmbus::fuzz::make_segment(l, true);
  }();
  return seg;
}

std::string take_name(fuzz_input& in) {
  auto n = in.take<uint8_t>() % (limits::max_name_length + 4);
  std::string name(n, 'a');
  in.take_bytes(name.data(), n);
  return name;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz_input in{data, size};
  auto& seg = shared_segment();
  // Node states: mostly alive with small incarnations, so names can be owned.
  for (uint32_t i = 0; i < slots; ++i) {
    auto pick = in.take<uint8_t>();
    auto incarnation = static_cast<uint32_t>(pick >> 4);
    uint64_t word = make_state_word(static_cast<node_state>(pick % 6), incarnation);
    if ((pick & 0x8) != 0)
      word = in.take<uint64_t>();
    seg.slot(i).state.store(word);
  }
  // Entries: arbitrary bytes, or left as the last input wrote them.
  if ((in.take<uint8_t>() & 1) != 0) {
    for (uint32_t i = 0; i < entries; ++i) {
      auto* raw = reinterpret_cast<uint64_t*>(&seg.name(i));
      for (size_t w = 0; w < sizeof(name_entry) / 8; ++w)
        __atomic_store_n(raw + w, in.take<uint64_t>(), __ATOMIC_RELAXED);
    }
  }
  name_table names{seg};
  for (int step = 0; step < max_steps && !in.empty(); ++step) {
    auto op = in.take<uint8_t>();
    auto slot = static_cast<uint32_t>(in.take<uint8_t>() % slots);
    auto incarnation = static_cast<uint32_t>(in.take<uint8_t>() % 16);
    switch (op % 5) {
      case 0:
        names.publish(take_name(in), slot, incarnation, in.take<uint64_t>(), 0);
        break;
      case 1:
        names.unpublish(take_name(in), slot, incarnation);
        break;
      case 2:
        if (auto found = names.lookup(take_name(in)))
          require(found->slot < slots);
        break;
      case 3:
        for (auto& n : names.list())
          require(n.slot < slots && !n.name.empty()
                  && n.name.size() <= limits::max_name_length);
        break;
      default:
        names.unpublish_all(slot, incarnation);
        break;
    }
  }
  return 0;
}
