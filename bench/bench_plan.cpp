#include "bench_plan.hpp"

namespace shmbus::bench {

namespace {

constexpr auto startup_margin = std::chrono::seconds{30};

long long ms(std::chrono::milliseconds x) {
  return static_cast<long long>(x.count());
}

} // namespace

bench_plan bench_plan::full() {
  return bench_plan{};
}

bench_plan bench_plan::quick() {
  bench_plan plan;
  plan.warmup = 200;
  plan.samples = 2000;
  plan.warmup_limit = std::chrono::milliseconds{200};
  plan.sample_limit = std::chrono::milliseconds{1500};
  plan.stream_duration = std::chrono::milliseconds{250};
  plan.idle_window = std::chrono::milliseconds{500};
  return plan;
}

void bench_plan::write_to(role_args& args) const {
  args.set("warmup", static_cast<long long>(warmup))
    .set("samples", static_cast<long long>(samples))
    .set("warmup_limit_ms", ms(warmup_limit))
    .set("sample_limit_ms", ms(sample_limit))
    .set("stream_ms", ms(stream_duration))
    .set("idle_ms", ms(idle_window));
}

bench_plan bench_plan::read_from(const role_args& args) {
  bench_plan plan;
  plan.warmup = static_cast<std::size_t>(args.get_int("warmup"));
  plan.samples = static_cast<std::size_t>(args.get_int("samples"));
  plan.warmup_limit = std::chrono::milliseconds{args.get_int("warmup_limit_ms")};
  plan.sample_limit = std::chrono::milliseconds{args.get_int("sample_limit_ms")};
  plan.stream_duration = std::chrono::milliseconds{args.get_int("stream_ms")};
  plan.idle_window = std::chrono::milliseconds{args.get_int("idle_ms")};
  return plan;
}

std::chrono::milliseconds bench_plan::row_budget() const {
  return warmup_limit + sample_limit + stream_duration + idle_window
         + startup_margin;
}

std::string bench_plan::describe_rtt() const {
  return std::to_string(warmup) + " untimed round trips, then "
         + std::to_string(samples) + " timed; the loops stop early after "
         + std::to_string(warmup_limit.count()) + " ms / "
         + std::to_string(sample_limit.count())
         + " ms (then samples < " + std::to_string(samples) + ")";
}

} // namespace shmbus::bench
