// What a benchmark process measured, before statistics. Process A writes it
// to its stdout as text lines; the parent reads it back and turns it into a row.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace shmbus::bench {

/// A field beyond BENCH.md's fixed ones (`cpu_us_per_msg`, `scheduler`, ...).
struct extra_field {
  std::string key;
  std::variant<double, std::string> value;
};

struct measurement {
  /// One entry per timed round trip, in microseconds.
  std::vector<double> rtt_us;

  /// Stream rows: messages delivered and checked by the receiver.
  std::optional<std::uint64_t> messages;

  std::optional<double> msgs_per_s;

  /// Rows that count something else than round trips or messages (kills).
  std::optional<std::uint64_t> samples;

  std::vector<extra_field> extras;

  void add(std::string key, double value);
  void add(std::string key, std::string value);
};

/// Writes `m` as lines, the last one being "end", and flushes.
void write_measurement(std::FILE* out, const measurement& m);

/// Folds one line written by write_measurement into `m`. Returns true on the
/// final "end" line; throws std::runtime_error on a line it cannot read.
bool read_measurement_line(const std::string& line, measurement& m);

} // namespace shmbus::bench
