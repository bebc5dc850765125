#include "json_report.hpp"

#include "group_list.hpp"

namespace shmbusctl {

namespace {

using nlohmann::json;
using namespace shmbus::transport;

json node_json(const node_report& n) {
  json counters = json::object();
  for (auto& c : counter_infos())
    counters[c.name] = n.counters.*c.member;
  return {
    {"slot", n.slot},
    {"name", n.name},
    {"role", n.role == node_role::server ? "server" : "client"},
    {"pid", n.pid},
    {"incarnation", n.incarnation},
    {"state", to_string(n.state)},
    {"process_running", n.process_running},
    {"heartbeat_age_ms", n.heartbeat_age_ms},
    {"loss_cause", to_string(n.cause)},
    {"loss_detail", n.detail},
    {"inbox", {{"used_bytes", n.inbox_used_bytes}, {"capacity_bytes", n.inbox_bytes}}},
    {"counters", std::move(counters)},
  };
}

json supervisor_json(const supervisor_node& s) {
  json children = json::array();
  for (auto& c : s.children) {
    json child = {
      {"name", c.row.child_name},
      {"kind", to_string(c.row.kind)},
      {"state", to_string(c.row.state)},
      {"pid", c.row.pid},
      {"restarts", c.row.restarts},
      {"last_exit_reason", c.row.last_exit_reason},
    };
    if (!c.nested.empty())
      child["supervisor"] = supervisor_json(c.nested.front());
    children.push_back(std::move(child));
  }
  return {
    {"name", s.name},
    {"strategy", s.strategy},
    {"id", s.id},
    {"node", s.owner_name},
    {"slot", s.owner_slot},
    {"incarnation", s.owner_incarnation},
    {"pid", s.pid},
    {"children", std::move(children)},
  };
}

json groups_json(const bus_report& r) {
  json groups = json::array();
  for (auto& g : build_groups(r)) {
    json processes = json::array();
    for (auto& m : g.members)
      processes.push_back({{"slot", m.slot},
                           {"incarnation", m.row.owner_incarnation},
                           {"node", m.node},
                           {"subscribers", m.row.local_subscribers},
                           {"published", m.row.published},
                           {"records_out", m.row.records_out},
                           {"undelivered", m.row.undelivered},
                           {"records_in", m.row.records_in}});
    groups.push_back({{"name", g.name},
                      {"name_cut", g.name_cut},
                      {"subscribers", g.subscribers},
                      {"subscribed_processes", g.subscribed_processes},
                      {"published", g.published},
                      {"records_out", g.records_out},
                      {"undelivered", g.undelivered},
                      {"records_in", g.records_in},
                      {"processes", std::move(processes)}});
  }
  return groups;
}

} // namespace

json to_json(const std::vector<supervisor_node>& trees) {
  json result = json::array();
  for (auto& t : trees)
    result.push_back(supervisor_json(t));
  return result;
}

json to_json(const std::vector<logged_error>& errors) {
  json result = json::array();
  for (auto& e : errors)
    result.push_back({
      {"kind", e.kind},
      {"text", e.text},
      {"node", e.node},
      {"count", e.count},
      {"first_unix_ns", e.first_unix_ns},
      {"last_unix_ns", e.last_unix_ns},
      {"first_pid", e.first_pid},
      {"last_pid", e.last_pid},
    });
  return result;
}

json to_json(const pool_usage& p) {
  json classes = json::array();
  for (auto& c : p.classes)
    classes.push_back({{"block_bytes", c.block_bytes}, {"blocks", c.blocks}, {"used", c.used}});
  json holders = json::array();
  for (auto& h : p.holders)
    holders.push_back({{"slot", h.slot}, {"held", h.held}, {"inflight", h.inflight}});
  return {
    {"pool_bytes", p.pool_bytes},
    {"classes", std::move(classes)},
    {"holders", std::move(holders)},
    {"allocations", p.allocations},
    {"exhausted", p.exhausted},
    {"refused_handles", p.refused_handles},
    {"corrupt_words", p.corrupt_words},
    {"released_for_lost", p.released_for_lost},
  };
}

json to_json(const bus_report& r) {
  json nodes = json::array();
  for (auto& n : r.nodes)
    nodes.push_back(node_json(n));
  json names = json::array();
  for (auto& x : r.names)
    names.push_back({{"name", x.name},
                     {"slot", x.slot},
                     {"incarnation", x.incarnation},
                     {"value", x.value},
                     {"aux", x.aux}});
  return {
    {"bus", r.bus},
    {"server_running", r.server_running},
    {"creator_pid", r.creator_pid},
    {"created_unix_ns", r.created_unix_ns},
    {"segment_bytes", r.segment_bytes},
    {"limits",
     {{"node_slots", r.limits.node_slots},
      {"inbox_bytes", r.limits.inbox_bytes},
      {"max_message_bytes", r.limits.max_message_bytes},
      {"name_entries", r.limits.name_entries},
      {"supervision_entries", r.limits.supervision_entries},
      {"error_entries", r.limits.error_entries},
      {"pool_bytes", r.limits.pool_bytes},
      {"pool_max_block", r.limits.pool_max_block},
      {"pool_holder_entries", r.limits.pool_holder_entries}}},
    {"timing",
     {{"heartbeat_interval_ms", r.timing.heartbeat_interval.count() / 1'000'000},
      {"heartbeat_timeout_ms", r.timing.heartbeat_timeout.count() / 1'000'000}}},
    {"nodes", std::move(nodes)},
    {"names", std::move(names)},
    {"supervisors", to_json(build_trees(r))},
    {"errors", to_json(r.errors)},
    {"errors_dropped", r.errors_dropped},
    {"pool", to_json(r.pool)},
    {"groups", groups_json(r)},
    {"group_summary_problems", r.groups.problems},
  };
}

std::string dump(const nlohmann::json& doc) {
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace shmbusctl
