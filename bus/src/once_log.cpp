#include "once_log.hpp"

#include <cstdio>

namespace shmbus::bus {

once_log::once_log(std::string node_name) : node_name_(std::move(node_name)) {
  // nop
}

void once_log::write(const std::string& key, const std::string& text) {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    if (written_.size() >= max_keys)
      written_.clear();
    if (!written_.insert(key).second)
      return;
  }
  write_always(text);
}

void once_log::write_always(const std::string& text) const {
  std::fprintf(stderr, "shmbus[%s]: %s\n", node_name_.c_str(), text.c_str());
}

} // namespace shmbus::bus
