#include "shmbus/transport/bus_name.hpp"

namespace shmbus::transport {

namespace {

std::string derived(std::string_view dir, std::string_view name, std::string_view suffix) {
  std::string result;
  result.reserve(dir.size() + bus_file_prefix.size() + name.size() + suffix.size());
  result.append(dir).append(bus_file_prefix).append(name).append(suffix);
  return result;
}

} // namespace

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
                    "invalid bus name '" + shown + "' (" + std::to_string(name.size())
                      + " bytes): use 1 to " + std::to_string(limits::max_bus_name_length)
                      + " characters from [A-Za-z0-9._-], not \".\" or \"..\"");
}

std::string lock_file_path(std::string_view name) {
  return derived(bus_file_dir, name, lock_file_suffix);
}

std::string socket_path(std::string_view name) {
  return derived(bus_file_dir, name, socket_file_suffix);
}

std::string memfd_name(std::string_view name) {
  return derived("", name, "");
}

std::optional<std::string> bus_of_file_name(std::string_view file_name) {
  if (file_name.substr(0, bus_file_prefix.size()) != bus_file_prefix)
    return std::nullopt;
  auto rest = file_name.substr(bus_file_prefix.size());
  for (auto suffix : {lock_file_suffix, socket_file_suffix}) {
    if (rest.size() <= suffix.size()
        || rest.substr(rest.size() - suffix.size()) != suffix)
      continue;
    auto bus = rest.substr(0, rest.size() - suffix.size());
    if (!validate_bus_name(bus))
      return std::string(bus);
  }
  return std::nullopt;
}

} // namespace shmbus::transport
