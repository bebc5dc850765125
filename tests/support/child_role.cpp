#include "child_role.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>

#include <sys/prctl.h>

namespace shmbus::test {

namespace {

std::map<std::string, child_main>& roles() {
  static std::map<std::string, child_main> instance;
  return instance;
}

} // namespace

child_role_registrar::child_role_registrar(const char* role, child_main fn) {
  roles().emplace(role, fn);
}

std::optional<int> run_child_role_if_requested(int argc, char** argv) {
  if (argc < 3 || std::strcmp(argv[1], "--child") != 0)
    return std::nullopt;
  // A child never outlives its test runner, even when the runner is killed.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  auto i = roles().find(argv[2]);
  if (i == roles().end()) {
    std::fprintf(stderr, "unknown child role '%s'\n", argv[2]);
    return 127;
  }
  std::vector<std::string> args(argv + 3, argv + argc);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return i->second(args);
}

} // namespace shmbus::test
