#include "shmbus/supervision/backoff_options.hpp"

#include <caf/sec.hpp>
#include <doctest/doctest.h>

using namespace std::chrono_literals;
using shmbus::supervision::backoff_options;

TEST_CASE("backoff delays double from the minimum up to the maximum") {
  backoff_options opts;
  opts.min_delay = 100ms;
  opts.max_delay = 1s;
  opts.random_factor = 0.0;
  CHECK_EQ(opts.delay_for(0, 0.5), caf::timespan{100ms});
  CHECK_EQ(opts.delay_for(1, 0.5), caf::timespan{200ms});
  CHECK_EQ(opts.delay_for(2, 0.5), caf::timespan{400ms});
  CHECK_EQ(opts.delay_for(3, 0.5), caf::timespan{800ms});
  CHECK_EQ(opts.delay_for(4, 0.5), caf::timespan{1s});
  CHECK_EQ(opts.delay_for(1000, 0.5), caf::timespan{1s});
}

TEST_CASE("the random factor stretches a delay by at most its share") {
  backoff_options opts;
  opts.min_delay = 100ms;
  opts.max_delay = 1s;
  opts.random_factor = 0.5;
  CHECK_EQ(opts.delay_for(0, 0.0), caf::timespan{100ms});
  CHECK_EQ(opts.delay_for(0, 1.0), caf::timespan{150ms});
  CHECK_EQ(opts.delay_for(10, 1.0), caf::timespan{1500ms}); // after the cap
  auto mid = opts.delay_for(2, 0.25);
  CHECK_EQ(mid, caf::timespan{450ms});
}

TEST_CASE("invalid backoff options are reported") {
  backoff_options opts;
  CHECK_FALSE(opts.validate());
  opts.min_delay = 2s;
  opts.max_delay = 1s;
  CHECK_EQ(opts.validate(), caf::sec::invalid_argument);
  opts.max_delay = 3s;
  opts.random_factor = -1.0;
  CHECK_EQ(opts.validate(), caf::sec::invalid_argument);
}
