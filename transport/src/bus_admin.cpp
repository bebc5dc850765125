#include "shmbus/transport/bus_admin.hpp"

#include <algorithm>

#include <dirent.h>
#include <unistd.h>

#include "shmbus/transport/bus_lock.hpp"
#include "shmbus/transport/bus_name.hpp"
#include "shmbus/transport/segment.hpp"

#include "process_info.hpp"

namespace shmbus::transport {

result<bus_report> inspect_bus(std::string_view bus) {
  if (auto err = validate_bus_name(bus))
    return *err;
  auto seg = segment::attach(bus);
  if (!seg)
    return seg.err();
  auto lock = bus_lock::open(bus, false, defaults::file_mode);
  bus_report report;
  report.bus = std::string(bus);
  report.limits = seg->limits();
  report.timing = seg->timing();
  report.creator_pid = seg->header().creator_pid;
  report.segment_bytes = compute_geometry(seg->limits()).segment_bytes;
  report.created_unix_ns = seg->header().created_unix_ns;
  report.server_running
    = lock && lock->held_by_other(bus_lock::server_byte, bus_lock::mode::shared);
  auto now = detail::monotonic_ns();
  for (uint32_t i = 0; i < seg->node_slots(); ++i) {
    auto& s = seg->slot(i);
    auto word = s.state.load(std::memory_order_acquire);
    if (state_of(word) == node_state::free)
      continue;
    node_report n;
    n.slot = i;
    n.state = state_of(word);
    n.incarnation = incarnation_of(word);
    n.pid = s.pid.load(std::memory_order_relaxed);
    n.role = static_cast<node_role>(s.role.load(std::memory_order_relaxed));
    n.name = s.name.load();
    n.process_running
      = lock && lock->held_by_other(bus_lock::slot_byte(i), bus_lock::mode::shared);
    n.heartbeat_age_ms = (now - s.heartbeat_ns.load(std::memory_order_relaxed)) / 1'000'000;
    n.cause = static_cast<loss_cause>(s.loss_cause.load(std::memory_order_relaxed));
    n.detail = s.loss_detail.load(std::memory_order_relaxed);
    n.counters = read_counters(s);
    auto ring = seg->ring(i);
    n.inbox_bytes = ring.capacity();
    // Untrusted positions: never more than the ring holds.
    n.inbox_used_bytes = std::min<uint64_t>(ring.used_bytes(), ring.capacity());
    report.nodes.push_back(std::move(n));
  }
  report.names = name_table{*seg}.list();
  report.supervision = supervision_table{*seg}.list();
  error_log errors{*seg};
  report.errors = errors.list();
  report.errors_dropped = errors.dropped();
  return report;
}

error remove_bus(std::string_view bus) {
  if (auto err = validate_bus_name(bus))
    return *err;
  bool has_segment = segment::exists(bus);
  auto lock = bus_lock::open(bus, false, defaults::file_mode);
  if (!lock) {
    if (!has_segment)
      return lock.err();
    segment::unlink(bus); // a segment without lock file: nobody can use it
    return {};
  }
  if (!lock->try_lock(bus_lock::server_byte, bus_lock::mode::exclusive))
    return make_error(errc::bus_in_use, "bus '" + std::string(bus)
                                          + "' has a running server; stop it first");
  if (!lock->try_lock(bus_lock::members_byte, bus_lock::mode::exclusive))
    return make_error(errc::bus_in_use, "bus '" + std::string(bus)
                                          + "' has running clients; stop them first");
  if (!lock->try_lock(bus_lock::launcher_byte, bus_lock::mode::exclusive))
    return make_error(errc::bus_in_use, "bus '" + std::string(bus)
                                          + "' has a running launcher; stop it first");
  segment::unlink(bus);
  ::unlink(lock->path().c_str());
  return {};
}

std::vector<std::string> list_buses() {
  std::vector<std::string> result;
  auto* dir = ::opendir("/dev/shm");
  if (dir == nullptr)
    return result;
  const std::string prefix = "shmbus-";
  const std::string suffix = ".lock";
  while (auto* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name.rfind(prefix, 0) != 0)
      continue;
    name = name.substr(prefix.size());
    if (name.size() > suffix.size()
        && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      name.resize(name.size() - suffix.size());
    if (!validate_bus_name(name) && std::find(result.begin(), result.end(), name) == result.end())
      result.push_back(name);
  }
  ::closedir(dir);
  std::sort(result.begin(), result.end());
  return result;
}

} // namespace shmbus::transport
