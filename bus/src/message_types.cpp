#include "message_types.hpp"

#include "flat_message.hpp"
#include "guarded_deserializer.hpp"
#include "guarded_serializer.hpp"

#include <algorithm>
#include <atomic>
#include <string_view>
#include <type_traits>
#include <typeinfo>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/deserializer.hpp>
#include <caf/detail/dynamic_message_data.hpp>
#include <caf/make_counted.hpp>
#include <caf/sec.hpp>
#include <caf/serializer.hpp>
#include <caf/type_nr.hpp>
#include <caf/uniform_type_info_map.hpp>

namespace shmbus::bus {

namespace {

/// CAF's object name of an empty message, and the prefix of all others.
constexpr std::string_view empty_name = "@<>";
constexpr std::string_view list_prefix = "@<>+";

std::atomic<uint64_t> next_id{1};

using rtti_pair = std::pair<uint16_t, const std::type_info*>;

/// A sending thread's names of recent type lists (see save()).
struct name_cache {
  struct entry {
    std::vector<rtti_pair> types;
    std::string name;
    bool flat = false; ///< every element of flat_message_data's types
  };
  uint64_t owner = 0;
  std::vector<entry> entries;
  size_t next_victim = 0;
};

} // namespace

message_types::message_types(caf::actor_system& sys)
  : sys_(sys), id_(next_id.fetch_add(1, std::memory_order_relaxed)) {
  auto& types = sys.types();
  // Builtins first: CAF's make_value(name) prefers them, too.
  for (uint16_t nr = 1; nr < caf::type_nrs; ++nr)
    by_name_.emplace(types.portable_name(nr, nullptr), factory{nr, nullptr});
  for (auto& [name, make] : sys.config().value_factories_by_name)
    by_name_.emplace(name, factory{0, &make});
}

caf::type_erased_value_ptr message_types::make(const factory& f) const {
  return f.builtin != 0 ? sys_.types().make_value(f.builtin) : (*f.custom)();
}

namespace {

/// One element as caf::binary_serializer writes it (flat_message.hpp).
template <class T>
void write_flat(guarded_serializer& sink, const T& x) {
  if constexpr (std::is_same<T, std::string>::value)
    sink.write_chars(x);
  else if constexpr (std::is_same<T, bool>::value)
    sink.write_int(static_cast<uint8_t>(x ? 1 : 0));
  else if constexpr (std::is_same<T, caf::atom_value>::value)
    sink.write_int(static_cast<uint64_t>(x));
  else
    sink.write_int(x);
}

} // namespace

caf::error message_types::save(guarded_serializer& sink, const caf::message& x) const {
  auto n = x.size();
  thread_local name_cache cache;
  if (cache.owner != id_) {
    cache.entries.clear();
    cache.next_victim = 0;
    cache.owner = id_;
  }
  const name_cache::entry* entry = nullptr;
  for (auto& e : cache.entries) {
    if (e.types.size() != n)
      continue;
    size_t i = 0;
    while (i < n && e.types[i] == x.type(i))
      ++i;
    if (i == n) {
      entry = &e;
      break;
    }
  }
  if (entry == nullptr) {
    name_cache::entry fresh;
    fresh.name = empty_name;
    fresh.flat = n > 0;
    auto& types = sys_.types();
    for (size_t i = 0; i < n; ++i) {
      auto rtti = x.type(i);
      auto& portable = types.portable_name(rtti);
      if (portable == types.default_type_name())
        return caf::make_error(caf::sec::unknown_type,
                               rtti.second != nullptr ? rtti.second->name()
                                                      : "-not-available-");
      fresh.name += '+';
      fresh.name += portable;
      fresh.types.push_back(rtti);
      fresh.flat = fresh.flat && rtti.second == nullptr && flat_message_data::holds(rtti.first);
    }
    if (cache.entries.size() < max_cached_names) {
      cache.entries.push_back(std::move(fresh));
      entry = &cache.entries.back();
    } else {
      auto& victim = cache.entries[cache.next_victim];
      cache.next_victim = (cache.next_victim + 1) % max_cached_names;
      victim = std::move(fresh);
      entry = &victim;
    }
  }
  if (entry->flat) {
    // The bytes of begin_object(0, name) and each element's save().
    sink.write_int(uint16_t{0});
    sink.write_chars(entry->name);
    auto& values = *x.cvals();
    for (size_t i = 0; i < n; ++i)
      flat_message_data::with_type(entry->types[i].first, [&](auto* tag) {
        using type = std::remove_pointer_t<decltype(tag)>;
        write_flat(sink, *static_cast<const type*>(values.get(i)));
      });
    return caf::none;
  }
  // The serializer takes a mutable name (CAF's inspector interface).
  thread_local std::string scratch;
  scratch = entry->name;
  uint16_t zero = 0;
  if (auto err = sink.begin_object(zero, scratch))
    return err;
  for (size_t i = 0; i < n; ++i)
    if (auto err = x.save(i, sink))
      return err;
  return sink.end_object();
}

const message_types::factories* message_types::resolve(const std::string& list,
                                                       std::string& unknown) {
  // load() checked the last list already.
  auto i = lists_.find(list);
  if (i == lists_.end()) {
    factories parts;
    size_t first = list_prefix.size();
    for (;;) {
      auto end = std::min(list.find('+', first), list.size());
      auto part = list.substr(first, end - first);
      auto j = by_name_.find(part);
      if (j == by_name_.end()) {
        unknown = std::move(part);
        return nullptr;
      }
      parts.parts.push_back(j->second);
      if (end == list.size())
        break;
      first = end + 1;
    }
    parts.flat = parts.parts.size() <= flat_message_data::max_elements
                 && std::all_of(parts.parts.begin(), parts.parts.end(),
                                [](const factory& f) { return flat_message_data::holds(f.builtin); });
    if (lists_.size() >= max_cached_lists) {
      lists_.clear();
      last_ = nullptr;
    }
    i = lists_.emplace(list, std::move(parts)).first;
  }
  last_list_ = list;
  last_ = &i->second;
  return last_;
}

caf::error message_types::load(guarded_deserializer& source, caf::message& out) {
  if (source.context() == nullptr)
    return caf::sec::no_context;
  // The object head as binary_deserializer::begin_object reads it: type
  // number 0, then the name, read in place.
  uint16_t zero = 0;
  std::string_view name;
  if (!source.read_int(zero))
    return source.first_error();
  if (zero != 0)
    return caf::sec::unknown_type;
  if (!source.read_chars(name))
    return source.first_error();
  if (name == empty_name) {
    out = caf::message{};
    return caf::none;
  }
  const factories* parts = nullptr;
  if (last_ != nullptr && name == last_list_) {
    parts = last_; // let in and resolved before
  } else {
    if (name.compare(0, list_prefix.size(), list_prefix) != 0)
      return caf::sec::unknown_type;
    if (auto err = guarded_deserializer::refused_object(name))
      return err;
    name_.assign(name.data(), name.size());
    std::string unknown;
    parts = resolve(name_, unknown);
    if (parts == nullptr)
      return caf::make_error(caf::sec::unknown_type, std::move(unknown));
  }
  if (parts->flat) {
    auto data = caf::make_counted<flat_message_data>();
    for (auto& f : parts->parts)
      if (!data->append(f.builtin, source))
        return source.first_error();
    out = caf::message{caf::message::data_ptr{std::move(data)}};
    return caf::none;
  }
  caf::detail::dynamic_message_data::elements values;
  values.reserve(parts->parts.size());
  for (auto& f : parts->parts) {
    auto value = make(f);
    if (auto err = value->load(source))
      return err;
    values.push_back(std::move(value));
  }
  auto data = caf::make_counted<caf::detail::dynamic_message_data>(std::move(values));
  out = caf::message{caf::message::data_ptr{std::move(data)}};
  return caf::none;
}

} // namespace shmbus::bus
