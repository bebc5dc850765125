// Forward declarations of the bus layer.
#pragma once

#include <cstdint>

namespace shmbus::bus {

enum class errc : uint8_t;
enum class stop_cause;

class bus_module;
class config;
class node;
struct bus_settings;
struct loss_report;
struct peer_view;
struct stop_reason;

} // namespace shmbus::bus
