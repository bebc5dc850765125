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
#pragma once

#include <string>
#include <string_view>

#include <sys/types.h>

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
  /// Write-locked by the node that owns `slot`.
  static constexpr off_t slot_byte(uint32_t slot) { return first_slot_byte + off_t{slot}; }
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

  const std::string& path() const noexcept { return path_; }
  bool valid() const noexcept { return fd_ >= 0; }

private:
  static result<bus_lock> open_file(std::string_view bus, bool create, unsigned file_mode,
                                    detail::file_owner who);

  int fd_ = -1;
  std::string path_;
};

} // namespace shmbus::transport
