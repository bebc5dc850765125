#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace shmbus::bench {

double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty())
    return 0;
  auto rank = static_cast<std::size_t>(
    std::ceil(q * static_cast<double>(sorted.size())));
  auto index = rank == 0 ? 0 : rank - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

latency_summary summarize(std::vector<double> samples_us) {
  latency_summary result;
  if (samples_us.empty())
    return result;
  std::sort(samples_us.begin(), samples_us.end());
  result.samples = samples_us.size();
  result.min_us = samples_us.front();
  result.median_us = percentile(samples_us, 0.5);
  result.p99_us = percentile(samples_us, 0.99);
  result.p999_us = percentile(samples_us, 0.999);
  result.max_us = samples_us.back();
  result.mean_us = std::accumulate(samples_us.begin(), samples_us.end(), 0.0)
                   / static_cast<double>(samples_us.size());
  return result;
}

} // namespace shmbus::bench
