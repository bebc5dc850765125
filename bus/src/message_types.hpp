// The element types of CAF messages on the hot path, resolved once per type
// list instead of once per element and message. The bytes are exactly those
// of caf::message::save and ::load (CAF 0.17.6): an object of type number 0
// named "@<>+name1+name2...", then the elements. CAF builds that name per
// message from a lookup per element, and on reading scans its ~40 builtin
// names with a string compare per element before a hash lookup of the
// custom ones, allocating the name and each part. Here a type list maps to
// its names (writing) or its factories (reading) in a bounded cache.
//
// The names stay on the wire: a record is read by whatever build reads it,
// and an unknown or refused name is refused exactly as before
// (guarded_deserializer::refused_object checks a name before it is looked
// up here). save() and load() write and read the object head and flat
// elements straight (the guarded serializers' own writers and readers),
// other elements through CAF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/type_erased_value.hpp>

namespace shmbus::bus {

class guarded_deserializer;
class guarded_serializer;

class message_types {
public:
  /// Type lists each cache holds; past it, the cache starts over (a peer
  /// that sends ever new lists costs lookups, never memory).
  static constexpr size_t max_cached_lists = 256;

  /// Type lists each sending thread remembers.
  static constexpr size_t max_cached_names = 16;

  /// The names and factories of the types `sys` knows (its config may not
  /// change after the system started, CAF's rule too).
  explicit message_types(caf::actor_system& sys);

  message_types(const message_types&) = delete;
  message_types& operator=(const message_types&) = delete;

  /// Writes `x` as caf::message::save does; sec::unknown_type for an element
  /// type without a portable name (its type_info name as context). Any
  /// thread.
  caf::error save(guarded_serializer& sink, const caf::message& x) const;

  /// Reads what save() (or caf::message::save) wrote into `out`; the errors
  /// of caf::message::load. Not thread-safe: one reader at a time (the bus's
  /// I/O thread).
  caf::error load(guarded_deserializer& source, caf::message& out);

  /// Type lists cached for load() now (at most max_cached_lists).
  size_t cached_lists() const noexcept { return lists_.size(); }

private:
  /// How to make a value of one element type.
  struct factory {
    uint16_t builtin = 0; ///< CAF's type number, or 0 for a custom type
    const std::function<caf::type_erased_value_ptr()>* custom = nullptr;
  };

  struct factories {
    std::vector<factory> parts;
    bool flat = false; ///< flat_message_data holds them
  };

  caf::type_erased_value_ptr make(const factory& f) const;

  /// The factories of the elements named in `list` ("@<>+name1+name2...");
  /// null (and `unknown` set) if a name is not known.
  const factories* resolve(const std::string& list, std::string& unknown);

  caf::actor_system& sys_;
  /// Unique per instance, so that a thread's cache of another (maybe
  /// destroyed) instance at the same address is never taken for ours.
  uint64_t id_;
  std::unordered_map<std::string, factory> by_name_;
  std::unordered_map<std::string, factories> lists_;
  /// The last list read, for a stream of messages of one type.
  std::string last_list_;
  const factories* last_ = nullptr;
  /// Reused for each object name read (CAF allocates one per message).
  std::string name_;
};

} // namespace shmbus::bus
