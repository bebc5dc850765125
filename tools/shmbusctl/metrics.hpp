// `shmbusctl metrics BUS`: the Prometheus text exposition format (version
// 0.0.4) for node_exporter's textfile collector: every counter of the node
// table (shmbus_node_<counter>_total), the gauges of each node and of the
// bus, the supervisors' children and the error log. Labels: bus, node and
// slot (node names may repeat); children also supervisor and child.
#pragma once

#include <string>

#include "shmbus/transport/bus_admin.hpp"

namespace shmbusctl {

/// The exposition of `r`. Pure.
std::string to_metrics(const shmbus::transport::bus_report& r);

} // namespace shmbusctl
