// Reading a fuzzer's input as a stream of small numbers: what is left when
// the input runs out is zero, so every input is a complete program.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace shmbus::fuzz {

class fuzz_input {
public:
  fuzz_input(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  template <class T>
  T take() {
    T value{};
    auto n = sizeof(T) < size_ ? sizeof(T) : size_;
    std::memcpy(&value, data_, n);
    data_ += n;
    size_ -= n;
    return value;
  }

  /// Copies up to `n` bytes into `out`, zero-filling what the input lacks.
  void take_bytes(void* out, size_t n) {
    auto have = n < size_ ? n : size_;
    std::memcpy(out, data_, have);
    std::memset(static_cast<uint8_t*>(out) + have, 0, n - have);
    data_ += have;
    size_ -= have;
  }

  bool empty() const { return size_ == 0; }
  size_t left() const { return size_; }

private:
  const uint8_t* data_;
  size_t size_;
};

/// A check that must hold whatever the input: a finding if it does not.
inline void require(bool ok) {
  if (!ok)
    __builtin_trap();
}

} // namespace shmbus::fuzz
