#include "bus_file.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

#include <pwd.h>
#include <unistd.h>

namespace shmbus::transport::detail {

namespace {

const char* type_text(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFSOCK: return "a socket";
    case S_IFLNK: return "a symbolic link";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    default: return "a device or special file";
  }
}

std::string name_remedy(std::string_view bus) {
  return "ask its owner or root to remove it, or use another bus name than '"
         + std::string(bus) + "'";
}

} // namespace

std::string user_text(uid_t uid) {
  std::vector<char> buf(4096);
  struct passwd pw;
  struct passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr)
    return std::string(found->pw_name) + " (uid " + std::to_string(uid) + ")";
  return "uid " + std::to_string(uid);
}

bool in_group(gid_t gid) noexcept {
  if (::getegid() == gid)
    return true;
  gid_t groups[256];
  auto n = ::getgroups(256, groups);
  for (int i = 0; i < n; ++i)
    if (groups[i] == gid)
      return true;
  return false;
}

std::optional<error> check_bus_file(const struct stat& st, const std::string& path,
                                    std::string_view bus, mode_t type, file_owner who) {
  if ((st.st_mode & S_IFMT) != type)
    return make_error(errc::system_error,
                      path + " is " + type_text(st.st_mode) + ", not "
                        + type_text(type) + ": shmbus never follows links or uses "
                        "files it did not make; " + name_remedy(bus));
  if (st.st_nlink > 1)
    return make_error(errc::system_error,
                      path + " has " + std::to_string(st.st_nlink)
                        + " hard links: another name points to the same file; "
                        + name_remedy(bus));
  if (who == file_owner::any || st.st_uid == ::geteuid())
    return std::nullopt;
  constexpr mode_t group_rw = S_IRGRP | S_IWGRP;
  if ((st.st_mode & group_rw) == group_rw && in_group(st.st_gid))
    return std::nullopt; // a bus of our group (file-mode grants the group)
  return make_error(errc::system_error,
                    path + " belongs to user " + user_text(st.st_uid)
                      + ": another user holds bus name '" + std::string(bus)
                      + "'; " + name_remedy(bus));
}

error describe_open_failure(const std::string& path, std::string_view bus, mode_t type,
                            int code) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (auto err = check_bus_file(st, path, bus, type))
      return *err;
  }
  return make_error(errc::system_error, "cannot open " + path + ": " + std::strerror(code));
}

} // namespace shmbus::transport::detail
