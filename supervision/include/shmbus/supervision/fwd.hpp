// Forward declarations of the supervision layer (CAF only, no bus).
#pragma once

#include <cstdint>

namespace shmbus::supervision {

// -- enums --------------------------------------------------------------------

enum class child_kind : uint8_t;
enum class child_state : uint8_t;
enum class errc : uint8_t;
enum class restart_strategy : uint8_t;
enum class restart_type : uint8_t;
enum class shutdown_mode : uint8_t;

// -- classes and structs ------------------------------------------------------

class restart_intensity;
class supervisor_observer;
struct backoff_options;
struct child_counts;
struct child_info;
struct child_spec;
struct shutdown_policy;
struct supervisor_flags;
struct supervisor_snapshot;

} // namespace shmbus::supervision
