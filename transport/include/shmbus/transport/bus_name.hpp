// Bus names and the file-system paths derived from them. Pure functions:
// never block, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "shmbus/transport/error.hpp"

namespace shmbus::transport {

/// Returns an error unless `name` matches [A-Za-z0-9._-]{1,64}.
std::optional<error> validate_bus_name(std::string_view name);

/// Name of the POSIX shared-memory object (shm_open) of bus `name`.
std::string segment_object_name(std::string_view name);

/// Path of the file whose kernel-released locks guard the roles of bus `name`.
std::string lock_file_path(std::string_view name);

/// Path under /dev/shm of the segment, for messages.
std::string segment_file_path(std::string_view name);

} // namespace shmbus::transport
