// Errors of the transport: an enum that says what happened plus a message
// that names the thing and the remedy. The data path returns these, it never
// throws. Value types: as thread-safe as an int or a std::string.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace shmbus::transport {

enum class errc : uint8_t {
  ok = 0,
  invalid_bus_name,
  invalid_argument,
  bus_not_found,
  layout_mismatch,
  server_running,
  clients_alive,
  bus_in_use,
  bus_full,
  not_attached,
  message_too_large,
  inbox_full,
  peer_lost,
  corrupt_record,
  /// A word of the node table that another process wrote contradicts the
  /// kernel (a pid that does not hold its slot, an overwritten slot, a
  /// heartbeat word set back): reported, repaired by its owner, never acted on.
  table_tampered,
  name_not_found,
  name_in_use,
  name_table_full,
  timeout,
  system_error,
  evicted,
  supervision_table_full,
  /// No free block of the size asked for in the buffer pool (or no pool).
  pool_exhausted,
  /// This node holds as many buffer references as its holder list has entries.
  holder_list_full,
  /// A buffer handle that names no buffer in flight to this node.
  invalid_handle,
  /// This node shows as many groups to tools as its group summary holds.
  group_summary_full,
};

/// Short identifier of `x`, e.g. "inbox_full".
const char* to_string(errc x) noexcept;

struct error {
  errc code = errc::ok;
  std::string message;

  explicit operator bool() const noexcept { return code != errc::ok; }
};

inline error make_error(errc code, std::string message) {
  return error{code, std::move(message)};
}

/// Value or error, in the style of std::expected (C++23).
template <class T>
class result {
public:
  result(T value) : data_(std::move(value)) {}
  result(error err) : data_(std::move(err)) {}

  bool has_value() const noexcept { return data_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(data_); }
  T&& value() && { return std::get<0>(std::move(data_)); }
  T& operator*() & { return value(); }
  T* operator->() { return &value(); }

  const error& err() const { return std::get<1>(data_); }

private:
  std::variant<T, error> data_;
};

} // namespace shmbus::transport
