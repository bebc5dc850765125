#include "shmbus/transport/idle_strategy.hpp"

#include <charconv>

namespace shmbus::transport {

const char* to_string(idle_kind x) noexcept {
  switch (x) {
    case idle_kind::busy_spin: return "busy-spin";
    case idle_kind::adaptive: return "adaptive";
    case idle_kind::park: return "park";
  }
  return "unknown";
}

std::optional<idle_strategy> parse_idle_strategy(std::string_view text) {
  if (text == "busy-spin")
    return idle_strategy::busy_spin();
  if (text == "park")
    return idle_strategy::park();
  if (text == "adaptive")
    return idle_strategy::adaptive();
  constexpr std::string_view prefix = "adaptive:";
  if (text.substr(0, prefix.size()) != prefix)
    return std::nullopt;
  auto rest = text.substr(prefix.size());
  auto colon = rest.find(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  auto number = [](std::string_view s, long& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && end == s.data() + s.size() && out >= 0;
  };
  long spin_us = 0;
  long yield_us = 0;
  if (!number(rest.substr(0, colon), spin_us)
      || !number(rest.substr(colon + 1), yield_us))
    return std::nullopt;
  return idle_strategy::adaptive(std::chrono::microseconds{spin_us},
                                 std::chrono::microseconds{yield_us});
}

std::string to_string(const idle_strategy& x) {
  if (x.kind != idle_kind::adaptive)
    return to_string(x.kind);
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  return "adaptive:" + std::to_string(duration_cast<microseconds>(x.spin).count())
         + ":" + std::to_string(duration_cast<microseconds>(x.yield).count());
}

} // namespace shmbus::transport
