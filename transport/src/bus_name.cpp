#include "shmbus/transport/bus_name.hpp"

#include "shmbus/transport/config.hpp"

namespace shmbus::transport {

std::optional<error> validate_bus_name(std::string_view name) {
  auto valid_char = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  };
  bool ok = !name.empty() && name.size() <= limits::max_bus_name_length
            && name != "." && name != "..";
  for (auto c : name)
    ok = ok && valid_char(c);
  if (ok)
    return std::nullopt;
  std::string shown;
  for (auto c : name.substr(0, 80))
    shown += (c >= 0x20 && c < 0x7f) ? c : '?';
  return make_error(errc::invalid_bus_name,
                    "invalid bus name '" + shown
                      + "': use 1 to " + std::to_string(limits::max_bus_name_length)
                      + " characters from [A-Za-z0-9._-]");
}

std::string segment_object_name(std::string_view name) {
  return "shmbus-" + std::string(name);
}

std::string segment_file_path(std::string_view name) {
  return "/dev/shm/" + segment_object_name(name);
}

std::string lock_file_path(std::string_view name) {
  return "/dev/shm/shmbus-" + std::string(name) + ".lock";
}

} // namespace shmbus::transport
