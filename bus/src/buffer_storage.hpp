// The bytes behind a shared_buffer or buffer_writer: a reference held in the
// bus's pool (dropped when the storage goes), or a heap vector.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "shmbus/transport/buffer_pool.hpp"

namespace shmbus::bus {

class buffer_storage {
public:
  /// A heap buffer of `size` zero bytes.
  explicit buffer_storage(size_t size) : heap_(size) {
    data_ = heap_.data();
    size_ = size;
  }

  /// A pool reference this process holds; released with the storage.
  buffer_storage(std::shared_ptr<transport::buffer_pool> pool, transport::buffer_ref ref) noexcept
    : pool_(std::move(pool)), ref_(ref), data_(ref.data), size_(ref.size) {
    // nop
  }

  ~buffer_storage() {
    if (pool_)
      pool_->release(ref_);
  }

  buffer_storage(const buffer_storage&) = delete;
  buffer_storage& operator=(const buffer_storage&) = delete;

  std::byte* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }

  /// Null for a heap buffer.
  const std::shared_ptr<transport::buffer_pool>& pool() const noexcept { return pool_; }
  const transport::buffer_ref& ref() const noexcept { return ref_; }

private:
  std::shared_ptr<transport::buffer_pool> pool_;
  transport::buffer_ref ref_;
  std::vector<std::byte> heap_;
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

/// What the bus's serializer needs to send pool buffers by handle: the
/// destination, and the in-flight references it made (cancelled if the
/// record is not sent).
struct buffer_export {
  std::shared_ptr<transport::buffer_pool> pool;
  uint32_t to_slot = 0;
  uint32_t to_incarnation = 0;
  std::vector<transport::buffer_handle> handles;

  /// Drops the in-flight references of a record that was not sent.
  void cancel() noexcept {
    for (auto& h : handles)
      pool->cancel_export(h);
    handles.clear();
  }
};

/// What the bus's deserializer needs to adopt handles: this process's pool
/// and the slot the record came from (the only one whose handles it takes).
struct buffer_import {
  std::shared_ptr<transport::buffer_pool> pool;
  uint32_t from_slot = 0;
};

} // namespace shmbus::bus
