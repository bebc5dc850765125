#include "once_log.hpp"

#include <unistd.h>

#include "shmbus/log/logger.hpp"
#include "shmbus/transport/node.hpp"

namespace shmbus::bus {

once_log::once_log(std::string node_name, const transport::node& node)
  : node_name_(std::move(node_name)), errors_(node.shared_segment()) {
  reporter_.slot = node.slot();
  reporter_.incarnation = node.incarnation();
  reporter_.pid = static_cast<int32_t>(::getpid());
  reporter_.node_name = node_name_;
}

void once_log::write(const std::string& key, const std::string& text) {
  bool first = false;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    if (written_.size() >= max_keys)
      written_.clear();
    auto [it, inserted] = written_.emplace(key, transport::error_log::no_entry);
    first = inserted;
    it->second = errors_.report(key, text, reporter_, it->second);
  }
  if (first)
    log::write(log::level::warning, "bus", "bus_error", text,
               {{"node", node_name_}, {"kind", key}});
}

void once_log::write_always(const std::string& text) const {
  log::write(log::level::info, "bus", "bus_note", text, {{"node", node_name_}});
}

} // namespace shmbus::bus
