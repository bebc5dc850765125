#include "supervision_tree.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace shmbusctl {

namespace {

using shmbus::transport::supervised_kind;
using shmbus::transport::supervision_row;

using key = std::tuple<uint32_t, uint32_t, uint64_t>; // owner slot, incarnation, id

/// Deeper than any real tree; a scribbled table cannot recurse further.
constexpr size_t max_depth = 32;

struct group {
  const supervision_row* self = nullptr;
  std::vector<const supervision_row*> children;
};

supervisor_node make_node(const key& k, const group& g,
                          const std::map<key, group>& groups,
                          const shmbus::transport::bus_report& r,
                          std::set<key>& visiting, std::set<key>& reached,
                          size_t depth) {
  supervisor_node n;
  std::tie(n.owner_slot, n.owner_incarnation, n.id) = k;
  for (auto& node : r.nodes)
    if (node.slot == n.owner_slot && node.incarnation == n.owner_incarnation)
      n.owner_name = node.name;
  if (g.self != nullptr) {
    n.name = g.self->supervisor_name;
    n.strategy = g.self->strategy;
    n.pid = g.self->pid;
  } else if (!g.children.empty()) {
    n.name = g.children.front()->supervisor_name;
  }
  visiting.insert(k);
  reached.insert(k);
  for (auto* row : g.children) {
    child_node c;
    c.row = *row;
    if (row->kind == supervised_kind::supervisor && row->child_actor_id != 0
        && depth < max_depth) {
      key nested{n.owner_slot, n.owner_incarnation, row->child_actor_id};
      auto it = groups.find(nested);
      if (it != groups.end() && visiting.count(nested) == 0)
        c.nested.push_back(make_node(nested, it->second, groups, r, visiting, reached,
                                     depth + 1));
    }
    n.children.push_back(std::move(c));
  }
  visiting.erase(k);
  return n;
}

} // namespace

std::vector<supervisor_node> build_trees(const shmbus::transport::bus_report& r) {
  std::map<key, group> groups;
  for (auto& row : r.supervision) {
    auto& g = groups[key{row.owner_slot, row.owner_incarnation, row.supervisor_id}];
    if (row.is_supervisor())
      g.self = &row;
    else
      g.children.push_back(&row);
  }
  for (auto& [k, g] : groups)
    std::sort(g.children.begin(), g.children.end(),
              [](auto* x, auto* y) { return x->position < y->position; });
  // Nested: named as a running supervisor child by a supervisor of its
  // own process.
  std::set<key> nested;
  for (auto& [k, g] : groups)
    for (auto* row : g.children)
      if (row->kind == supervised_kind::supervisor && row->child_actor_id != 0) {
        key child{std::get<0>(k), std::get<1>(k), row->child_actor_id};
        if (child != k && groups.count(child) != 0)
          nested.insert(child);
      }
  std::vector<supervisor_node> result;
  std::set<key> visiting;
  std::set<key> reached;
  for (auto& [k, g] : groups)
    if (nested.count(k) == 0)
      result.push_back(make_node(k, g, groups, r, visiting, reached, 0));
  // Supervisors that only a cycle of scribbled rows names: show them anyway.
  for (auto& [k, g] : groups)
    if (reached.count(k) == 0)
      result.push_back(make_node(k, g, groups, r, visiting, reached, 0));
  return result;
}

} // namespace shmbusctl
