// A received caf::message whose elements are all of CAF's flat builtin
// types (atoms, bool, integers, strings), in one allocation and read
// straight from the bytes. caf::message::load makes a dynamic_message_data:
// an allocation per element, a vector of them and itself, and each element
// read through caf::deserializer (a virtual call and a caf::error per
// field). Decoding and freeing an atom, an integer and a 64-byte string
// took ~400 ns that way on the project's VM, ~190 ns this way. The bytes
// are CAF 0.17.6's binary format (integers big-endian, atoms as 64-bit
// integers, bool as one byte, strings as a varbyte length and the bytes),
// read with guarded_deserializer's bounds. To actors it is any
// caf::message: same type token, element types and values, as CAF's own
// tuple_vals on the sending side.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include <caf/atom.hpp>
#include <caf/detail/message_data.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/type_nr.hpp>

namespace shmbus::bus {

class guarded_deserializer;

class flat_message_data final : public caf::detail::message_data {
public:
  /// Elements a flat message holds at most (larger ones take CAF's way).
  static constexpr size_t max_elements = 4;

  /// True if CAF's builtin type number `nr` is one a flat message holds.
  static bool holds(uint16_t nr) noexcept;

  /// Calls f(static_cast<T*>(nullptr)) for the flat type T whose CAF type
  /// number is `nr`; false if there is none.
  template <class F>
  static bool with_type(uint16_t nr, F&& f) {
    return with_type(nr, f, types{});
  }

  flat_message_data() = default;
  flat_message_data(const flat_message_data&) = default;

  /// Appends an element of builtin type `nr` (holds(nr), fewer than
  /// max_elements so far) read from `source`; false if its bytes ran out or
  /// are invalid (source.first_error() says which). A bool, not a
  /// caf::error: this runs per element of every message received.
  bool append(uint16_t nr, guarded_deserializer& source);

  // -- caf::detail::message_data ----------------------------------------------

  flat_message_data* copy() const override;
  using message_data::copy;
  void* get_mutable(size_t pos) override;
  caf::error load(size_t pos, caf::deserializer& source) override;
  size_t size() const noexcept override { return size_; }
  uint32_t type_token() const noexcept override { return token_; }
  caf::rtti_pair type(size_t pos) const noexcept override;
  const void* get(size_t pos) const noexcept override;
  std::string stringify(size_t pos) const override;
  caf::type_erased_value_ptr copy(size_t pos) const override;
  caf::error save(size_t pos, caf::serializer& sink) const override;

private:
  template <class... Ts>
  struct type_list {};

  using types = type_list<caf::atom_value, bool, int8_t, uint8_t, int16_t, uint16_t, int32_t,
                          uint32_t, int64_t, uint64_t, std::string>;

  using value = std::variant<caf::atom_value, bool, int8_t, uint8_t, int16_t, uint16_t, int32_t,
                             uint32_t, int64_t, uint64_t, std::string>;

  template <class F, class... Ts>
  static bool with_type(uint16_t nr, F& f, type_list<Ts...>) {
    return ((caf::type_nr<Ts>::value == nr ? (f(static_cast<Ts*>(nullptr)), true) : false)
            || ...);
  }

  std::array<value, max_elements> values_;
  std::array<uint16_t, max_elements> types_{};
  size_t size_ = 0;
  uint32_t token_ = 0xFFFFFFFF; // CAF's token of an empty list
};

} // namespace shmbus::bus
