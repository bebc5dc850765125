#include "metrics.hpp"

#include <cstdint>
#include <cstdio>
#include <map>
#include <utility>
#include <vector>

#include "group_list.hpp"
#include "supervision_tree.hpp"

namespace shmbusctl {

namespace {

using namespace shmbus::transport;

using labels = std::vector<std::pair<std::string, std::string>>;

/// A label value: escaped as the format wants, and plain ASCII, since
/// names come from the segment and may be any bytes.
std::string escape(const std::string& x) {
  std::string out;
  for (auto c : x) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else if (u < 0x20 || u >= 0x7f)
      out += '?';
    else
      out += c;
  }
  return out;
}

std::string number(double x) {
  char buf[32];
  if (x < 1e15 && x > -1e15 && x == static_cast<double>(static_cast<int64_t>(x)))
    std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(x));
  else
    std::snprintf(buf, sizeof(buf), "%.9g", x);
  return buf;
}

/// One metric: HELP and TYPE once, then its samples.
class family {
public:
  family(std::string name, const char* type, std::string help)
    : name_(std::move(name)), type_(type), help_(std::move(help)) {
    // nop
  }

  void add(const labels& ls, double value) {
    std::string line = name_;
    if (!ls.empty()) {
      line += '{';
      for (size_t i = 0; i < ls.size(); ++i) {
        if (i > 0)
          line += ',';
        line += ls[i].first + "=\"" + escape(ls[i].second) + '"';
      }
      line += '}';
    }
    samples_ += line + " " + number(value) + "\n";
  }

  void write(std::string& out) const {
    out += "# HELP " + name_ + " " + help_ + "\n";
    out += "# TYPE " + name_ + " " + type_ + "\n";
    out += samples_;
  }

private:
  std::string name_;
  const char* type_;
  std::string help_;
  std::string samples_;
};

void add_tree(const supervisor_node& s, const labels& bus, family& running,
              family& restarts) {
  for (auto& c : s.children) {
    auto ls = bus;
    ls.emplace_back("node", s.owner_name);
    ls.emplace_back("supervisor", s.name);
    ls.emplace_back("child", c.row.child_name);
    running.add(ls, c.row.state == supervised_state::running ? 1 : 0);
    restarts.add(ls, static_cast<double>(c.row.restarts));
    for (auto& nested : c.nested)
      add_tree(nested, bus, running, restarts);
  }
}

} // namespace

std::string to_metrics(const bus_report& r) {
  labels bus{{"bus", r.bus}};
  std::vector<family> families;
  families.emplace_back("shmbus_bus_server_up", "gauge",
                        "1 while the bus's server process runs");
  families.back().add(bus, r.server_running ? 1 : 0);
  size_t running = 0;
  for (auto& n : r.nodes)
    running += n.process_running ? 1 : 0;
  families.emplace_back("shmbus_bus_nodes", "gauge", "processes on the bus");
  families.back().add(bus, static_cast<double>(running));
  families.emplace_back("shmbus_bus_names", "gauge", "names published on the bus");
  families.back().add(bus, static_cast<double>(r.names.size()));

  // Per node: only processes that run; a gone node's counters would stay
  // frozen under its old slot forever.
  family up{"shmbus_node_up", "gauge", "1 while the node's process runs"};
  family heartbeat{"shmbus_node_heartbeat_age_seconds", "gauge",
                   "time since the node's last heartbeat"};
  family used{"shmbus_node_inbox_used_bytes", "gauge",
              "bytes queued in the node's inbox"};
  family capacity{"shmbus_node_inbox_capacity_bytes", "gauge",
                  "size of the node's inbox"};
  std::vector<family> counters;
  for (auto& c : counter_infos())
    counters.emplace_back(std::string{"shmbus_node_"} + c.name + "_total", "counter",
                          c.help);
  for (auto& n : r.nodes) {
    if (!n.process_running)
      continue;
    auto ls = bus;
    ls.emplace_back("node", n.name);
    ls.emplace_back("slot", std::to_string(n.slot));
    up.add(ls, 1);
    heartbeat.add(ls, static_cast<double>(n.heartbeat_age_ms) / 1000.0);
    used.add(ls, static_cast<double>(n.inbox_used_bytes));
    capacity.add(ls, static_cast<double>(n.inbox_bytes));
    for (size_t i = 0; i < counters.size(); ++i)
      counters[i].add(ls, static_cast<double>(n.counters.*counter_infos()[i].member));
  }
  families.push_back(std::move(up));
  families.push_back(std::move(heartbeat));
  families.push_back(std::move(used));
  families.push_back(std::move(capacity));
  for (auto& c : counters)
    families.push_back(std::move(c));

  family child_running{"shmbus_supervisor_child_running", "gauge",
                       "1 while the supervised child runs"};
  family child_restarts{"shmbus_supervisor_child_restarts_total", "counter",
                        "how often the supervisor restarted the child"};
  for (auto& t : build_trees(r))
    add_tree(t, bus, child_running, child_restarts);
  families.push_back(std::move(child_running));
  families.push_back(std::move(child_restarts));

  // Per group and process: the rows of the group summary (live owners only).
  family subscribers{"shmbus_group_subscribers", "gauge",
                     "actors of the process that joined the group"};
  family published{"shmbus_group_published_total", "counter",
                   "messages the process sent to the group"};
  family records_out{"shmbus_group_records_out_total", "counter",
                     "group records the process wrote, one per message and subscribed process"};
  family undelivered{"shmbus_group_undelivered_total", "counter",
                     "group records the process could not write"};
  family records_in{"shmbus_group_records_in_total", "counter",
                    "group records of other processes the process received"};
  for (auto& g : build_groups(r))
    for (auto& m : g.members) {
      auto ls = bus;
      ls.emplace_back("group", g.name);
      ls.emplace_back("node", m.node);
      ls.emplace_back("slot", std::to_string(m.slot));
      subscribers.add(ls, static_cast<double>(m.row.local_subscribers));
      published.add(ls, static_cast<double>(m.row.published));
      records_out.add(ls, static_cast<double>(m.row.records_out));
      undelivered.add(ls, static_cast<double>(m.row.undelivered));
      records_in.add(ls, static_cast<double>(m.row.records_in));
    }
  for (auto* f : {&subscribers, &published, &records_out, &undelivered, &records_in})
    families.push_back(std::move(*f));

  // Errors by kind: the same kind may come with several texts.
  std::map<std::string, uint64_t> by_kind;
  for (auto& e : r.errors)
    by_kind[e.kind] += e.count;
  family errors{"shmbus_errors_total", "counter",
                "errors the bus's nodes reported, by kind (shmbusctl errors shows the texts)"};
  for (auto& [kind, count] : by_kind) {
    auto ls = bus;
    ls.emplace_back("kind", kind);
    errors.add(ls, static_cast<double>(count));
  }
  families.push_back(std::move(errors));
  families.emplace_back("shmbus_errors_dropped_total", "counter",
                        "reports of new errors that found the error log full");
  families.back().add(bus, static_cast<double>(r.errors_dropped));

  std::string out;
  for (auto& f : families)
    f.write(out);
  return out;
}

} // namespace shmbusctl
