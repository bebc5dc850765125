// Why a process operation failed: the system's error number and a sentence
// that names the executable, the failing call and the reason. CAF-free, so
// that the transport tests and the benchmarks can use this library.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "shmbus/process/fwd.hpp"

namespace shmbus::process {

struct error {
  /// The errno value of the failing call; EINVAL for invalid options.
  int code = 0;
  /// "cannot start /usr/bin/x: posix_spawn: No such file or directory".
  std::string message;
};

/// A value or the error that prevented it, in the style of std::expected.
template <class T>
class result {
public:
  result(T value) : value_(std::move(value)) {}
  result(error err) : error_(std::move(err)) {}

  explicit operator bool() const noexcept {
    return value_.has_value();
  }

  /// The value; throws std::runtime_error with the error's message if there
  /// is none (for callers such as tests, for which a failure is fatal).
  T& value() & {
    if (!value_)
      throw std::runtime_error(error_->message);
    return *value_;
  }
  T&& value() && {
    return std::move(value());
  }

  /// Precondition: a value.
  T& operator*() & {
    return *value_;
  }
  T* operator->() {
    return &*value_;
  }

  /// Precondition: no value.
  const error& err() const {
    return *error_;
  }

private:
  std::optional<T> value_;
  std::optional<error> error_;
};

} // namespace shmbus::process
