#include "shmbus/transport/segment.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>

#include "shmbus/transport/buffer_pool_data.hpp"
#include "shmbus/transport/bus_name.hpp"

#include "segment_handout.hpp"
#include "unique_fd.hpp"

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

/// Boost.Interprocess maps anything that names its descriptor this way (a
/// MemoryMappable); its own shared_memory_object cannot be a memfd.
class memfd_mapping {
public:
  explicit memfd_mapping(int fd) noexcept : fd_(fd) {}
  bip::mapping_handle_t get_mapping_handle() const noexcept {
    return bip::ipcdetail::mapping_handle_from_file_handle(fd_);
  }

private:
  int fd_;
};

std::string mib_text(uint64_t bytes) {
  return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB";
}

} // namespace

segment::segment() = default;

segment::segment(segment&& other) noexcept
  : region_(std::move(other.region_)),
    header_(std::exchange(other.header_, nullptr)),
    base_(std::exchange(other.base_, nullptr)),
    memfd_(std::exchange(other.memfd_, -1)),
    handout_(std::exchange(other.handout_, -1)),
    geometry_(other.geometry_),
    limits_(other.limits_),
    timing_(other.timing_),
    checksums_(other.checksums_),
    bus_(std::move(other.bus_)) {
  // nop
}

segment& segment::operator=(segment&& other) noexcept {
  if (this != &other) {
    segment doomed{std::move(*this)};
    region_ = std::move(other.region_);
    header_ = std::exchange(other.header_, nullptr);
    base_ = std::exchange(other.base_, nullptr);
    memfd_ = std::exchange(other.memfd_, -1);
    handout_ = std::exchange(other.handout_, -1);
    geometry_ = other.geometry_;
    limits_ = other.limits_;
    timing_ = other.timing_;
    checksums_ = other.checksums_;
    bus_ = std::move(other.bus_);
  }
  return *this;
}

segment::~segment() {
  close_handout();
  if (memfd_ >= 0)
    ::close(memfd_);
}

void segment::close_handout() noexcept {
  if (handout_ >= 0)
    ::close(std::exchange(handout_, -1));
}

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
  if (l.pool_bytes > limits::max_pool_bytes)
    return bad("pool size must be at most " + mib_text(limits::max_pool_bytes) + ", got "
               + std::to_string(l.pool_bytes) + " bytes");
  if (l.pool_bytes == 0)
    return std::nullopt;
  bool class_size = false;
  for (uint64_t size = pool_min_block; size <= limits::max_pool_block; size *= 4)
    class_size = class_size || size == l.pool_max_block;
  if (!class_size)
    return bad("pool max block must be 4 KiB times a power of 4 (4096, 16384, 65536, "
               "262144, 1048576, 4194304, 16777216, ...) up to 1 GiB, got "
               + std::to_string(l.pool_max_block));
  if (l.pool_holder_entries == 0 || l.pool_holder_entries > limits::max_pool_holder_entries)
    return bad("pool holder entries must be between 1 and "
               + std::to_string(limits::max_pool_holder_entries) + ", got "
               + std::to_string(l.pool_holder_entries));
  auto pool = compute_pool_geometry(l);
  if (pool.classes[pool.class_count - 1].blocks == 0)
    return bad("a pool of " + std::to_string(l.pool_bytes) + " bytes holds no block of "
               + std::to_string(l.pool_max_block) + " bytes (each of its "
               + std::to_string(pool.class_count)
               + " size classes gets an equal share): raise the pool size to at least "
               + std::to_string(uint64_t{pool.class_count} * l.pool_max_block)
               + " bytes or lower the pool max block");
  return std::nullopt;
}

result<segment> segment::create(std::string_view bus, const segment_params& p) {
  if (auto err = validate_bus_name(bus))
    return *err;
  if (auto err = validate_limits(p.limits))
    return *err;
  auto geometry = compute_geometry(p.limits);
  auto failed = [&](const std::string& what, int code) {
    return make_error(errc::system_error,
                      "cannot create the segment of bus '" + std::string(bus) + "' ("
                        + mib_text(geometry.segment_bytes) + "): " + what + ": "
                        + std::strerror(code));
  };
  detail::unique_fd fd{::memfd_create(memfd_name(bus).c_str(),
                                      MFD_CLOEXEC | MFD_ALLOW_SEALING)};
  if (!fd.valid())
    return failed("memfd_create", errno);
  if (::ftruncate(fd.get(), static_cast<off_t>(geometry.segment_bytes)) != 0)
    return failed("ftruncate", errno);
  // Commit every page now: a machine (or memory cgroup) without the memory
  // refuses here, instead of a SIGBUS when a ring is first written.
  if (int code = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(geometry.segment_bytes)))
    return make_error(errc::system_error,
                      "cannot commit " + mib_text(geometry.segment_bytes)
                        + " of memory for the segment of bus '" + std::string(bus)
                        + "': " + std::strerror(code)
                        + "; lower node-slots or inbox-size, or raise the memory "
                          "limit (segment memory counts against the memory cgroup)");
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    return failed("sealing", errno);
  auto listener = detail::listen_for_joiners(bus, p.file_mode);
  if (!listener)
    return listener.err();
  segment seg;
  if (auto err = seg.map_region(fd.get(), bus, false))
    return err;
  seg.memfd_ = fd.release();
  seg.handout_ = listener->release();
  seg.geometry_ = geometry;
  seg.limits_ = p.limits;
  seg.timing_ = p.timing;
  seg.checksums_ = p.checksums;
  auto& h = *seg.header_;
  h.magic = segment_magic;
  h.header_bytes = static_cast<uint32_t>(page_bytes);
  h.segment_bytes = geometry.segment_bytes;
  h.node_slots = p.limits.node_slots;
  h.inbox_bytes = p.limits.inbox_bytes;
  h.max_message_bytes = p.limits.max_message_bytes;
  h.name_entries = p.limits.name_entries;
  h.node_table_offset = geometry.node_table_offset;
  h.name_table_offset = geometry.name_table_offset;
  h.rings_offset = geometry.rings_offset;
  h.ring_stride = geometry.ring_stride;
  h.heartbeat_interval_ns = p.timing.heartbeat_interval.count();
  h.heartbeat_timeout_ns = p.timing.heartbeat_timeout.count();
  h.creator_pid = static_cast<int32_t>(::getpid());
  h.flags = p.checksums ? segment_flag_checksums : 0;
  h.created_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  std::strncpy(h.bus_name, seg.bus_.c_str(), sizeof(h.bus_name) - 1);
  h.membership_epoch.store(0, std::memory_order_relaxed);
  h.names_epoch.store(0, std::memory_order_relaxed);
  h.supervision_offset = geometry.supervision_offset;
  h.error_log_offset = geometry.error_log_offset;
  h.supervision_entries = p.limits.supervision_entries;
  h.error_entries = p.limits.error_entries;
  h.pool_offset = geometry.pool_offset;
  h.pool_bytes = p.limits.pool_bytes;
  h.pool_max_block = p.limits.pool_max_block;
  h.pool_region_bytes = geometry.pool.pool_bytes;
  h.pool_holder_entries = p.limits.pool_holder_entries;
  h.group_summary_offset = geometry.group_summary_offset;
  h.group_rows_per_node = group_rows_per_node;
  if (auto* pool = seg.pool_base()) {
    // For tools; every process computes the geometry itself.
    auto& ph = *reinterpret_cast<pool_header*>(pool);
    auto& g = geometry.pool;
    ph.class_count = g.class_count;
    ph.holder_entries = g.holder_entries;
    ph.descriptors_offset = g.descriptors_offset;
    ph.holders_offset = g.holders_offset;
    ph.data_offset = g.data_offset;
    ph.total_blocks = g.total_blocks;
    for (uint32_t c = 0; c < g.class_count; ++c)
      ph.classes[c] = g.classes[c];
  }
  // The fresh memfd is zero-filled: slots are `free`, name entries `free`,
  // rings uninitialized. Pairs with the acquire load in attach().
  h.layout_version.store(layout_version, std::memory_order_release);
  return seg;
}

result<segment> segment::attach(std::string_view bus, attach_options opts) {
  if (auto err = validate_bus_name(bus))
    return *err;
  auto received = detail::fetch_segment(bus, opts.timeout);
  if (!received)
    return received.err();
  auto seg = attach_memfd(received->memfd.get(), bus, opts.read_only);
  if (!seg)
    return seg.err();
  seg->memfd_ = received->memfd.release();
  if (opts.keep_handout)
    seg->handout_ = received->listener.release();
  return seg;
}

result<segment> segment::attach_memfd(int memfd, std::string_view bus, bool read_only) {
  auto where = "the segment of bus '" + std::string(bus) + "'";
  auto seals = ::fcntl(memfd, F_GET_SEALS);
  if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
    return make_error(errc::layout_mismatch, where + " is not sealed against truncation");
  struct stat st;
  if (::fstat(memfd, &st) != 0)
    return make_error(errc::system_error, "cannot stat " + where + ": " + std::strerror(errno));
  if (static_cast<uint64_t>(st.st_size) < page_bytes)
    return make_error(errc::layout_mismatch,
                      where + " is too small to be a shmbus segment ("
                        + std::to_string(st.st_size) + " bytes); " + version_remedy(bus));
  segment seg;
  if (auto err = seg.map_region(memfd, bus, read_only))
    return err;
  auto& h = *seg.header_;
  if (h.magic != segment_magic)
    return make_error(errc::layout_mismatch,
                      where + " is not a shmbus segment (bad magic); " + version_remedy(bus));
  // Pairs with the creator's release store: the rest of the header is set.
  auto version = h.layout_version.load(std::memory_order_acquire);
  if (version != layout_version)
    return make_error(errc::layout_mismatch,
                      where + " was created by layout version " + std::to_string(version)
                        + ", this build reads version " + std::to_string(layout_version)
                        + ": " + version_remedy(bus));
  // Copies: the header stays writable by every process of the bus.
  bus_limits l;
  l.node_slots = h.node_slots;
  l.inbox_bytes = h.inbox_bytes;
  l.max_message_bytes = h.max_message_bytes;
  l.name_entries = h.name_entries;
  auto segment_bytes = h.segment_bytes;
  auto interval = h.heartbeat_interval_ns;
  auto timeout = h.heartbeat_timeout_ns;
  auto flags = h.flags;
  l.supervision_entries = h.supervision_entries;
  l.error_entries = h.error_entries;
  l.pool_bytes = h.pool_bytes;
  l.pool_max_block = h.pool_max_block;
  l.pool_holder_entries = h.pool_holder_entries;
  auto pool_offset = h.pool_offset;
  auto pool_region = h.pool_region_bytes;
  auto group_summary_offset = h.group_summary_offset;
  auto group_rows = h.group_rows_per_node;
  auto corrupt = [&](const std::string& what) {
    return make_error(errc::layout_mismatch,
                      where + " has an inconsistent header (" + what + "); "
                        + version_remedy(bus));
  };
  if (auto err = validate_limits(l))
    return corrupt(err->message);
  auto g = compute_geometry(l);
  if (h.node_table_offset != g.node_table_offset
      || h.name_table_offset != g.name_table_offset
      || h.rings_offset != g.rings_offset || h.ring_stride != g.ring_stride
      || h.supervision_offset != g.supervision_offset
      || h.error_log_offset != g.error_log_offset
      || pool_offset != g.pool_offset || pool_region != g.pool.pool_bytes
      || group_summary_offset != g.group_summary_offset
      || group_rows != group_rows_per_node
      || segment_bytes != g.segment_bytes
      || segment_bytes != static_cast<uint64_t>(st.st_size)
      || segment_bytes > seg.region_->get_size())
    return corrupt("offsets do not match its sizes");
  if (interval <= 0 || timeout <= interval)
    return corrupt("heartbeat timing");
  if ((flags & ~segment_known_flags) != 0)
    return corrupt("unknown flags " + std::to_string(flags));
  seg.geometry_ = g;
  seg.limits_ = l;
  seg.timing_.heartbeat_interval = std::chrono::nanoseconds{interval};
  seg.timing_.heartbeat_timeout = std::chrono::nanoseconds{timeout};
  seg.checksums_ = (flags & segment_flag_checksums) != 0;
  return seg;
}

error segment::map_region(int memfd, std::string_view bus, bool read_only) {
  bus_ = std::string(bus);
  try {
    region_ = std::make_unique<bip::mapped_region>(
      memfd_mapping{memfd}, read_only ? bip::read_only : bip::read_write);
  } catch (const bip::interprocess_exception& ex) {
    return make_error(errc::system_error,
                      "cannot map the segment of bus '" + bus_ + "': " + ex.what());
  }
  base_ = static_cast<std::byte*>(region_->get_address());
  header_ = reinterpret_cast<segment_header*>(base_);
  return {};
}

void segment::unlink(std::string_view bus) noexcept {
  if (!validate_bus_name(bus))
    ::unlink(socket_path(bus).c_str());
}

bool segment::exists(std::string_view bus) noexcept {
  struct stat st;
  return !validate_bus_name(bus) && ::lstat(socket_path(bus).c_str(), &st) == 0;
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
                    start + ring_control_bytes, limits_.inbox_bytes, checksums_};
}

supervision_entry& segment::supervision(uint32_t i) const noexcept {
  return reinterpret_cast<supervision_entry*>(base_ + geometry_.supervision_offset)[i];
}

error_log_header& segment::error_log() const noexcept {
  return *reinterpret_cast<error_log_header*>(base_ + geometry_.error_log_offset);
}

std::byte* segment::pool_base() const noexcept {
  return geometry_.pool.pool_bytes == 0 ? nullptr : base_ + geometry_.pool_offset;
}

group_summary_entry& segment::group_row(uint32_t slot, uint32_t i) const noexcept {
  return reinterpret_cast<group_summary_entry*>(
    base_ + geometry_.group_summary_offset)[uint64_t{slot} * group_rows_per_node + i];
}

error_entry& segment::error_at(uint32_t i) const noexcept {
  return reinterpret_cast<error_entry*>(base_ + geometry_.error_log_offset
                                        + error_log_header_bytes)[i];
}

} // namespace shmbus::transport
