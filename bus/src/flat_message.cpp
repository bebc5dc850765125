#include "flat_message.hpp"

#include <string_view>
#include <type_traits>

#include <caf/deserializer.hpp>
#include <caf/detail/stringification_inspector.hpp>
#include <caf/make_type_erased_value.hpp>
#include <caf/serializer.hpp>
#include <caf/type_nr.hpp>

#include "guarded_deserializer.hpp"

namespace shmbus::bus {

namespace {

/// One element as caf::binary_deserializer reads it (see the header).
template <class T>
bool read(guarded_deserializer& in, T& x) {
  if constexpr (std::is_same<T, std::string>::value) {
    std::string_view chars;
    if (!in.read_chars(chars))
      return false;
    x.assign(chars.data(), chars.size());
    return true;
  } else if constexpr (std::is_same<T, bool>::value) {
    uint8_t byte = 0;
    auto ok = in.read_int(byte);
    x = byte != 0;
    return ok;
  } else if constexpr (std::is_same<T, caf::atom_value>::value) {
    uint64_t value = 0;
    auto ok = in.read_int(value);
    x = static_cast<caf::atom_value>(value);
    return ok;
  } else {
    return in.read_int(x);
  }
}

} // namespace

bool flat_message_data::holds(uint16_t nr) noexcept {
  return nr != 0 && with_type(nr, [](auto*) {});
}

bool flat_message_data::append(uint16_t nr, guarded_deserializer& source) {
  auto& slot = values_[size_];
  bool ok = false;
  with_type(nr, [&](auto* tag) {
    using type = std::remove_pointer_t<decltype(tag)>;
    ok = read(source, slot.template emplace<type>());
  });
  types_[size_] = nr;
  token_ = caf::add_to_type_token(token_, nr);
  ++size_;
  return ok;
}

flat_message_data* flat_message_data::copy() const {
  return new flat_message_data(*this);
}

void* flat_message_data::get_mutable(size_t pos) {
  return std::visit([](auto& x) -> void* { return &x; }, values_[pos]);
}

caf::error flat_message_data::load(size_t pos, caf::deserializer& source) {
  return std::visit([&](auto& x) -> caf::error { return source(x); }, values_[pos]);
}

caf::rtti_pair flat_message_data::type(size_t pos) const noexcept {
  return {types_[pos], nullptr}; // builtins carry no type_info (make_rtti_pair)
}

const void* flat_message_data::get(size_t pos) const noexcept {
  return std::visit([](auto& x) -> const void* { return &x; }, values_[pos]);
}

std::string flat_message_data::stringify(size_t pos) const {
  std::string result;
  caf::detail::stringification_inspector f{result};
  std::visit([&](auto& x) { f(x); }, values_[pos]);
  return result;
}

caf::type_erased_value_ptr flat_message_data::copy(size_t pos) const {
  return std::visit(
    [](auto& x) { return caf::make_type_erased_value<std::decay_t<decltype(x)>>(x); },
    values_[pos]);
}

caf::error flat_message_data::save(size_t pos, caf::serializer& sink) const {
  // CAF's inspectors take mutable references; saving does not change x.
  return std::visit(
    [&](auto& x) -> caf::error { return sink(const_cast<std::decay_t<decltype(x)>&>(x)); },
    values_[pos]);
}

} // namespace shmbus::bus
