#include "shmbus/transport/segment.hpp"

#include <chrono>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include "shmbus/transport/bus_name.hpp"

namespace bip = boost::interprocess;

namespace shmbus::transport {

namespace {

bool is_power_of_two(uint64_t x) {
  return x != 0 && (x & (x - 1)) == 0;
}

std::string version_remedy(std::string_view bus) {
  return "stop all processes of the other build, or run `shmbusctl clean "
         + std::string(bus) + "` once none is running";
}

} // namespace

segment::segment() = default;
segment::segment(segment&&) noexcept = default;
segment& segment::operator=(segment&&) noexcept = default;
segment::~segment() = default;

std::optional<error> segment::validate_limits(const bus_limits& l) {
  auto bad = [](std::string what) {
    return make_error(errc::invalid_argument, std::move(what));
  };
  if (l.node_slots < 2 || l.node_slots > limits::max_node_slots)
    return bad("node slots must be between 2 and "
               + std::to_string(limits::max_node_slots) + ", got "
               + std::to_string(l.node_slots));
  if (!is_power_of_two(l.inbox_bytes) || l.inbox_bytes < limits::min_inbox_bytes
      || l.inbox_bytes > limits::max_inbox_bytes)
    return bad("inbox size must be a power of two between "
               + std::to_string(limits::min_inbox_bytes) + " and "
               + std::to_string(limits::max_inbox_bytes) + " bytes, got "
               + std::to_string(l.inbox_bytes));
  if (l.max_message_bytes == 0
      || record::record_bytes(l.max_message_bytes) > l.inbox_bytes / 2)
    return bad("max message size " + std::to_string(l.max_message_bytes)
               + " must be at least 1 and fit twice into the inbox ("
               + std::to_string(l.inbox_bytes)
               + " bytes, " + std::to_string(record::header_bytes)
               + " bytes of header per record): raise the inbox size");
  if (l.name_entries == 0 || l.name_entries > limits::max_name_entries)
    return bad("name entries must be between 1 and "
               + std::to_string(limits::max_name_entries) + ", got "
               + std::to_string(l.name_entries));
  if (l.supervision_entries == 0 || l.supervision_entries > limits::max_supervision_entries)
    return bad("supervision entries must be between 1 and "
               + std::to_string(limits::max_supervision_entries) + ", got "
               + std::to_string(l.supervision_entries));
  if (l.error_entries == 0 || l.error_entries > limits::max_error_entries)
    return bad("error entries must be between 1 and "
               + std::to_string(limits::max_error_entries) + ", got "
               + std::to_string(l.error_entries));
  return std::nullopt;
}

result<segment> segment::create(std::string_view bus, const bus_limits& l,
                                const liveness_timing& timing,
                                unsigned file_mode) {
  if (auto err = validate_bus_name(bus))
    return *err;
  if (auto err = validate_limits(l))
    return *err;
  auto geometry = compute_geometry(l);
  auto object = segment_object_name(bus);
  segment seg;
  try {
    bip::shared_memory_object::remove(object.c_str());
    bip::permissions perms;
    perms.set_permissions(static_cast<int>(file_mode));
    bip::shared_memory_object shm(bip::create_only, object.c_str(),
                                  bip::read_write, perms);
    // tmpfs allocates pages on first touch: untouched inboxes cost nothing.
    shm.truncate(static_cast<bip::offset_t>(geometry.segment_bytes));
    seg.region_ = std::make_unique<bip::mapped_region>(shm, bip::read_write);
  } catch (const bip::interprocess_exception& ex) {
    return make_error(errc::system_error,
                      "cannot create shared memory " + segment_file_path(bus)
                        + " (" + std::to_string(geometry.segment_bytes)
                        + " bytes): " + ex.what());
  }
  seg.base_ = static_cast<std::byte*>(seg.region_->get_address());
  seg.header_ = reinterpret_cast<segment_header*>(seg.base_);
  seg.geometry_ = geometry;
  seg.limits_ = l;
  seg.timing_ = timing;
  seg.bus_ = std::string(bus);
  auto& h = *seg.header_;
  h.magic = segment_magic;
  h.header_bytes = static_cast<uint32_t>(page_bytes);
  h.segment_bytes = geometry.segment_bytes;
  h.node_slots = l.node_slots;
  h.inbox_bytes = l.inbox_bytes;
  h.max_message_bytes = l.max_message_bytes;
  h.name_entries = l.name_entries;
  h.node_table_offset = geometry.node_table_offset;
  h.name_table_offset = geometry.name_table_offset;
  h.rings_offset = geometry.rings_offset;
  h.ring_stride = geometry.ring_stride;
  h.heartbeat_interval_ns = timing.heartbeat_interval.count();
  h.heartbeat_timeout_ns = timing.heartbeat_timeout.count();
  h.creator_pid = static_cast<int32_t>(::getpid());
  h.created_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  std::strncpy(h.bus_name, seg.bus_.c_str(), sizeof(h.bus_name) - 1);
  h.membership_epoch.store(0, std::memory_order_relaxed);
  h.names_epoch.store(0, std::memory_order_relaxed);
  h.supervision_offset = geometry.supervision_offset;
  h.error_log_offset = geometry.error_log_offset;
  h.supervision_entries = l.supervision_entries;
  h.error_entries = l.error_entries;
  // The fresh object is zero-filled: slots are `free`, name entries `free`,
  // rings uninitialized. Pairs with the acquire load in attach().
  h.layout_version.store(layout_version, std::memory_order_release);
  return seg;
}

result<segment> segment::attach(std::string_view bus) {
  if (auto err = validate_bus_name(bus))
    return *err;
  auto object = segment_object_name(bus);
  auto path = segment_file_path(bus);
  segment seg;
  try {
    bip::shared_memory_object shm(bip::open_only, object.c_str(),
                                  bip::read_write);
    bip::offset_t size = 0;
    if (!shm.get_size(size) || size < static_cast<bip::offset_t>(page_bytes))
      return make_error(errc::layout_mismatch,
                        path + " is too small to be a shmbus segment ("
                          + std::to_string(size) + " bytes); "
                          + version_remedy(bus));
    seg.region_ = std::make_unique<bip::mapped_region>(shm, bip::read_write);
  } catch (const bip::interprocess_exception& ex) {
    if (ex.get_error_code() == bip::not_found_error)
      return make_error(errc::bus_not_found,
                        "no bus named '" + std::string(bus) + "' (" + path
                          + " does not exist); start the server first");
    return make_error(errc::system_error,
                      "cannot map " + path + ": " + ex.what());
  }
  seg.base_ = static_cast<std::byte*>(seg.region_->get_address());
  seg.header_ = reinterpret_cast<segment_header*>(seg.base_);
  seg.bus_ = std::string(bus);
  auto& h = *seg.header_;
  if (h.magic != segment_magic)
    return make_error(errc::layout_mismatch,
                      path + " is not a shmbus segment (bad magic); "
                        + version_remedy(bus));
  // Pairs with the creator's release store: the rest of the header is set.
  auto version = h.layout_version.load(std::memory_order_acquire);
  if (version == 0)
    return make_error(errc::layout_mismatch,
                      "segment " + path + " is still being created");
  if (version != layout_version)
    return make_error(errc::layout_mismatch,
                      "segment " + path + " was created by layout version "
                        + std::to_string(version) + ", this build reads version "
                        + std::to_string(layout_version) + ": "
                        + version_remedy(bus));
  bus_limits l;
  l.node_slots = h.node_slots;
  l.inbox_bytes = h.inbox_bytes;
  l.max_message_bytes = h.max_message_bytes;
  l.name_entries = h.name_entries;
  l.supervision_entries = h.supervision_entries;
  l.error_entries = h.error_entries;
  auto corrupt = [&](const std::string& what) {
    return make_error(errc::layout_mismatch,
                      "segment " + path + " has an inconsistent header (" + what
                        + "); " + version_remedy(bus));
  };
  if (auto err = validate_limits(l))
    return corrupt(err->message);
  auto g = compute_geometry(l);
  if (h.node_table_offset != g.node_table_offset
      || h.name_table_offset != g.name_table_offset
      || h.rings_offset != g.rings_offset || h.ring_stride != g.ring_stride
      || h.supervision_offset != g.supervision_offset
      || h.error_log_offset != g.error_log_offset
      || h.segment_bytes != g.segment_bytes
      || h.segment_bytes > seg.region_->get_size())
    return corrupt("offsets do not match its sizes");
  if (h.heartbeat_interval_ns <= 0
      || h.heartbeat_timeout_ns <= h.heartbeat_interval_ns)
    return corrupt("heartbeat timing");
  seg.geometry_ = g;
  seg.limits_ = l;
  seg.timing_.heartbeat_interval = std::chrono::nanoseconds{h.heartbeat_interval_ns};
  seg.timing_.heartbeat_timeout = std::chrono::nanoseconds{h.heartbeat_timeout_ns};
  return seg;
}

void segment::unlink(std::string_view bus) noexcept {
  bip::shared_memory_object::remove(segment_object_name(bus).c_str());
}

bool segment::exists(std::string_view bus) noexcept {
  struct stat st;
  return ::stat(segment_file_path(bus).c_str(), &st) == 0;
}

node_slot& segment::slot(uint32_t i) const noexcept {
  return reinterpret_cast<node_slot*>(base_ + geometry_.node_table_offset)[i];
}

name_entry& segment::name(uint32_t i) const noexcept {
  return reinterpret_cast<name_entry*>(base_ + geometry_.name_table_offset)[i];
}

inbox_ring segment::ring(uint32_t i) const noexcept {
  auto* start = base_ + geometry_.rings_offset + geometry_.ring_stride * i;
  return inbox_ring{reinterpret_cast<ring_control*>(start),
                    start + ring_control_bytes, limits_.inbox_bytes};
}

supervision_entry& segment::supervision(uint32_t i) const noexcept {
  return reinterpret_cast<supervision_entry*>(base_ + geometry_.supervision_offset)[i];
}

error_log_header& segment::error_log() const noexcept {
  return *reinterpret_cast<error_log_header*>(base_ + geometry_.error_log_offset);
}

error_entry& segment::error_at(uint32_t i) const noexcept {
  return reinterpret_cast<error_entry*>(base_ + geometry_.error_log_offset
                                        + error_log_header_bytes)[i];
}

} // namespace shmbus::transport
