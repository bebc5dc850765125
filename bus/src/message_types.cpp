#include "message_types.hpp"

#include <algorithm>
#include <atomic>
#include <string_view>
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

caf::error message_types::save(caf::serializer& sink, const caf::message& x) const {
  uint16_t zero = 0;
  auto n = x.size();
  thread_local name_cache cache;
  if (cache.owner != id_) {
    cache.entries.clear();
    cache.next_victim = 0;
    cache.owner = id_;
  }
  const std::string* name = nullptr;
  for (auto& e : cache.entries) {
    if (e.types.size() != n)
      continue;
    size_t i = 0;
    while (i < n && e.types[i] == x.type(i))
      ++i;
    if (i == n) {
      name = &e.name;
      break;
    }
  }
  if (name == nullptr) {
    name_cache::entry fresh;
    fresh.name = empty_name;
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
    }
    if (cache.entries.size() < max_cached_names) {
      cache.entries.push_back(std::move(fresh));
      name = &cache.entries.back().name;
    } else {
      auto& victim = cache.entries[cache.next_victim];
      cache.next_victim = (cache.next_victim + 1) % max_cached_names;
      victim = std::move(fresh);
      name = &victim.name;
    }
  }
  // The serializer takes a mutable name (CAF's inspector interface).
  thread_local std::string scratch;
  scratch = *name;
  if (auto err = sink.begin_object(zero, scratch))
    return err;
  for (size_t i = 0; i < n; ++i)
    if (auto err = x.save(i, sink))
      return err;
  return sink.end_object();
}

const message_types::factories* message_types::resolve(const std::string& list,
                                                       std::string& unknown) {
  if (last_ != nullptr && list == last_list_)
    return last_;
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
      parts.push_back(j->second);
      if (end == list.size())
        break;
      first = end + 1;
    }
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

caf::error message_types::load(caf::deserializer& source, caf::message& out) {
  if (source.context() == nullptr)
    return caf::sec::no_context;
  uint16_t zero = 0;
  if (auto err = source.begin_object(zero, name_))
    return err;
  if (zero != 0)
    return caf::sec::unknown_type;
  if (name_ == empty_name) {
    out = caf::message{};
    return source.end_object();
  }
  if (name_.compare(0, list_prefix.size(), list_prefix) != 0)
    return caf::sec::unknown_type;
  std::string unknown;
  auto* parts = resolve(name_, unknown);
  if (parts == nullptr)
    return caf::make_error(caf::sec::unknown_type, std::move(unknown));
  caf::detail::dynamic_message_data::elements values;
  values.reserve(parts->size());
  for (auto& f : *parts) {
    auto value = make(f);
    if (auto err = value->load(source))
      return err;
    values.push_back(std::move(value));
  }
  if (auto err = source.end_object())
    return err;
  auto data = caf::make_counted<caf::detail::dynamic_message_data>(std::move(values));
  out = caf::message{caf::message::data_ptr{std::move(data)}};
  return caf::none;
}

} // namespace shmbus::bus
