// Bus names and the file-system paths derived from them. Pure functions:
// never block, thread-safe.
//
// Every entry point that takes a bus name (node start, segment, bus_lock,
// bus_admin, shmbusctl, shmbus-launch, the test and bench helpers) checks it
// with validate_bus_name() before it derives a path from it.
//
// Derived names cannot collide. A bus has exactly two files, both in
// /dev/shm, both named prefix + name + suffix with a suffix of its own:
//
//   lock_file_path(B)   /dev/shm/shmbus-B.lock   role locks (bus_lock.hpp)
//   socket_path(B)      /dev/shm/shmbus-B.sock   segment hand-out (segment.hpp)
//
// and no file is ever named by the bare prefix + name (the segment is a
// memfd, not a file). Both suffixes have the same length, so if
// "shmbus-" + X + s == "shmbus-" + Y + t then X and Y have the same length,
// hence X == Y and s == t: lock(X) == sock(Y) and lock(X) == lock(Y) are
// impossible for X != Y. (The old attack: bus "X.lock" has the files
// shmbus-X.lock.lock and shmbus-X.lock.sock, neither of which is bus X's.)
// A valid name holds no '/', is not "." or "..", and has no control
// character, so a derived path never leaves /dev/shm.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "shmbus/transport/config.hpp"
#include "shmbus/transport/error.hpp"

namespace shmbus::transport {

/// The directory of every derived file, and the parts of their names.
constexpr std::string_view bus_file_dir = "/dev/shm/";
constexpr std::string_view bus_file_prefix = "shmbus-";
constexpr std::string_view lock_file_suffix = ".lock";
constexpr std::string_view socket_file_suffix = ".sock";

static_assert(lock_file_suffix.size() == socket_file_suffix.size()
                && lock_file_suffix != socket_file_suffix,
              "distinct suffixes of one length keep derived names from colliding");
static_assert(bus_file_dir.size() + bus_file_prefix.size() + limits::max_bus_name_length
                  + socket_file_suffix.size()
                < 108,
              "a socket path must fit sockaddr_un::sun_path with its zero");

/// Returns an error unless `name` matches [A-Za-z0-9._-]{1,64} and is
/// neither "." nor "..".
std::optional<error> validate_bus_name(std::string_view name);

/// Path of the file whose kernel-released locks guard the roles of bus `name`.
std::string lock_file_path(std::string_view name);

/// Path of the Unix socket on which the processes of bus `name` hand out
/// its segment.
std::string socket_path(std::string_view name);

/// Name of the memfd of bus `name` (shown in /proc/<pid>/maps).
std::string memfd_name(std::string_view name);

/// The bus whose lock file or socket is named `file_name` (a name in
/// /dev/shm, without the directory), if it is one.
std::optional<std::string> bus_of_file_name(std::string_view file_name);

} // namespace shmbus::transport
