// Checks of a bus's files in /dev/shm (lock file, hand-out socket) before a
// process uses them. /dev/shm is writable by every user: a file there may
// have been planted by someone else (a symlink to a file of ours, a file
// that squats a bus name). We use a file only if it has the right type, one
// link, and belongs to us, or to a user of a group we are in when its mode
// grants that group read and write (a bus started with a group file-mode).
// Pure checks and a few system calls: never block, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <sys/stat.h>
#include <sys/types.h>

#include "shmbus/transport/error.hpp"

namespace shmbus::transport::detail {

/// Who may own a bus file we use.
enum class file_owner {
  us,  ///< this user, or our group's bus owner (group file-mode): to join,
       ///< create or serve a bus
  any, ///< anyone: to look at a bus or remove it (shmbusctl as root), which
       ///< changes nothing in the file and follows no link
};

/// An error naming the file, what is wrong with it and the remedy, unless
/// `st` (of the file at `path`, bus `bus`) is a usable file of type
/// `type` (S_IFREG or S_IFSOCK) with an owner `who` accepts.
std::optional<error> check_bus_file(const struct stat& st, const std::string& path,
                                    std::string_view bus, mode_t type,
                                    file_owner who = file_owner::us);

/// Why `path`, expected to be of type `type`, could not be opened or
/// connected to (errno `code`), naming its owner when someone else's file,
/// or a file of another type, is in the way.
error describe_open_failure(const std::string& path, std::string_view bus, mode_t type,
                            int code);

/// "alice (uid 1001)", or "uid 1001" when the user has no name.
std::string user_text(uid_t uid);

/// Whether this process is in group `gid` (effective or supplementary).
bool in_group(gid_t gid) noexcept;

} // namespace shmbus::transport::detail
