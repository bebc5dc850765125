#include "guarded_deserializer.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include <caf/sec.hpp>

#include "guarded_serializer.hpp"

namespace shmbus::bus {

namespace {

/// Element types that do not cross the bus (see the header): CAF's group
/// and stream protocol messages and timeouts (they act on the receiver's
/// internal state without checks). Groups themselves cross; record_codec
/// refuses those of other modules than `shmbus`.
constexpr std::array<std::string_view, 5> refused_types = {
  "@group_down", "@open_stream_msg", "@upstream_msg", "@downstream_msg", "@timeout",
};

/// Longest accepted object name a thread remembers (see begin_object).
constexpr size_t max_remembered_name = 256;

} // namespace

guarded_deserializer::guarded_deserializer(caf::execution_unit* ctx, const std::byte* data,
                                           size_t size)
  : caf::deserializer(ctx),
    inner_(ctx, reinterpret_cast<const char*>(data), size),
    data_(data),
    size_(size) {
  // nop
}

bool guarded_deserializer::accepted_type(std::string_view type_name) noexcept {
  // Every refused name is a builtin one: "@" and at least "@timeout".
  if (type_name.size() < 8 || type_name[0] != '@')
    return true;
  for (auto refused : refused_types)
    if (type_name == refused)
      return false;
  return true;
}

caf::error guarded_deserializer::enter() {
  if (++depth_ > max_nesting)
    return caf::make_error(caf::sec::invalid_argument,
                           "values nested deeper than " + std::to_string(max_nesting)
                             + " levels");
  return caf::none;
}

caf::error guarded_deserializer::refused_object(std::string_view name) {
  while (!name.empty()) {
    auto element = name.substr(0, name.find('+'));
    if (!accepted_type(element))
      return caf::make_error(caf::sec::invalid_argument,
                             "a message element of type " + std::string{element}
                               + ", which does not cross the bus (CAF's group and stream "
                                 "protocol messages and timeouts stay within one process)");
    name.remove_prefix(std::min(name.size(), element.size() + 1));
  }
  return caf::none;
}

caf::error guarded_deserializer::begin_object(uint16_t& typenr, std::string& name) {
  if (auto err = enter())
    return noted(std::move(err));
  if (auto err = inner_.begin_object(typenr, name))
    return noted(std::move(err));
  // A message names its element types as "@<>+type1+type2...". A stream of
  // messages repeats one name: the thread remembers the last one it let in.
  thread_local std::string last_accepted;
  if (name == last_accepted)
    return caf::none;
  if (auto err = refused_object(name))
    return noted(std::move(err));
  if (name.size() <= max_remembered_name)
    last_accepted = name;
  return caf::none;
}

caf::error guarded_deserializer::end_object() {
  if (depth_ > 0)
    --depth_;
  return inner_.end_object();
}

caf::error guarded_deserializer::begin_sequence(size_t& num) {
  if (auto err = enter())
    return noted(std::move(err));
  if (auto err = inner_.begin_sequence(num))
    return noted(std::move(err));
  return noted(sequence_fits(num));
}

caf::error guarded_deserializer::end_sequence() {
  if (depth_ > 0)
    --depth_;
  return inner_.end_sequence();
}

template <class Float>
caf::error read_finite(caf::binary_deserializer& in, Float& x) {
  if (auto err = in.apply(x))
    return err;
  return std::isfinite(x) ? caf::none : not_finite_error();
}

caf::error guarded_deserializer::apply_impl(float& x) {
  return noted(read_finite(inner_, x));
}

caf::error guarded_deserializer::apply_impl(double& x) {
  return noted(read_finite(inner_, x));
}

caf::error guarded_deserializer::apply_impl(long double& x) {
  return noted(read_finite(inner_, x));
}

caf::error guarded_deserializer::sequence_fits(size_t num) const {
  // Every element of the types that cross the bus takes at least one byte.
  if (num > inner_.remaining())
    return caf::make_error(caf::sec::end_of_stream,
                           "a sequence of " + std::to_string(num) + " elements in "
                             + std::to_string(inner_.remaining()) + " remaining bytes");
  return caf::none;
}

bool guarded_deserializer::read_length(size_t& x) {
  // binary_serializer's varbyte: 7 bits per byte, least significant first,
  // the high bit set on all but the last; CAF keeps 32 bits.
  uint64_t value = 0;
  for (int n = 0;; ++n) {
    if (n == 5) {
      noted(caf::make_error(caf::sec::invalid_argument, "a sequence length of more than 5 bytes"));
      return false;
    }
    uint8_t low7 = 0;
    if (!read_int(low7))
      return false;
    value |= static_cast<uint64_t>(low7 & 0x7F) << (7 * n);
    if ((low7 & 0x80) == 0)
      break;
  }
  x = static_cast<uint32_t>(value);
  if (auto err = sequence_fits(x)) {
    noted(std::move(err));
    return false;
  }
  return true;
}

bool guarded_deserializer::read_chars(std::string_view& x) {
  size_t length = 0;
  if (!read_length(length))
    return false;
  auto chars = take(length);
  if (chars == nullptr)
    return false;
  x = std::string_view{reinterpret_cast<const char*>(chars), length};
  return true;
}

const std::byte* guarded_deserializer::take(size_t n) {
  if (inner_.remaining() < n) {
    noted(caf::make_error(caf::sec::end_of_stream,
                          std::to_string(n) + " bytes wanted, "
                            + std::to_string(inner_.remaining()) + " remaining"));
    return nullptr;
  }
  auto result = data_ + (size_ - inner_.remaining());
  inner_.skip(n);
  return result;
}

caf::error guarded_deserializer::apply_raw(size_t num_bytes, void* data) {
  return noted(inner_.apply_raw(num_bytes, data));
}

} // namespace shmbus::bus
