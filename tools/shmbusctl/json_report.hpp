// `shmbusctl show BUS --json`: one JSON document with everything a bus
// shows from outside: its limits, every node with every counter of the
// node table and its inbox occupancy, the published names, the supervision
// trees and the distinct-error log.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shmbus/transport/bus_admin.hpp"
#include "supervision_tree.hpp"

namespace shmbusctl {

nlohmann::json to_json(const shmbus::transport::bus_report& r);

nlohmann::json to_json(const std::vector<supervisor_node>& trees);

nlohmann::json to_json(const std::vector<shmbus::transport::logged_error>& errors);

/// The buffer pool's use per size class and per holder.
nlohmann::json to_json(const shmbus::transport::pool_usage& pool);

/// The document as text. Strings from the segment are untrusted: invalid
/// UTF-8 is replaced, never an exception.
std::string dump(const nlohmann::json& doc);

} // namespace shmbusctl
