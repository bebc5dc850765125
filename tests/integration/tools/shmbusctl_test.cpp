// shmbusctl against live buses, as an operator runs it: `show --json` holds
// every counter of every node, `metrics` is valid Prometheus text, `tree`
// shows the supervisors' children and forgets a supervisor that was killed,
// `errors` prints the distinct-error log, and `watch` draws frames and ends
// when the bus goes away.
#include <doctest/doctest.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "module_helpers.hpp"
#include "role_helpers.hpp"
#include "shmbus/actors/errc.hpp"
#include "shmbus/transport/error_log.hpp"
#include "shmbus/transport/node.hpp"
#include "shmbus/transport/peer.hpp"
#include "tool_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

/// A one_for_one supervisor "modules" of one module "echo" (publishes echo).
caf::actor start_modules(module_fixture& fx) {
  supervision::supervisor_flags flags;
  flags.name = "modules";
  flags.intensity = 3;
  return fx.start(flags, {actors::module_child(fx.module("echo", {"publish=echo"}, {"echo"}),
                                               fx.node)});
}

// -- a minimal reader of the Prometheus text format (version 0.0.4) ---------

struct sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct exposition {
  std::map<std::string, std::string> types; ///< metric -> counter | gauge
  std::set<std::string> helped;
  std::vector<sample> samples;
  std::vector<std::string> problems;
};

bool metric_name(const std::string& x) {
  if (x.empty() || std::isdigit(static_cast<unsigned char>(x[0])))
    return false;
  for (auto c : x)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ':')
      return false;
  return true;
}

/// Parses `text`; every deviation from the format is a problem.
exposition parse_exposition(const std::string& text) {
  exposition e;
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);) {
    auto problem = [&](const std::string& what) { e.problems.push_back(what + ": " + line); };
    if (line.empty()) {
      problem("empty line");
      continue;
    }
    if (line[0] == '#') {
      std::istringstream words{line};
      std::string hash, keyword, name;
      words >> hash >> keyword >> name;
      if (keyword == "HELP") {
        if (!e.helped.insert(name).second)
          problem("second HELP");
      } else if (keyword == "TYPE") {
        std::string type;
        words >> type;
        if (type != "counter" && type != "gauge")
          problem("unknown type");
        if (e.types.count(name) != 0)
          problem("second TYPE");
        e.types[name] = type;
      } else {
        problem("comment that is neither HELP nor TYPE");
      }
      if (!metric_name(name))
        problem("bad metric name");
      continue;
    }
    sample s;
    size_t at = 0;
    while (at < line.size() && line[at] != '{' && line[at] != ' ')
      ++at;
    s.name = line.substr(0, at);
    if (!metric_name(s.name))
      problem("bad metric name");
    if (at < line.size() && line[at] == '{') {
      ++at;
      while (at < line.size() && line[at] != '}') {
        auto eq = line.find('=', at);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          problem("label without =\"");
          break;
        }
        auto key = line.substr(at, eq - at);
        std::string value;
        size_t i = eq + 2;
        for (; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\' && i + 1 < line.size()) {
            ++i;
            value += line[i] == 'n' ? '\n' : line[i];
          } else {
            value += line[i];
          }
        }
        if (i >= line.size()) {
          problem("unterminated label value");
          break;
        }
        s.labels[key] = value;
        at = i + 1;
        if (at < line.size() && line[at] == ',')
          ++at;
      }
      ++at; // '}'
    }
    if (at >= line.size() || line[at] != ' ') {
      problem("no value");
      continue;
    }
    char* end = nullptr;
    auto value = line.substr(at + 1);
    s.value = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || *end != '\0')
      problem("value is not a number");
    if (e.types.count(s.name) == 0)
      problem("sample before its TYPE");
    e.samples.push_back(std::move(s));
  }
  for (auto& [name, type] : e.types)
    if (type == "counter" && name.size() > 6 && name.substr(name.size() - 6) != "_total")
      e.problems.push_back("counter without _total: " + name);
  return e;
}

} // namespace

// args: bus. A bus client with a supervisor "client-sup" of two local
// workers; prints "ready" and waits for SIGTERM (or SIGKILL).
SHMBUS_CHILD_ROLE("supervising-client") {
  block_stop_signals();
  bus::config cfg;
  actors::configure(cfg);
  cfg.shmbus.bus = args.at(0);
  cfg.shmbus.role = "client";
  cfg.shmbus.node_name = "supervising-client";
  caf::actor_system sys{cfg};
  auto node = bus::node::start(sys);
  if (!node) {
    std::printf("error: %s\n", sys.render(node.error()).c_str());
    return 3;
  }
  supervision::supervisor_flags flags;
  flags.name = "client-sup";
  flags.strategy = supervision::restart_strategy::one_for_all;
  std::vector<supervision::child_spec> children;
  for (auto name : {"w1", "w2"})
    children.emplace_back(name, [name](caf::actor_system& sys) {
      return sys.spawn(echo_actor, std::string{name});
    });
  auto sup = supervision::start_supervisor(sys, flags, children);
  if (!sup) {
    std::printf("error: %s\n", sys.render(sup.error()).c_str());
    return 3;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  wait_for_stop_signal(std::chrono::seconds{30});
  caf::anon_send_exit(*sup, caf::exit_reason::user_shutdown);
  return 0;
}

TEST_CASE("show --json holds every counter of every node, the inboxes, the names and "
          "the supervision tree") {
  module_fixture fx{"ctl-json"};
  start_modules(fx);
  auto echo_pid = fx.pid_behind("echo"); // a request: counters move
  REQUIRE(echo_pid);
  auto doc = shmbusctl_json("show", fx.bus.name);
  CHECK_EQ(doc["bus"], fx.bus.name);
  CHECK_EQ(doc["server_running"], true);
  REQUIRE(doc["nodes"].is_array());
  CHECK(doc["nodes"].size() >= 2);
  std::set<std::string> names;
  for (auto& n : doc["nodes"]) {
    names.insert(n["name"].get<std::string>());
    for (auto& c : transport::counter_infos())
      CHECK_MESSAGE(n["counters"][c.name].is_number_unsigned(),
                    "node " << n["name"] << " lacks counter " << c.name);
    CHECK_EQ(n["counters"].size(), transport::counter_infos().size());
    CHECK(n["inbox"]["capacity_bytes"].get<uint64_t>() > 0);
    CHECK(n["inbox"]["used_bytes"].get<uint64_t>() <= n["inbox"]["capacity_bytes"].get<uint64_t>());
    for (auto key : {"slot", "pid", "incarnation", "state", "role", "heartbeat_age_ms",
                     "process_running", "loss_cause"})
      CHECK_MESSAGE(n.contains(key), "node lacks " << key);
  }
  CHECK(names.count("test-server") == 1);
  CHECK(names.count("echo") == 1);
  for (auto& n : doc["nodes"])
    if (n["name"] == "test-server")
      CHECK(n["counters"]["msgs_out"].get<uint64_t>() >= 1);
  bool published = false;
  for (auto& x : doc["names"])
    published = published || x["name"] == "echo";
  CHECK(published);
  auto sup = find_supervisor(doc["supervisors"], "modules");
  REQUIRE_MESSAGE(!sup.is_null(), doc["supervisors"].dump());
  CHECK_EQ(sup["strategy"], "one_for_one");
  CHECK_EQ(sup["node"], "test-server");
  CHECK_EQ(sup["pid"], static_cast<int>(::getpid()));
  REQUIRE_EQ(sup["children"].size(), 1u);
  auto& child = sup["children"][0];
  CHECK_EQ(child["name"], "echo");
  CHECK_EQ(child["kind"], "worker");
  CHECK_EQ(child["state"], "running");
  CHECK_EQ(child["pid"], *echo_pid);
  CHECK_EQ(child["restarts"], 0);
  CHECK(doc["errors"].is_array());
  CHECK(doc["limits"]["supervision_entries"].get<uint32_t>() > 0);
}

TEST_CASE("show reports the buffer pool's use per size class and per holder") {
  module_fixture fx{"ctl-pool"};
  auto w = fx.node.make_buffer(20000);
  REQUIRE_MESSAGE(w, fx.sys->render(w.error()));
  auto doc = shmbusctl_json("show", fx.bus.name);
  auto& pool = doc["pool"];
  CHECK(pool["pool_bytes"].get<uint64_t>() == doc["limits"]["pool_bytes"].get<uint64_t>());
  REQUIRE(pool["classes"].is_array());
  uint32_t used = 0;
  for (auto& c : pool["classes"]) {
    used += c["used"].get<uint32_t>();
    if (c["used"].get<uint32_t>() > 0)
      CHECK(c["block_bytes"].get<uint64_t>() == 65536); // the class 20000 bytes fit into
  }
  CHECK(used == 1);
  REQUIRE(pool["holders"].size() == 1);
  CHECK(pool["holders"][0]["slot"] == 0);
  CHECK(pool["holders"][0]["held"] == 1);
  auto text = shmbusctl({"show", fx.bus.name});
  CHECK(contains(text.out, "buffer pool: "));
  CHECK(contains(text.out, "1 of "));
  CHECK(contains(text.out, "test-server"));
  auto frozen = std::move(*w).freeze();
  frozen = bus::shared_buffer{};
  CHECK(shmbusctl_json("show", fx.bus.name)["pool"]["holders"].empty());
}

TEST_CASE("metrics is valid Prometheus text with every node counter, labelled by bus "
          "and node") {
  module_fixture fx{"ctl-metrics"};
  start_modules(fx);
  REQUIRE(fx.pid_behind("echo"));
  auto r = shmbusctl({"metrics", fx.bus.name});
  REQUIRE_EQ(r.code, 0);
  auto e = parse_exposition(r.out);
  std::string problems;
  for (auto& p : e.problems)
    problems += p + "\n";
  CHECK_MESSAGE(e.problems.empty(), problems);
  for (auto& [name, type] : e.types) {
    CHECK_MESSAGE(name.rfind("shmbus_", 0) == 0, name);
    CHECK_MESSAGE(e.helped.count(name) == 1, name << " has no HELP");
  }
  for (auto& c : transport::counter_infos()) {
    auto name = std::string{"shmbus_node_"} + c.name + "_total";
    CHECK_MESSAGE(e.types[name] == "counter", name);
    size_t with_labels = 0;
    for (auto& s : e.samples)
      if (s.name == name && s.labels["bus"] == fx.bus.name && !s.labels["node"].empty())
        ++with_labels;
    CHECK_MESSAGE(with_labels >= 2, name << ": one sample per running node");
  }
  bool echo_running = false;
  for (auto& s : e.samples)
    echo_running = echo_running
                   || (s.name == "shmbus_supervisor_child_running" && s.labels["child"] == "echo"
                       && s.labels["supervisor"] == "modules" && s.value == 1);
  CHECK(echo_running);
}

TEST_CASE("tree shows a live supervisor's children and drops them when the supervisor "
          "is killed") {
  module_fixture fx{"ctl-tree"};
  auto sup = start_modules(fx);
  auto text = shmbusctl({"tree", fx.bus.name});
  CHECK_EQ(text.code, 0);
  CHECK_MESSAGE(contains(text.out, "supervisor 'modules' (one_for_one)"), text.out);
  CHECK_MESSAGE(contains(text.out, "echo  worker, running, pid "), text.out);
  (*fx.self)->send_exit(sup, caf::exit_reason::kill);
  REQUIRE(fx.down_reason(sup, 10s));
  CHECK(wait_until([&] { return shmbusctl_json("tree", fx.bus.name).empty(); }, 10s));
}

TEST_CASE("tree nests a child supervisor under its parent") {
  module_fixture fx{"ctl-tree-nested"};
  supervision::supervisor_flags inner;
  inner.strategy = supervision::restart_strategy::rest_for_one;
  auto worker = [](const std::string& name) {
    return supervision::child_spec{name, [name](caf::actor_system& sys) {
                                     return sys.spawn(echo_actor, name);
                                   }};
  };
  supervision::supervisor_flags top;
  top.name = "top";
  fx.start(top, {supervision::supervisor_spec("inner", inner, {worker("leaf")}),
                 worker("sibling")});
  auto doc = shmbusctl_json("tree", fx.bus.name);
  REQUIRE_MESSAGE(doc.size() == 1u, doc.dump()); // "inner" is no root of its own
  auto& children = doc[0]["children"];
  REQUIRE_EQ(children.size(), 2u);
  CHECK_EQ(children[0]["name"], "inner");
  CHECK_EQ(children[0]["kind"], "supervisor");
  REQUIRE(children[0].contains("supervisor"));
  CHECK_EQ(children[0]["supervisor"]["strategy"], "rest_for_one");
  CHECK_EQ(children[0]["supervisor"]["children"][0]["name"], "leaf");
  CHECK_EQ(children[1]["name"], "sibling");
  auto text = shmbusctl({"tree", fx.bus.name}).out;
  CHECK_MESSAGE(contains(text, "\n    supervisor 'inner' (rest_for_one)"), text);
}

TEST_CASE("tree drops the supervisors of a process killed with SIGKILL") {
  module_fixture fx{"ctl-tree-kill"};
  auto client = child_process::spawn("supervising-client", {fx.bus.name});
  REQUIRE(client.expect_line("ready", 10s));
  auto doc = shmbusctl_json("tree", fx.bus.name);
  auto sup = find_supervisor(doc, "client-sup");
  REQUIRE_MESSAGE(!sup.is_null(), doc.dump());
  CHECK_EQ(sup["strategy"], "one_for_all");
  CHECK_EQ(sup["node"], "supervising-client");
  REQUIRE_EQ(sup["children"].size(), 2u);
  CHECK_EQ(sup["children"][0]["name"], "w1");
  CHECK_EQ(sup["children"][1]["name"], "w2");
  CHECK_EQ(sup["children"][1]["pid"], client.pid());
  client.signal(SIGKILL);
  REQUIRE(client.wait(10s));
  CHECK(wait_until(
    [&] { return find_supervisor(shmbusctl_json("tree", fx.bus.name), "client-sup").is_null(); },
    10s));
}

TEST_CASE("errors prints each distinct error once, with its count, first and last time") {
  module_fixture fx{"ctl-errors"};
  auto& tn = fx.node.transport_node();
  transport::error_log log{tn.shared_segment()};
  transport::error_reporter me{tn.slot(), tn.incarnation(), static_cast<int32_t>(::getpid()),
                               "test-server"};
  for (int i = 0; i < 3; ++i)
    log.report("test/repeated", "the same problem again", me);
  log.report("test/other", "another problem", me);
  auto doc = shmbusctl_json("errors", fx.bus.name);
  REQUIRE_EQ(doc.size(), 2u);
  CHECK_EQ(doc[0]["kind"], "test/repeated");
  CHECK_EQ(doc[0]["count"], 3);
  CHECK_EQ(doc[0]["node"], "test-server");
  CHECK(doc[0]["first_unix_ns"].get<int64_t>() > 0);
  CHECK(doc[0]["first_unix_ns"].get<int64_t>() <= doc[0]["last_unix_ns"].get<int64_t>());
  CHECK_EQ(doc[1]["count"], 1);
  auto text = shmbusctl({"errors", fx.bus.name});
  CHECK_MESSAGE(contains(text.out, "3 x test/repeated"), text.out);
  CHECK_MESSAGE(contains(text.out, "the same problem again"), text.out);
}

TEST_CASE("watch prints frames with rates in a dumb terminal and ends when the bus goes "
          "away") {
  auto fx = std::make_unique<module_fixture>("ctl-watch");
  start_modules(*fx);
  auto watch = child_process::run(SHMBUS_SHMBUSCTL,
                                  {"watch", fx->bus.name, "--interval=100ms"},
                                  {{"TERM", "dumb"}});
  std::string seen;
  size_t frames = 0;
  while (frames < 2) {
    auto line = watch.read_line(10s);
    REQUIRE_MESSAGE(line, "watch printed no second frame; saw:\n" << seen);
    seen += *line + "\n";
    if (line->rfind("bus " + fx->bus.name + ": server running", 0) == 0)
      ++frames;
  }
  CHECK_MESSAGE(contains(seen, "msgs in/s"), seen);
  CHECK_MESSAGE(seen.find('\033') == std::string::npos, "escape codes in a dumb terminal");
  auto gone_line = "bus " + fx->bus.name + " is gone";
  fx.reset(); // stops the supervisor, its module and the bus
  bool gone = false;
  while (auto line = watch.read_line(10s))
    gone = gone || *line == gone_line;
  CHECK_MESSAGE(gone, "no line '" << gone_line << "'");
  auto status = watch.wait(10s);
  REQUIRE_MESSAGE(status, "watch did not end when the bus went away");
  CHECK_MESSAGE((status->exited && status->code == 0), status->to_string());
}

TEST_CASE("watch ends cleanly on Ctrl-C") {
  module_fixture fx{"ctl-watch-int"};
  auto watch = child_process::run(SHMBUS_SHMBUSCTL, {"watch", fx.bus.name, "--interval=50ms"},
                                  {{"TERM", "dumb"}});
  REQUIRE(watch.read_line(10s));
  watch.signal(SIGINT);
  auto status = watch.wait(10s);
  REQUIRE(status);
  CHECK_MESSAGE((status->exited && status->code == 0), status->to_string());
}
