// How benchmark rows are printed (BENCH.md): a human table, or one JSON
// object per row with --json, plus a header naming machine, date and command.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "measurement.hpp"

namespace shmbus::bench {

/// One measured row. Unset optionals print as "-" in the table and as null
/// in JSON; a row with an `error` failed and says why.
struct row {
  std::string bench;
  std::string mechanism;
  std::optional<std::size_t> payload_bytes;
  std::string placement;
  std::optional<std::uint64_t> samples;
  std::optional<double> rtt_median_us;
  std::optional<double> rtt_p99_us;
  std::optional<double> rtt_p999_us;
  std::optional<double> msgs_per_s;
  std::vector<extra_field> extras;
  std::string error;
};

/// Fills the measured part of `r` from `m`: RTT percentiles when `m` holds
/// round trips, the message count and rate when it holds a stream.
void fill_row(row& r, const measurement& m);

enum class output_format { table, json };

class report {
public:
  /// Rows go to `out`; with JSON, the header and notes go to `side` so that
  /// `out` holds nothing but JSON objects.
  explicit report(output_format format, std::FILE* out = stdout,
                  std::FILE* side = stderr);

  /// Machine (nproc, CPU model, kernel), UTC date and the command line.
  void print_header(const std::string& command);

  /// Prints `r` at once, so a long run shows its progress.
  void add(row r);

  /// A sentence for the notes under the table; repeated notes print once.
  void note(const std::string& text);

  /// Prints the notes.
  void finish();

  std::size_t failed_rows() const noexcept {
    return failed_;
  }

  const std::vector<row>& rows() const noexcept {
    return rows_;
  }

private:
  void print_table_row(const row& r);
  void print_json_row(const row& r);

  output_format format_;
  std::FILE* out_;
  std::FILE* side_;
  bool table_header_printed_ = false;
  std::vector<row> rows_;
  std::vector<std::string> notes_;
  std::size_t failed_ = 0;
};

/// Escapes `text` as the contents of a JSON string (without the quotes).
std::string json_escape(const std::string& text);

} // namespace shmbus::bench
