// CAF's binary format read from bytes that another process wrote, with the
// limits CAF's own binary_deserializer leaves out. CAF 0.17.6 trusts its
// peers: a sequence length is believed until the bytes run out (a sequence
// of empty elements loops for as long as the length says), nested messages
// and config_value lists recurse as deep as the bytes go (a 64 KiB record
// overflows the I/O thread's stack), and some types act on the receiving
// process while they are read: a handle of a CAF `local` group creates
// local groups or group proxies that are never freed (record_codec refuses
// the message after reading it, but CAF has made them by then; only
// `shmbus` groups are sent), stream messages index the receiver's
// stream state with unchecked slots and types, and a floating-point value
// that reads as infinite makes CAF loop forever when it is sent on (see
// guarded_serializer.hpp). This reader refuses those
// with an error instead; the caller still catches exceptions (a variant
// with an unknown type tag throws "invalid type found").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <caf/binary_deserializer.hpp>
#include <caf/deserializer.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>

namespace shmbus::bus {

struct buffer_import;

class guarded_deserializer final : public caf::deserializer {
public:
  /// Objects and sequences nested deeper than this are refused.
  static constexpr size_t max_nesting = 64;

  /// Reads `size` bytes at `data`; `ctx` resolves actor handles (the I/O
  /// thread's unit: they become proxies of the bus's registry).
  guarded_deserializer(caf::execution_unit* ctx, const std::byte* data, size_t size);

  /// How pool handles are adopted (records of the bus); null: refused.
  void set_imports(buffer_import* x) noexcept { imports_ = x; }
  buffer_import* imports() const noexcept { return imports_; }

  /// Bytes not read yet.
  size_t remaining() const noexcept { return inner_.remaining(); }

  // -- CAF's binary format without a virtual call and a caf::error per
  // -- field (message_types, flat_message_data). Each returns false once the
  // -- bytes run out or are invalid, with the error noted (first_error()).

  /// The next `n` bytes, consumed; null when fewer remain.
  const std::byte* take(size_t n);

  /// An integer as binary_serializer writes it (network byte order).
  template <class T>
  bool read_int(T& x) {
    static_assert(std::is_integral<T>::value);
    auto bytes = take(sizeof(T));
    if (bytes == nullptr)
      return false;
    uint64_t value = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      value = (value << 8) | std::to_integer<uint8_t>(bytes[i]);
    x = static_cast<T>(static_cast<std::make_unsigned_t<T>>(value));
    return true;
  }

  /// A sequence length as begin_sequence() reads it, with its bound.
  bool read_length(size_t& x);

  /// A string: its length, then its bytes (a view into the input).
  bool read_chars(std::string_view& x);

  /// The first read that failed, even if the CAF code that asked for it
  /// dropped the error (CAF 0.17.6's group inspector reads the module name
  /// and ignores the result, so a truncated group reads as an invalid one).
  const caf::error& first_error() const noexcept { return first_error_; }

  /// True if `type_name` (CAF's portable name of a message element) may
  /// come from another process of the bus.
  static bool accepted_type(std::string_view type_name) noexcept;

  /// Why an object named `name` ("@<>+type1+type2..." for a message) may not
  /// come from another process (an element type that does not cross the
  /// bus); none if it may.
  static caf::error refused_object(std::string_view name);

  caf::error begin_object(uint16_t& typenr, std::string& name) override;
  caf::error end_object() override;
  caf::error begin_sequence(size_t& num) override;
  caf::error end_sequence() override;
  caf::error apply_raw(size_t num_bytes, void* data) override;

protected:
  caf::error apply_impl(int8_t& x) override { return noted(inner_.apply(x)); }
  caf::error apply_impl(uint8_t& x) override { return noted(inner_.apply(x)); }
  caf::error apply_impl(int16_t& x) override { return noted(inner_.apply(x)); }
  caf::error apply_impl(uint16_t& x) override { return noted(inner_.apply(x)); }
  caf::error apply_impl(int32_t& x) override { return noted(inner_.apply(x)); }
  caf::error apply_impl(uint32_t& x) override { return noted(inner_.apply(x)); }
  caf::error apply_impl(int64_t& x) override { return noted(inner_.apply(x)); }
  caf::error apply_impl(uint64_t& x) override { return noted(inner_.apply(x)); }
  caf::error apply_impl(float& x) override;
  caf::error apply_impl(double& x) override;
  caf::error apply_impl(long double& x) override;
  caf::error apply_impl(std::string& x) override { return noted(inner_.apply(x)); }
  caf::error apply_impl(std::u16string& x) override { return noted(inner_.apply(x)); }
  caf::error apply_impl(std::u32string& x) override { return noted(inner_.apply(x)); }

private:
  caf::error enter();
  /// An error if a sequence of `num` elements cannot fit the bytes left.
  caf::error sequence_fits(size_t num) const;
  /// Remembers the first error (see first_error()) and passes it on.
  /// Inline: it runs for every field read.
  caf::error noted(caf::error&& err) {
    if (err && !first_error_)
      first_error_ = err;
    return std::move(err);
  }

  caf::binary_deserializer inner_;
  const std::byte* data_;
  size_t size_;
  buffer_import* imports_ = nullptr;
  size_t depth_ = 0;
  caf::error first_error_;
};

} // namespace shmbus::bus
