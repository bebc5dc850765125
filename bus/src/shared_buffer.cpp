#include "shmbus/bus/shared_buffer.hpp"

#include <cstring>

#include <caf/deserializer.hpp>
#include <caf/sec.hpp>
#include <caf/serializer.hpp>

#include "buffer_storage.hpp"
#include "guarded_deserializer.hpp"
#include "guarded_serializer.hpp"

namespace shmbus::bus {

namespace {

/// The first byte of a serialized buffer.
enum class buffer_tag : uint8_t { bytes = 0, handle = 1 };

/// A heap buffer read from bytes is refused past this (a hostile length
/// must not make the receiver allocate whatever it says).
constexpr uint64_t max_byte_buffer = transport::limits::max_pool_block;

} // namespace

shared_buffer::shared_buffer(std::shared_ptr<buffer_storage> storage) noexcept
  : storage_(std::move(storage)) {
  if (storage_) {
    data_ = storage_->data();
    size_ = storage_->size();
  }
}

bool shared_buffer::in_pool() const noexcept {
  return storage_ && storage_->pool();
}

shared_buffer shared_buffer::copy_of(caf::span<const std::byte> bytes) {
  auto storage = std::make_shared<buffer_storage>(bytes.size());
  if (!bytes.empty())
    std::memcpy(storage->data(), bytes.data(), bytes.size());
  return shared_buffer{std::move(storage)};
}

buffer_writer::buffer_writer(std::shared_ptr<buffer_storage> storage) noexcept
  : storage_(std::move(storage)) {
  if (storage_) {
    data_ = storage_->data();
    size_ = storage_->size();
  }
}

buffer_writer buffer_writer::on_heap(size_t size) {
  return buffer_writer{std::make_shared<buffer_storage>(size)};
}

bool buffer_writer::in_pool() const noexcept {
  return storage_ && storage_->pool();
}

shared_buffer buffer_writer::freeze() && {
  if (storage_ && storage_->pool())
    storage_->pool()->seal(storage_->ref());
  data_ = nullptr;
  size_ = 0;
  return shared_buffer{std::move(storage_)};
}

caf::error inspect(caf::serializer& f, shared_buffer& x) {
  auto* guarded = dynamic_cast<guarded_serializer*>(&f);
  auto* exports = guarded != nullptr ? guarded->exports() : nullptr;
  auto& storage = x.storage();
  if (exports != nullptr && storage && storage->pool() == exports->pool) {
    auto handle = exports->pool->export_to(storage->ref(), exports->to_slot,
                                           exports->to_incarnation);
    // Without a free entry for the in-flight reference it goes as bytes.
    if (handle) {
      exports->handles.push_back(*handle);
      auto tag = static_cast<uint8_t>(buffer_tag::handle);
      uint64_t size = handle->size;
      return f(tag, handle->block, handle->generation, handle->sender_slot, handle->entry,
               size);
    }
  }
  auto tag = static_cast<uint8_t>(buffer_tag::bytes);
  uint64_t size = x.size();
  if (auto err = f(tag, size))
    return err;
  if (size == 0)
    return caf::none;
  return f.apply_raw(size, const_cast<std::byte*>(x.data()));
}

caf::error inspect(caf::deserializer& f, shared_buffer& x) {
  uint8_t tag = 0;
  if (auto err = f(tag))
    return err;
  auto* guarded = dynamic_cast<guarded_deserializer*>(&f);
  if (tag == static_cast<uint8_t>(buffer_tag::bytes)) {
    uint64_t size = 0;
    if (auto err = f(size))
      return err;
    if (size > max_byte_buffer || (guarded != nullptr && size > guarded->remaining()))
      return caf::make_error(caf::sec::invalid_argument,
                             "a shared_buffer of " + std::to_string(size)
                               + " bytes, more than the record holds or "
                                 "transport::limits::max_pool_block");
    auto storage = std::make_shared<buffer_storage>(static_cast<size_t>(size));
    if (size > 0)
      if (auto err = f.apply_raw(size, storage->data()))
        return err;
    x = shared_buffer{std::move(storage)};
    return caf::none;
  }
  if (tag != static_cast<uint8_t>(buffer_tag::handle))
    return caf::make_error(caf::sec::invalid_argument,
                           "a shared_buffer with tag " + std::to_string(tag) + " (0 or 1)");
  transport::buffer_handle h;
  if (auto err = f(h.block, h.generation, h.sender_slot, h.entry, h.size))
    return err;
  auto* imports = guarded != nullptr ? guarded->imports() : nullptr;
  if (imports == nullptr || !imports->pool)
    return caf::make_error(caf::sec::invalid_argument,
                           "a shared_buffer handle outside a bus with a buffer pool");
  if (h.sender_slot != imports->from_slot)
    return caf::make_error(caf::sec::invalid_argument,
                           "a shared_buffer handle naming slot " + std::to_string(h.sender_slot)
                             + " in a record from slot " + std::to_string(imports->from_slot));
  auto ref = imports->pool->adopt(h);
  if (!ref)
    return caf::make_error(caf::sec::invalid_argument, ref.err().message);
  x = shared_buffer{std::make_shared<buffer_storage>(imports->pool, *ref)};
  return caf::none;
}

std::string to_string(const shared_buffer& x) {
  return "shared_buffer(" + std::to_string(x.size()) + " bytes, "
         + (x.in_pool() ? "pool" : "heap") + ")";
}

bool operator==(const shared_buffer& x, const shared_buffer& y) noexcept {
  return x.size() == y.size()
         && (x.data() == y.data() || x.empty()
             || std::memcmp(x.data(), y.data(), x.size()) == 0);
}

} // namespace shmbus::bus
