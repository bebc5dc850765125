// The roles of a bus (server, clients, node slots, launcher) are byte-range
// locks on one file, /dev/shm/shmbus-<bus>.lock. The kernel releases them
// when their holder dies, so a crash can never leave a stale "server is
// running" or "slot in use" flag behind.
//
// They are open-file-description locks (F_OFD_SETLK), not the classic
// per-process fcntl locks that boost::interprocess::file_lock uses: classic
// locks vanish when the process closes *any* descriptor of the file and never
// conflict within one process; OFD locks belong to one open() and conflict
// with every other, which also lets tests run several nodes in one process.
//
// The lock file is opened without following links, and used only if it is a
// regular file of ours (or of our group's bus owner when its mode grants the
// group): a file planted in /dev/shm by another user is refused with its
// owner's name, never chmod-ed or locked (see bus_file.hpp).
//
// Nothing here waits: every call is one non-blocking fcntl/open/stat.
// Threads: one bus_lock belongs to one thread at a time (its locks are the
// state of one open file description); path() and valid() are constant.
// Exception: held_by_other(), file_identity() and try_lock()/unlock() of
// bytes no other thread touches are single system calls on a descriptor that
// stays open, so a node's liveness thread may use them while the owner
// thread holds the object (until the owner releases it).
#pragma once

#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <sys/types.h>

#include "shmbus/transport/config.hpp"
#include "shmbus/transport/error.hpp"

namespace shmbus::transport {

namespace detail {
enum class file_owner;
} // namespace detail

class bus_lock {
public:
  /// Byte offsets of the locks in the lock file.
  static constexpr off_t server_byte = 0;   ///< write-locked by the server
  static constexpr off_t members_byte = 1;  ///< read-locked by every client;
                                            ///< write-locked by a starting server
  static constexpr off_t launcher_byte = 2; ///< write-locked by the launcher
  /// Slot locks start here, with room for more role bytes before them.
  static constexpr off_t first_slot_byte = 64;
  /// Write-locked by the node that owns `slot`: the kernel's record of who
  /// is the slot's member (peers read it from /proc/<pid>/fdinfo, so a
  /// wrong pid word in the node table cannot fool them).
  static constexpr off_t slot_byte(uint32_t slot) { return first_slot_byte + off_t{slot}; }
  /// Write-locked by the member of `slot` when its own consumer stopped
  /// consuming: the process declares itself lost in a way no other process
  /// can forge.
  static constexpr off_t stall_byte(uint32_t slot) {
    return first_slot_byte + off_t{limits::max_node_slots} + off_t{slot};
  }
  /// Write-locked by the member of `slot` for as long as it is incarnation
  /// `incarnation`: whether an incarnation lives is a kernel fact, whatever
  /// the state word says. One range of 2^32 bytes per slot, far past the
  /// role bytes.
  static constexpr off_t first_incarnation_byte = off_t{1} << 40;
  static constexpr off_t incarnation_byte(uint32_t slot, uint32_t incarnation) {
    return first_incarnation_byte + (off_t{slot} << 32) + off_t{incarnation};
  }
  /// The incarnation whose byte `byte` is for `slot`, if it is one.
  static constexpr std::optional<uint32_t> incarnation_at(uint32_t slot, off_t byte) {
    auto base = incarnation_byte(slot, 0);
    if (byte < base || byte - base > off_t{UINT32_MAX})
      return std::nullopt;
    return static_cast<uint32_t>(byte - base);
  }
  static_assert(first_slot_byte > launcher_byte);

  enum class mode { shared, exclusive };

  bus_lock() = default;
  bus_lock(bus_lock&& other) noexcept;
  bus_lock& operator=(bus_lock&& other) noexcept;
  bus_lock(const bus_lock&) = delete;
  bus_lock& operator=(const bus_lock&) = delete;
  ~bus_lock();

  /// Opens the lock file of `bus`; with `create`, creates it first if it
  /// does not exist (mode `file_mode`, exactly: the umask does not apply).
  /// Refuses an invalid bus name, a symlink, a file of another type or
  /// owner, naming the owner and the remedy.
  static result<bus_lock> open(std::string_view bus, bool create,
                               unsigned file_mode);

  /// Opens the existing lock file of `bus` whoever owns it (never following
  /// a link): for looking at a bus or removing it, which takes locks but
  /// changes nothing in the file (shmbusctl, also as root).
  static result<bus_lock> open_for_admin(std::string_view bus);

  /// Takes the lock on `byte` without waiting; false if another holds it.
  /// Re-locking a byte this object holds converts its mode.
  bool try_lock(off_t byte, mode m) noexcept;

  /// Releases this object's lock on `byte`, if any.
  void unlock(off_t byte) noexcept;

  /// True if another open file description holds a lock on `byte` that
  /// conflicts with `m` (for `shared`: someone holds it exclusively).
  /// A snapshot: the holder may release it right after.
  bool held_by_other(off_t byte, mode m) const noexcept;

  /// False if the lock file was removed or replaced since we opened it (then
  /// our locks guard nothing: reopen).
  bool still_linked() const noexcept;

  /// Device and inode of the open lock file, as /proc/<pid>/fdinfo names
  /// it in the lock lines of its holders; nullopt if fstat fails.
  std::optional<std::pair<uint64_t, uint64_t>> file_identity() const noexcept;

  const std::string& path() const noexcept { return path_; }
  bool valid() const noexcept { return fd_ >= 0; }

private:
  static result<bus_lock> open_file(std::string_view bus, bool create, unsigned file_mode,
                                    detail::file_owner who);

  int fd_ = -1;
  std::string path_;
};

static_assert(bus_lock::stall_byte(limits::max_node_slots - 1)
                < bus_lock::first_incarnation_byte);
static_assert(bus_lock::incarnation_byte(limits::max_node_slots - 1, UINT32_MAX)
                < (off_t{1} << 62), "lock offsets fit off_t");

} // namespace shmbus::transport
