#include "shmbus/transport/bus_admin.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmbus/transport/bus_lock.hpp"
#include "shmbus/transport/bus_name.hpp"
#include "shmbus/transport/segment.hpp"

#include "bus_file.hpp"
#include "process_info.hpp"

namespace shmbus::transport {

result<bus_report> inspect_bus(std::string_view bus) {
  if (auto err = validate_bus_name(bus))
    return *err;
  attach_options how;
  how.read_only = true;
  auto seg = segment::attach(bus, how);
  if (!seg)
    return seg.err();
  auto lock = bus_lock::open_for_admin(bus);
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
  report.pool = buffer_pool::usage(*seg);
  report.groups = group_summary_table{*seg}.list();
  return report;
}

namespace {

/// Removes `path` if it exists; an error names the file, why, and the remedy.
error remove_file(const std::string& path, std::string_view bus) {
  if (::unlink(path.c_str()) == 0 || errno == ENOENT)
    return {};
  auto code = errno;
  struct stat st;
  std::string owner;
  if (::lstat(path.c_str(), &st) == 0 && st.st_uid != ::geteuid())
    owner = " (it belongs to " + detail::user_text(st.st_uid) + ")";
  return make_error(errc::system_error,
                    "cannot remove " + path + owner + ": " + std::strerror(code)
                      + "; run `shmbusctl clean " + std::string(bus)
                      + "` as its owner or as root");
}

} // namespace

error remove_bus(std::string_view bus) {
  if (auto err = validate_bus_name(bus))
    return *err;
  auto lock_path = lock_file_path(bus);
  auto sock_path = socket_path(bus);
  auto lock = bus_lock::open_for_admin(bus);
  if (!lock) {
    if (lock.err().code != errc::bus_not_found)
      return lock.err(); // not ours, a symlink, no permission: named there
    // No lock file: nobody can hold a role, so a socket left behind is stale.
    struct stat st;
    if (::lstat(sock_path.c_str(), &st) != 0)
      return lock.err();
    if (auto err = detail::check_bus_file(st, sock_path, bus, S_IFSOCK,
                                              detail::file_owner::any))
      return *err;
    return remove_file(sock_path, bus);
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
  struct stat st;
  if (::lstat(sock_path.c_str(), &st) == 0) {
    if (auto err = detail::check_bus_file(st, sock_path, bus, S_IFSOCK,
                                              detail::file_owner::any))
      return *err;
    if (auto err = remove_file(sock_path, bus))
      return err;
  }
  // Last: while the lock file exists, nobody else can start on the bus.
  return remove_file(lock_path, bus);
}

std::vector<std::string> list_buses() {
  std::vector<std::string> result;
  auto* dir = ::opendir(std::string(bus_file_dir).c_str());
  if (dir == nullptr)
    return result;
  while (auto* entry = ::readdir(dir)) {
    auto bus = bus_of_file_name(entry->d_name);
    if (bus && std::find(result.begin(), result.end(), *bus) == result.end())
      result.push_back(*bus);
  }
  ::closedir(dir);
  std::sort(result.begin(), result.end());
  return result;
}

} // namespace shmbus::transport
