// Big payloads without copies: bytes that an actor fills once and then sends
// inside any CAF message, to any number of receivers and hops. Between
// processes of a bus only a handle crosses the ring (the bytes stay in the
// bus's buffer pool, transport/buffer_pool.hpp); everywhere else (CAF's TCP
// networking, a process without the bus) a buffer serializes as its bytes
// and arrives as a heap buffer, so the same code works anywhere.
//
//   auto w = node.make_buffer(n);             // caf::expected<buffer_writer>
//   std::memcpy(w->data(), src, n);           // fill it once
//   self->send(a, std::move(*w).freeze());    // shared_buffer: read-only
//
// A buffer_writer cannot be sent (it is not a message type); freeze() turns
// it into a shared_buffer, which no handle can write: immutability is the
// type's. A process that holds a pool buffer holds a reference in the
// pool; when the last one goes (in every process), its block is free again.
// A process killed while holding one loses its references with it: the
// server drops them when it handles the loss.
//
// Threads: a shared_buffer is a value, safe to copy and read from any
// thread at once; a buffer_writer belongs to one thread at a time.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/span.hpp>

namespace shmbus::bus {

class buffer_storage;

/// What node::make_buffer does when the pool cannot serve a request.
enum class buffer_fallback {
  none, ///< fail with errc::pool_exhausted
  heap, ///< give a heap buffer (it crosses the bus as bytes)
};

/// Read-only bytes, in the bus's pool or on the heap.
class shared_buffer {
public:
  shared_buffer() noexcept = default;

  const std::byte* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  caf::span<const std::byte> bytes() const noexcept { return {data_, size_}; }

  /// Whether the bytes are in a bus's pool (else on the heap).
  bool in_pool() const noexcept;

  /// A heap buffer holding a copy of `bytes`.
  static shared_buffer copy_of(caf::span<const std::byte> bytes);

  /// The storage behind it (the bus's (de)serialization uses it).
  const std::shared_ptr<buffer_storage>& storage() const noexcept { return storage_; }

  explicit shared_buffer(std::shared_ptr<buffer_storage> storage) noexcept;

private:
  std::shared_ptr<buffer_storage> storage_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

/// A buffer being filled: writable by its one owner until freeze().
class buffer_writer {
public:
  buffer_writer() noexcept = default;
  buffer_writer(buffer_writer&&) noexcept = default;
  buffer_writer& operator=(buffer_writer&&) noexcept = default;
  buffer_writer(const buffer_writer&) = delete;
  buffer_writer& operator=(const buffer_writer&) = delete;

  /// A heap buffer of `size` zero bytes.
  static buffer_writer on_heap(size_t size);

  std::byte* data() noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  caf::span<std::byte> bytes() noexcept { return {data_, size_}; }
  bool in_pool() const noexcept;

  /// Seals the bytes: from now on nobody writes them. The writer is empty
  /// afterwards.
  shared_buffer freeze() &&;

  explicit buffer_writer(std::shared_ptr<buffer_storage> storage) noexcept;

private:
  std::shared_ptr<buffer_storage> storage_;
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

/// Bytes, or between processes of one bus a pool handle (see the top).
caf::error inspect(caf::serializer& f, shared_buffer& x);
caf::error inspect(caf::deserializer& f, shared_buffer& x);
/// "shared_buffer(1048576 bytes, pool)".
std::string to_string(const shared_buffer& x);

/// Same bytes.
bool operator==(const shared_buffer& x, const shared_buffer& y) noexcept;

} // namespace shmbus::bus
