// libFuzzer target: segment::attach_memfd over a memfd the fuzzer fills,
// either with raw bytes or with an honest segment of limits it chooses and
// bytes it patches; sealed or not, mapped read-write or read-only. When the
// segment is accepted, everything a tool or a joining node reads from it
// is read (slots, names, pool use, group summary, rings). Findings: a
// crash, a read outside the mapping, undefined behaviour, a loop that does
// not end.
#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shmbus/transport/buffer_pool.hpp"
#include "shmbus/transport/group_summary_table.hpp"
#include "shmbus/transport/inbox_reader.hpp"
#include "shmbus/transport/name_table.hpp"
#include "shmbus/transport/peer.hpp"
#include "shmbus/transport/segment.hpp"

#include "fuzz_input.hpp"
#include "fuzz_segment.hpp"

using namespace shmbus::transport;
using shmbus::fuzz::fuzz_input;
using shmbus::fuzz::require;

namespace {

const std::vector<std::byte>& honest_image(const bus_limits& l, bool checksums) {
  static std::map<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t, uint64_t, bool>,
                  std::vector<std::byte>> cache;
  auto key = std::make_tuple(l.node_slots, l.inbox_bytes, l.max_message_bytes, l.name_entries,
                             l.pool_bytes, checksums);
  auto it = cache.find(key);
  if (it == cache.end())
    it = cache.emplace(key, shmbus::fuzz::segment_image(l, checksums)).first;
  return it->second;
}

void read_everything(const segment& seg) {
  for (uint32_t i = 0; i < seg.node_slots(); ++i) {
    auto& s = seg.slot(i);
    auto word = s.state.load();
    read_peer_info(s, i, incarnation_of(word));
    read_counters(s);
  }
  name_table names{seg};
  for (auto& n : names.list())
    require(n.slot < seg.node_slots() && n.name.size() <= limits::max_name_length);
  names.lookup("wallet");
  auto pool = buffer_pool::usage(seg);
  require(pool.classes.size() <= 16);
  group_summary_table{seg}.list();
  for (uint32_t i = 0; i < seg.node_slots(); ++i) {
    auto ring = seg.ring(i);
    ring.used_bytes();
    ring.end_of_records(ring.control()->head.load());
  }
}

void consume_rings(const segment& seg, fuzz_input& in) {
  for (uint32_t i = 0; i < seg.node_slots(); ++i) {
    inbox_reader reader{seg.ring(i), seg.limits().max_message_bytes, seg.node_slots()};
    for (int step = 0; step < 8; ++step) {
      auto e = reader.peek();
      if (e.state == inbox_reader::status::record)
        reader.consume();
      else if (e.state == inbox_reader::status::corrupt)
        reader.recover();
      else if (e.state == inbox_reader::status::pending && (in.take<uint8_t>() & 1) != 0)
        reader.skip_pending();
      else
        break;
    }
    reader.audit();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz_input in{data, size};
  auto mode = in.take<uint8_t>();
  std::vector<std::byte> image;
  if ((mode & 1) != 0) {
    bus_limits l;
    l.node_slots = 2 + in.take<uint8_t>() % 2;
    l.name_entries = 1 + in.take<uint8_t>() % 8;
    l.inbox_bytes = limits::min_inbox_bytes << (in.take<uint8_t>() % 2);
    // Few distinct limits: each gets an image of its own, kept for reuse.
    const uint32_t max_messages[] = {1, 100, l.inbox_bytes / 2 - 64};
    l.max_message_bytes = max_messages[in.take<uint8_t>() % 3];
    // No pool, or a small one (two size classes): the default pool (8 MiB)
    // would make every input copy megabytes, 40x fewer executions.
    bool pool = (in.take<uint8_t>() & 1) != 0;
    l.pool_bytes = pool ? 64 * 1024 : 0;
    l.pool_max_block = 16 * 1024;
    l.pool_holder_entries = 4;
    image = honest_image(l, (mode & 8) != 0);
    // Patches, mostly in the header and the tables.
    while (!in.empty()) {
      auto at = in.take<uint16_t>() % image.size();
      image[at] = static_cast<std::byte>(in.take<uint8_t>());
    }
  } else {
    image.resize(page_bytes + in.left());
    in.take_bytes(image.data(), image.size());
  }
  int fd = ::memfd_create("shmbus-fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  require(fd >= 0);
  require(::write(fd, image.data(), image.size()) == static_cast<ssize_t>(image.size()));
  if ((mode & 2) == 0)
    ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
  bool read_only = (mode & 4) != 0;
  auto seg = segment::attach_memfd(fd, "fuzz", read_only);
  if (seg) {
    require((mode & 2) == 0); // an unsealed segment is refused
    read_everything(*seg);
    if (!read_only)
      consume_rings(*seg, in);
  }
  ::close(fd);
  return 0;
}
