// Percentiles of a latency sample: what every RTT row reports.
#pragma once

#include <cstddef>
#include <vector>

namespace shmbus::bench {

struct latency_summary {
  std::size_t samples = 0;
  double min_us = 0;
  double median_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
  double mean_us = 0;
};

/// Nearest-rank percentile (`q` in [0, 1]) of an ascending sample; the value
/// is one that was measured, never an interpolation between two.
double percentile(const std::vector<double>& sorted, double q);

/// Sorts `samples_us` and summarises it; an empty sample gives all zeros.
latency_summary summarize(std::vector<double> samples_us);

} // namespace shmbus::bench
