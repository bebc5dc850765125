// Options of a benchmark run, shared by all subcommands.
#pragma once

#include <string>

namespace shmbus::bench {

struct run_options {
  /// Every row briefly (whole program under 60 s) instead of the full run.
  bool quick = false;
  /// Only rows whose mechanism contains this text; empty: all rows.
  std::string only;
  /// CAF scheduler for every actor system; empty / 0: CAF's defaults.
  std::string caf_policy;
  std::size_t caf_max_threads = 0;

  bool selects(const std::string& mechanism) const {
    return only.empty() || mechanism.find(only) != std::string::npos;
  }
};

} // namespace shmbus::bench
