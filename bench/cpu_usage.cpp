#include "cpu_usage.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <unistd.h>

namespace shmbus::bench {

std::chrono::microseconds process_cpu_time(pid_t pid) {
  auto path = pid == 0 ? std::string{"/proc/self/stat"}
                       : "/proc/" + std::to_string(pid) + "/stat";
  std::ifstream in{path};
  std::string line;
  if (!std::getline(in, line))
    throw std::runtime_error("cannot read " + path
                             + " (has the process exited?)");
  // Field 2 (comm) may hold spaces and parentheses: count from the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos)
    throw std::runtime_error("unexpected format of " + path);
  std::istringstream fields{line.substr(close + 1)};
  std::string field;
  // After comm come field 3 (state) ... field 13; utime is 14, stime 15.
  for (int i = 3; i <= 13; ++i)
    fields >> field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  if (!(fields >> utime >> stime))
    throw std::runtime_error("unexpected format of " + path);
  static const auto ticks_per_s = ::sysconf(_SC_CLK_TCK);
  auto ticks = utime + stime;
  return std::chrono::microseconds{
    static_cast<long long>(ticks * 1000000ULL / static_cast<unsigned long long>(ticks_per_s))};
}

cpu_sampler::cpu_sampler(pid_t pid) : pid_(pid) {
  restart();
}

void cpu_sampler::restart() {
  cpu_start_ = process_cpu_time(pid_);
  wall_start_ = std::chrono::steady_clock::now();
}

std::chrono::microseconds cpu_sampler::used() const {
  return process_cpu_time(pid_) - cpu_start_;
}

double cpu_sampler::percent_of_core() const {
  auto cpu = used();
  auto wall = std::chrono::duration<double, std::micro>(
    std::chrono::steady_clock::now() - wall_start_);
  if (wall.count() <= 0)
    return 0;
  return 100.0 * static_cast<double>(cpu.count()) / wall.count();
}

} // namespace shmbus::bench
