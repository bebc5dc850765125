// The process-wide destination of events. The bus and the supervisors write
// here: a child started, terminated (with its reason), restarted, a
// supervisor gave up (intensity exceeded), a module's output line, a peer
// lost, a record dropped. By default each record is one line on stderr
// (format() in log_record.hpp); a module's output line is written as the
// module wrote it, with its "[name] " prefix, to the stream it came from.
//
//   shmbus::log::set_level(shmbus::log::level::warning); // or shmbus.log-level
//   shmbus::log::set_sink([](const shmbus::log::record& r) { journal(r); });
//
// Threads: every function may be called from any thread. The sink runs in
// the thread that writes the record, which may be the bus's I/O thread or
// a supervisor's: a sink that blocks stalls them. It is never called
// concurrently with itself, so it needs no lock of its own.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "shmbus/log/log_level.hpp"
#include "shmbus/log/log_record.hpp"

namespace shmbus::log {

using sink = std::function<void(const record&)>;

/// Where records go from now on; an empty sink restores the default
/// (stderr). Waits for a record being written to the old sink.
void set_sink(sink x);

/// Records below `threshold` are dropped before they are built into
/// text; `level::off` drops all. Default: info. Never blocks.
void set_level(level threshold) noexcept;

/// The threshold. Never blocks.
level threshold() noexcept;

/// Whether a record of `severity` would be written. Never blocks.
bool enabled(level severity) noexcept;

/// Stamps `x` with the current time (unless it has one) and hands it to the
/// sink if its severity is enabled. Exceptions of the sink are swallowed:
/// logging never fails the caller.
/// @warning Blocks the caller for as long as the sink takes (the default
/// sink: one write(2) to stderr).
void write(record x);

/// Builds the record and writes it (see above); a disabled level costs a
/// load and a compare.
void write(level severity, std::string component, std::string event,
           std::string message, std::vector<field> fields = {});

/// The default sink: one line per record on stderr, a module's output line
/// raw on stdout or stderr (fields module and stream), each with a single
/// write(2) so that lines of several threads never interleave.
void write_to_stderr(const record& x);

/// Writes `line` and a newline to `fd` with one write(2) (retried while
/// partial), so that lines of several threads and processes never
/// interleave; a closed descriptor drops it. Never throws.
/// @warning Blocks the caller while `fd` (a pipe, a terminal) is full.
void write_line(int fd, std::string_view line) noexcept;

/// Event name of a module's output line; fields "module", "stream" ("out"
/// or "err") and "pid".
constexpr const char* module_output_event = "module_output";

} // namespace shmbus::log
