// Forward declarations of the actors layer: module processes and the
// launcher, on top of the bus, the supervisor and OS processes.
#pragma once

#include <cstdint>

namespace shmbus::actors {

// -- enums --------------------------------------------------------------------

enum class errc : uint8_t;
enum class output_stream : uint8_t;

// -- classes and structs ------------------------------------------------------

class launcher;
struct launcher_options;
struct module_spec;

} // namespace shmbus::actors
