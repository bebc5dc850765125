// Plain child processes, without CAF or a bus: what the process tests spawn
// and watch, and the orphan a launcher test leaves behind.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "child_role.hpp"
#include "role_helpers.hpp"

using namespace shmbus::test;

// args: out=TEXT... err=TEXT... tail=TEXT exit=N
// Writes each out/err line, then `tail` without newline to stdout, exits N.
SHMBUS_CHILD_ROLE("print") {
  for (auto& x : values_of(args, "out"))
    std::printf("%s\n", x.c_str());
  std::fflush(stdout);
  for (auto& x : values_of(args, "err"))
    std::fprintf(stderr, "%s\n", x.c_str());
  for (auto& x : values_of(args, "tail"))
    std::printf("%s", x.c_str());
  std::fflush(stdout);
  auto code = values_of(args, "exit");
  return code.empty() ? 0 : std::stoi(code.front());
}

// Prints "fds N": open descriptors beyond 0, 1 and 2.
SHMBUS_CHILD_ROLE("fds") {
  int n = 0;
  if (auto* dir = ::opendir("/proc/self/fd")) {
    while (auto* ent = ::readdir(dir)) {
      if (ent->d_name[0] == '.')
        continue;
      auto fd = std::atoi(ent->d_name);
      if (fd > 2 && fd != ::dirfd(dir))
        ++n;
    }
    ::closedir(dir);
  }
  std::printf("fds %d\n", n);
  return 0;
}

// Prints "NAME=VALUE" for each argument NAME.
SHMBUS_CHILD_ROLE("env") {
  for (auto& x : args) {
    auto* value = std::getenv(x.c_str());
    std::printf("%s=%s\n", x.c_str(), value ? value : "(unset)");
  }
  return 0;
}

// Waits for signals until one ends it. `outlive-parent`: survives its
// parent (an orphan for the launcher to deal with), but not beyond 30 s.
SHMBUS_CHILD_ROLE("pause") {
  auto outlive = has_flag(args, "outlive-parent");
  if (outlive)
    ::prctl(PR_SET_PDEATHSIG, 0); // before we say we are ready
  std::printf("pausing %d\n", static_cast<int>(::getpid()));
  std::fflush(stdout);
  if (outlive) {
    block_stop_signals();
    wait_for_stop_signal(std::chrono::seconds{30});
    return 0;
  }
  for (;;)
    ::pause();
}

// Prints what it inherited of signals and process groups:
//   "pgid P pid Q", "blocked HEX", "ignored HEX" (SigBlk, SigIgn of /proc,
//   without glibc's internal signals 32 .. SIGRTMIN-1: posix_spawn leaves
//   them ignored, and glibc installs its own handlers when it needs them).
SHMBUS_CHILD_ROLE("signal-state") {
  unsigned long long internal = 0;
  for (int sig = 32; sig < SIGRTMIN; ++sig)
    internal |= 1ULL << (sig - 1);
  std::printf("pgid %d pid %d\n", static_cast<int>(::getpgrp()),
              static_cast<int>(::getpid()));
  if (auto* f = std::fopen("/proc/self/status", "re")) {
    char line[256];
    while (std::fgets(line, sizeof(line), f)) {
      unsigned long long mask = 0;
      if (std::sscanf(line, "SigBlk: %llx", &mask) == 1)
        std::printf("blocked %llx\n", mask & ~internal);
      else if (std::sscanf(line, "SigIgn: %llx", &mask) == 1)
        std::printf("ignored %llx\n", mask & ~internal);
    }
    std::fclose(f);
  }
  return 0;
}
