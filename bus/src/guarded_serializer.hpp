// CAF's binary serializer, refusing what CAF 0.17.6 cannot write: its
// IEEE-754 packing (detail::pack754) halves an infinite value until it
// drops below 2, which never happens, so serializing +-infinity loops
// forever, and a NaN comes out as an undefined integer conversion. A
// sender would hang in the middle of a send (on the bus's I/O thread with
// inline dispatch: the whole process). This writer fails with an error
// instead; everything else is CAF's binary format, unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <caf/binary_serializer.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/serializer.hpp>

namespace shmbus::bus {

struct buffer_export;

class guarded_serializer final : public caf::serializer {
public:
  /// Appends to `buf`.
  guarded_serializer(caf::actor_system& sys, std::vector<char>& buf);

  /// Where pool buffers go by handle (a record to a process of the bus);
  /// null: they go as bytes.
  void set_exports(buffer_export* x) noexcept { exports_ = x; }
  buffer_export* exports() const noexcept { return exports_; }

  // -- CAF's binary format without a virtual call and a caf::error per field
  // -- (message_types).

  /// An integer in network byte order, as binary_serializer writes it.
  template <class T>
  void write_int(T x) {
    static_assert(std::is_integral<T>::value);
    auto value = static_cast<std::make_unsigned_t<T>>(x);
    char bytes[sizeof(T)];
    for (size_t i = sizeof(T); i > 0; --i) {
      bytes[i - 1] = static_cast<char>(value & 0xFF);
      value = static_cast<std::make_unsigned_t<T>>(value >> 4 >> 4);
    }
    inner_.apply_raw(sizeof(T), bytes);
  }

  /// A string: its length as begin_sequence() writes it, then its bytes.
  void write_chars(std::string_view x) {
    size_t length = x.size();
    inner_.begin_sequence(length);
    inner_.apply_raw(x.size(), const_cast<char*>(x.data()));
  }

  caf::error begin_object(uint16_t& typenr, std::string& name) override {
    return inner_.begin_object(typenr, name);
  }
  caf::error end_object() override { return inner_.end_object(); }
  caf::error begin_sequence(size_t& num) override { return inner_.begin_sequence(num); }
  caf::error end_sequence() override { return inner_.end_sequence(); }
  caf::error apply_raw(size_t num_bytes, void* data) override {
    return inner_.apply_raw(num_bytes, data);
  }

protected:
  caf::error apply_impl(int8_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(uint8_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(int16_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(uint16_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(int32_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(uint32_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(int64_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(uint64_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(float& x) override;
  caf::error apply_impl(double& x) override;
  caf::error apply_impl(long double& x) override;
  caf::error apply_impl(std::string& x) override { return inner_.apply(x); }
  caf::error apply_impl(std::u16string& x) override { return inner_.apply(x); }
  caf::error apply_impl(std::u32string& x) override { return inner_.apply(x); }

private:
  caf::binary_serializer inner_;
  buffer_export* exports_ = nullptr;
};

/// The error for a floating-point value that cannot cross (see above).
caf::error not_finite_error();

} // namespace shmbus::bus
