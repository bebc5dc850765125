// Forward declarations of the transport layer.
#pragma once

#include <cstdint>

namespace shmbus::transport {

// -- enums --------------------------------------------------------------------

enum class errc : uint8_t;
enum class idle_kind;
enum class loss_cause : uint32_t;
enum class name_entry_state : uint32_t;
enum class node_role : uint32_t;
enum class node_state : uint32_t;
enum class record_kind : uint32_t;

// -- shared-memory data ---------------------------------------------------------

struct name_entry;
struct node_slot;
struct ring_control;
struct segment_header;

// -- classes and structs ------------------------------------------------------

class bus_lock;
class inbox_consumer;
class inbox_handler;
class inbox_reader;
class inbox_ring;
class name_table;
class node;
class node_membership;
class segment;
struct bus_limits;
struct bus_report;
struct error;
struct idle_strategy;
struct inbox_event;
struct liveness_timing;
struct message_view;
struct node_counters;
struct node_options;
struct node_report;
struct peer_info;
struct peer_loss;
struct published_name;

template <class T>
class result;

} // namespace shmbus::transport
