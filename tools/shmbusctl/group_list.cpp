#include "group_list.hpp"

#include <map>

namespace shmbusctl {

std::vector<group_entry> build_groups(const shmbus::transport::bus_report& r) {
  std::map<std::string, group_entry> by_name;
  for (auto& row : r.groups.rows) {
    auto& g = by_name[row.name];
    g.name = row.name;
    g.name_cut = g.name_cut || row.name_cut;
    // A scribbled counter must not wrap the sums into nonsense silently:
    // saturate.
    auto add = [](uint64_t& sum, uint64_t x) { sum = sum + x < sum ? UINT64_MAX : sum + x; };
    add(g.subscribers, row.local_subscribers);
    if (row.local_subscribers > 0)
      ++g.subscribed_processes;
    add(g.published, row.published);
    add(g.records_out, row.records_out);
    add(g.undelivered, row.undelivered);
    add(g.records_in, row.records_in);
    group_member m;
    m.slot = row.owner_slot;
    m.node = "?";
    for (auto& n : r.nodes)
      if (n.slot == row.owner_slot && n.incarnation == row.owner_incarnation)
        m.node = n.name;
    m.row = row;
    g.members.push_back(std::move(m));
  }
  std::vector<group_entry> result;
  for (auto& kvp : by_name)
    result.push_back(std::move(kvp.second));
  return result;
}

} // namespace shmbusctl
