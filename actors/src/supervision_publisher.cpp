#include "supervision_publisher.hpp"

#include <caf/actor_system.hpp>

#include "module_registry.hpp"
#include "shmbus/bus/bus_module.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/log/logger.hpp"
#include "shmbus/transport/node.hpp"

namespace shmbus::actors {

namespace {

transport::supervised_state state_of(supervision::child_state x) {
  switch (x) {
    case supervision::child_state::running: return transport::supervised_state::running;
    case supervision::child_state::stopped: return transport::supervised_state::stopped;
    case supervision::child_state::restarting: return transport::supervised_state::restarting;
  }
  return transport::supervised_state::stopped;
}

} // namespace

supervision_publisher::supervision_publisher(caf::actor_system& sys) : sys_(sys) {
  // nop
}

std::vector<transport::supervision_row>
supervision_publisher::rows_of(const supervision::supervisor_snapshot& x) const {
  std::vector<transport::supervision_row> rows;
  transport::supervision_row self;
  self.supervisor_id = x.supervisor;
  self.supervisor_name = x.name;
  self.strategy = to_string(x.strategy);
  self.kind = transport::supervised_kind::supervisor;
  self.state = transport::supervised_state::running;
  self.pid = bus::process_id_of(sys_.node());
  rows.push_back(std::move(self));
  uint32_t position = 0;
  for (auto& c : x.children) {
    transport::supervision_row row;
    row.supervisor_id = x.supervisor;
    row.supervisor_name = x.name;
    row.position = position++;
    row.child_name = c.id;
    row.kind = c.kind == supervision::child_kind::supervisor
                 ? transport::supervised_kind::supervisor
                 : transport::supervised_kind::worker;
    row.state = state_of(c.state);
    row.restarts = c.restarts;
    if (c.handle) {
      row.child_actor_id = c.handle.id();
      // A module actor stands for a process; any other actor runs in the
      // process its node id names (ours for a local one).
      auto module = c.handle.node() == sys_.node()
                      ? module_registry::pid_of(sys_, c.handle.id())
                      : std::nullopt;
      row.pid = module ? *module : bus::process_id_of(c.handle.node());
    }
    if (c.last_exit_reason)
      row.last_exit_reason = sys_.render(c.last_exit_reason);
    rows.push_back(std::move(row));
  }
  return rows;
}

void supervision_publisher::children_changed(const supervision::supervisor_snapshot& x) {
  auto* module = bus::bus_module::of(sys_);
  if (module == nullptr)
    return;
  auto nodes = module->nodes();
  if (nodes.empty())
    return;
  // The handle keeps the node's transport (and its mapping) alive while we
  // write; after a stop our rows belong to a dead incarnation, nobody's.
  auto& tn = nodes.front().transport_node();
  if (segment_ != &tn.shared_segment() || slot_ != tn.slot()
      || incarnation_ != tn.incarnation()) {
    rows_.clear(); // held by an incarnation that is gone
    segment_ = &tn.shared_segment();
    slot_ = tn.slot();
    incarnation_ = tn.incarnation();
  }
  transport::supervision_table table{*segment_};
  auto rows = rows_of(x);
  while (rows_.size() > rows.size()) {
    table.release(rows_.back(), slot_, incarnation_);
    rows_.pop_back();
  }
  while (rows_.size() < rows.size()) {
    auto index = table.claim(slot_, incarnation_);
    if (!index) {
      log::write(log::level::warning, "actors", "supervision_table_full",
                 index.err().message, {{"supervisor", x.name}});
      rows.resize(rows_.size());
      break;
    }
    rows_.push_back(*index);
  }
  for (size_t i = 0; i < rows.size(); ++i)
    table.write(rows_[i], slot_, incarnation_, rows[i]);
}

void supervision_publisher::supervisor_stopped(caf::actor_id) {
  auto* module = bus::bus_module::of(sys_);
  if (module == nullptr || segment_ == nullptr)
    return;
  // Only while the node that owns the rows still runs (its handle keeps
  // the mapping alive); otherwise they are nobody's already.
  for (auto& n : module->nodes()) {
    auto& tn = n.transport_node();
    if (&tn.shared_segment() != segment_ || tn.slot() != slot_
        || tn.incarnation() != incarnation_)
      continue;
    transport::supervision_table table{*segment_};
    for (auto index : rows_)
      table.release(index, slot_, incarnation_);
  }
  rows_.clear();
}

} // namespace shmbus::actors
