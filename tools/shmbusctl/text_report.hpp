// The human views of shmbusctl: show (the whole bus), tree (supervisors),
// errors (the distinct-error log). Each returns the text; pure.
#pragma once

#include <string>

#include "shmbus/transport/bus_admin.hpp"

namespace shmbusctl {

/// Nodes, counters, inboxes, names, supervisors and a summary of errors.
std::string show_text(const shmbus::transport::bus_report& r);

/// Every supervisor of the bus as an indented tree.
std::string tree_text(const shmbus::transport::bus_report& r);

/// The distinct-error log, most frequent first.
std::string errors_text(const shmbus::transport::bus_report& r);

/// "2026-11-30 10:15:02" (UTC) of a CLOCK_REALTIME ns stamp; "-" for 0.
std::string time_text(int64_t unix_ns);

/// Makes segment text printable: control bytes become '?'.
std::string printable(const std::string& x);

} // namespace shmbusctl
