#include "shmbus/process/process_tree.hpp"

#include <cctype>
#include <cstdio>
#include <string>

#include <dirent.h>

namespace shmbus::process {

namespace {

/// Reads pid, state and ppid from /proc/<pid>/stat; false if it is gone.
bool read_stat(const char* pid_dir, process_entry& out) {
  std::string path = std::string{"/proc/"} + pid_dir + "/stat";
  auto* f = std::fopen(path.c_str(), "re");
  if (!f)
    return false;
  char buf[1024];
  auto n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // parse from the last ')'.
  std::string text{buf, n};
  auto close = text.rfind(')');
  if (close == std::string::npos)
    return false;
  int ppid = 0;
  char state = '?';
  if (std::sscanf(text.c_str() + close + 1, " %c %d", &state, &ppid) != 2)
    return false;
  out.pid = static_cast<pid_t>(std::stol(text));
  out.parent = static_cast<pid_t>(ppid);
  out.state = state;
  return true;
}

} // namespace

std::vector<process_entry> children_of(pid_t parent) {
  std::vector<process_entry> result;
  auto* dir = ::opendir("/proc");
  if (!dir)
    return result;
  while (auto* ent = ::readdir(dir)) {
    if (!std::isdigit(static_cast<unsigned char>(ent->d_name[0])))
      continue;
    process_entry x;
    if (read_stat(ent->d_name, x) && x.parent == parent)
      result.push_back(x);
  }
  ::closedir(dir);
  return result;
}

} // namespace shmbus::process
