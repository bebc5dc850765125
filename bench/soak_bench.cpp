#include "soak_bench.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include <caf/all.hpp>

#include "child_process.hpp"
#include "clock.hpp"
#include "measurement.hpp"
#include "placement.hpp"
#include "process_pair.hpp"
#include "shmbus/actors/errc.hpp"
#include "shmbus/actors/module_main.hpp"
#include "shmbus/actors/module_spec.hpp"
#include "shmbus/bus/config.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/process/process_tree.hpp"
#include "shmbus/supervision/supervisor.hpp"
#include "shmbus/transport/bus_admin.hpp"

namespace shmbus::bench {

namespace {

using namespace std::chrono_literals;

using soak_request_atom = caf::atom_constant<caf::atom("soakreq")>;
using soak_item_atom = caf::atom_constant<caf::atom("soakitem")>;
using soak_tick_atom = caf::atom_constant<caf::atom("soaktick")>;

/// Module processes; the last `steady_modules` are never killed, so that
/// their memory can be followed over the whole run.
constexpr int modules = 7;
constexpr int steady_modules = 2;

/// Requests each requester of the supervisor keeps in flight.
constexpr int request_window = 8;
constexpr int requesters = 4;
/// Plain sends per streamer burst, one burst per millisecond.
constexpr int stream_burst = 32;
constexpr int streamers = 2;
/// A module's requests to other modules in flight at most.
constexpr int module_window = 16;

constexpr size_t payload_bytes = 64;

/// After the load stops: how long the last requests get to end (a stopped
/// module is declared hung after the heartbeat timeout, 1 s by default).
constexpr auto drain_timeout = 20s;
constexpr auto start_timeout = 30s;
constexpr auto shutdown_timeout = 60s;

std::string service_name(int k) {
  return "soak-" + std::to_string(k);
}

// -- the modules ---------------------------------------------------------------

caf::behavior soak_service() {
  return {
    [](soak_request_atom, uint64_t seq, const std::string&) { return seq; },
    [](soak_item_atom, uint64_t, const std::string&) {},
  };
}

struct peer_load_state {
  std::mt19937_64 rng;
  int outstanding = 0;
  uint64_t seq = 0;
};

/// A module's own traffic: requests and bursts of plain sends to the other
/// modules, every 5 ms.
caf::behavior peer_load(caf::stateful_actor<peer_load_state>* self, bus::node node, int index) {
  self->state.rng.seed(static_cast<uint64_t>(index) * 7919 + ::getpid());
  self->send(self, soak_tick_atom::value);
  return {
    [=](soak_tick_atom) {
      self->delayed_send(self, 5ms, soak_tick_atom::value);
      auto& st = self->state;
      auto k = static_cast<int>(st.rng() % modules);
      if (k == index || st.outstanding >= module_window)
        return;
      auto target = node.lookup(service_name(k));
      if (!target)
        return; // restarting
      ++st.outstanding;
      self->request(*target, caf::infinite, soak_request_atom::value, st.seq++,
                    std::string(payload_bytes, 'm'))
        .then([=](uint64_t) { --self->state.outstanding; },
              [=](caf::error&) { --self->state.outstanding; });
      for (int i = 0; i < 8; ++i)
        self->send(*target, soak_item_atom::value, st.seq++, std::string(payload_bytes, 's'));
    },
  };
}

// -- the supervisor's load -------------------------------------------------------

struct soak_counters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> answered{0};
  std::atomic<uint64_t> wrong{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> streamed{0};
  std::atomic<bool> stopping{false};

  uint64_t ended() const {
    return answered.load() + wrong.load() + failed.load();
  }

  /// Counts `err` by its kind ("request_receiver_down", "shmbus::inbox_full").
  void failed_with(caf::actor_system& sys, const caf::error& err) {
    ++failed;
    auto text = sys.render(err);
    auto cut = text.find_first_of(":(");
    if (text.compare(0, 13, "system_error(") == 0)
      text = text.substr(13, text.find_first_of(",)", 13) - 13);
    else if (cut != std::string::npos && text.compare(0, 8, "shmbus::") == 0)
      text = text.substr(0, text.find(':', 8));
    else if (cut != std::string::npos)
      text = text.substr(0, cut);
    std::lock_guard<std::mutex> guard(mtx);
    ++kinds[text];
  }

  std::string kinds_text() {
    std::lock_guard<std::mutex> guard(mtx);
    std::string result;
    for (auto& [kind, n] : kinds)
      result += (result.empty() ? "" : ",") + kind + "=" + std::to_string(n);
    return result;
  }

  std::mutex mtx;
  std::map<std::string, uint64_t> kinds;
};

struct requester_state {
  std::mt19937_64 rng;
  uint64_t seq = 0;
};

/// Keeps request_window requests without timeout in flight to random
/// modules: each must end with its answer or an error.
caf::behavior requester(caf::stateful_actor<requester_state>* self, bus::node node,
                        std::shared_ptr<soak_counters> c, uint64_t id) {
  self->state.rng.seed(id);
  self->state.seq = id << 40;
  for (int i = 0; i < request_window; ++i)
    self->send(self, soak_tick_atom::value);
  return {
    [=](soak_tick_atom) {
      if (c->stopping)
        return;
      auto& st = self->state;
      auto target = node.lookup(service_name(static_cast<int>(st.rng() % modules)));
      if (!target) { // restarting: try another one soon
        self->delayed_send(self, 1ms, soak_tick_atom::value);
        return;
      }
      auto seq = st.seq++;
      ++c->requests;
      self->request(*target, caf::infinite, soak_request_atom::value, seq,
                    std::string(payload_bytes, 'r'))
        .then(
          [=](uint64_t got) {
            ++(got == seq ? c->answered : c->wrong);
            self->send(self, soak_tick_atom::value);
          },
          [=](caf::error& err) {
            c->failed_with(self->system(), err);
            self->send(self, soak_tick_atom::value);
          });
    },
  };
}

/// A burst of plain sends to a random module every millisecond.
caf::behavior streamer(caf::stateful_actor<requester_state>* self, bus::node node,
                       std::shared_ptr<soak_counters> c, uint64_t id) {
  self->state.rng.seed(id);
  self->send(self, soak_tick_atom::value);
  return {
    [=](soak_tick_atom) {
      if (c->stopping)
        return;
      self->delayed_send(self, 1ms, soak_tick_atom::value);
      auto& st = self->state;
      auto target = node.lookup(service_name(static_cast<int>(st.rng() % modules)));
      if (!target)
        return;
      for (int i = 0; i < stream_burst; ++i)
        self->send(*target, soak_item_atom::value, st.seq++, std::string(payload_bytes, 's'));
      c->streamed += stream_burst;
    },
  };
}

// -- measuring ---------------------------------------------------------------------

/// Resident memory of `pid` in KiB (VmRSS), 0 if unreadable.
double rss_kib(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stod(line.substr(6));
  return 0;
}

bool is_child(pid_t pid) {
  for (auto& x : process::children_of(::getpid()))
    if (x.pid == pid)
      return true;
  return false;
}

size_t zombie_children() {
  size_t n = 0;
  for (auto& x : process::children_of(::getpid()))
    n += x.state == 'Z' ? 1 : 0;
  return n;
}

/// The module process behind service `k` now, if it is a child of ours.
std::optional<pid_t> module_pid(const bus::node& node, int k) {
  auto target = node.lookup(service_name(k));
  if (!target)
    return std::nullopt;
  auto pid = bus::process_id_of(target->node());
  if (pid <= 0 || !is_child(pid))
    return std::nullopt;
  return pid;
}

/// The processes that live through the run and whose memory is followed.
struct followed_process {
  std::string name;
  pid_t pid;
  double start_kib = 0;
};

} // namespace

int soak_module_main(int argc, char** argv) {
  int index = -1;
  for (int i = 1; i < argc; ++i)
    if (std::string arg{argv[i]}; arg.rfind("index=", 0) == 0)
      index = std::stoi(arg.substr(6));
  return actors::run_module(argc, argv, [index](caf::actor_system& sys, bus::node& node)
                                          -> caf::expected<std::vector<caf::actor>> {
    auto svc = sys.spawn(soak_service);
    if (auto err = node.publish(svc, service_name(index)))
      return err;
    auto load = sys.spawn(peer_load, node, index);
    return std::vector<caf::actor>{svc, load};
  });
}

int soak_driver_role(const role_args& args) {
  auto duration = std::chrono::milliseconds{args.get_int("duration_ms")};
  auto chaos = std::chrono::milliseconds{args.get_int("chaos_ms")};
  bus::config cfg;
  actors::configure(cfg);
  cfg.shmbus.bus = args.get("bus");
  cfg.shmbus.role = "server";
  cfg.shmbus.node_name = "supervisor";
  caf::actor_system sys{cfg};
  auto started = bus::node::start(sys);
  if (!started)
    throw std::runtime_error(sys.render(started.error()));
  auto node = *started;
  std::vector<supervision::child_spec> children;
  for (int k = 0; k < modules; ++k) {
    actors::module_spec spec;
    spec.name = service_name(k);
    spec.executable = self_executable();
    spec.args = {role_flag, "soak-module", "index=" + std::to_string(k)};
    spec.publishes = {service_name(k)};
    spec.output = [](actors::output_stream, std::string_view) {}; // quiet
    children.push_back(actors::module_child(spec, node));
  }
  supervision::supervisor_flags flags;
  flags.intensity = 1000000; // every fault is a restart: never give up here
  flags.period = std::chrono::hours{1};
  auto sup = supervision::start_supervisor(sys, flags, std::move(children));
  if (!sup)
    throw std::runtime_error(sys.render(sup.error()));
  for (int k = 0; k < modules; ++k)
    if (!node.lookup(service_name(k), caf::timespan{start_timeout}))
      throw std::runtime_error("module " + service_name(k) + " did not start");
  // The load.
  auto counters = std::make_shared<soak_counters>();
  std::vector<caf::actor> load;
  for (int i = 0; i < requesters; ++i)
    load.push_back(sys.spawn(requester, node, counters, static_cast<uint64_t>(i + 1)));
  for (int i = 0; i < streamers; ++i)
    load.push_back(sys.spawn(streamer, node, counters, static_cast<uint64_t>(100 + i)));
  // The chaos, and the memory of the processes that live through it.
  auto start = mono_clock::now();
  auto baseline_at = start + duration / 6;
  auto end = start + duration;
  std::vector<followed_process> followed;
  std::mt19937_64 rng{20261126};
  uint64_t kills = 0;
  uint64_t stops = 0;
  while (mono_clock::now() < end) {
    auto pause = chaos / 2 + std::chrono::milliseconds{rng() % chaos.count()};
    std::this_thread::sleep_for(std::min<mono_clock::duration>(pause, end - mono_clock::now()));
    if (followed.empty() && mono_clock::now() >= baseline_at) {
      followed.push_back({"supervisor", ::getpid(), rss_kib(::getpid())});
      for (int k = modules - steady_modules; k < modules; ++k)
        if (auto pid = module_pid(node, k))
          followed.push_back({"module" + std::to_string(k), *pid, rss_kib(*pid)});
    }
    if (mono_clock::now() >= end)
      break;
    auto victim = module_pid(node, static_cast<int>(rng() % (modules - steady_modules)));
    if (!victim)
      continue; // restarting
    if (rng() % 3 == 0) {
      ::kill(*victim, SIGSTOP); // found hung after the heartbeat timeout, killed
      ++stops;
    } else {
      ::kill(*victim, SIGKILL);
      ++kills;
    }
  }
  measurement out;
  double worst_growth = 0;
  for (auto& x : followed) {
    auto now = rss_kib(x.pid);
    auto growth = x.start_kib > 0 ? (now - x.start_kib) * 100.0 / x.start_kib : 0.0;
    worst_growth = std::max(worst_growth, growth);
    out.add("rss_growth_pct_" + x.name, growth);
    out.add("rss_kib_" + x.name, now);
  }
  // Every request must end with its answer or an error.
  counters->stopping = true;
  deadline drained{drain_timeout};
  while (counters->ended() < counters->requests.load() && !drained.expired())
    std::this_thread::sleep_for(10ms);
  auto requests = counters->requests.load();
  auto ended = counters->ended();
  for (auto& x : load)
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
  // Shut the modules down through their supervisor, then count zombies.
  {
    caf::scoped_actor self{sys};
    self->monitor(*sup);
    self->send_exit(*sup, caf::exit_reason::user_shutdown);
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; },
                  caf::after(std::chrono::duration_cast<caf::timespan>(shutdown_timeout))
                    >> [] {});
    if (!down)
      throw std::runtime_error("the supervisor did not shut its modules down in time");
  }
  auto zombies = zombie_children();
  auto undelivered = node.undelivered();
  node.stop();
  out.samples = requests;
  out.add("requests", static_cast<double>(requests));
  out.add("answered", static_cast<double>(counters->answered.load()));
  out.add("failed_with_error", static_cast<double>(counters->failed.load()));
  out.add("lost", static_cast<double>(requests - ended));
  out.add("wrong_answers", static_cast<double>(counters->wrong.load()));
  out.add("rss_growth_pct", worst_growth);
  out.add("zombies", static_cast<double>(zombies));
  out.add("kills", static_cast<double>(kills));
  out.add("stops", static_cast<double>(stops));
  out.add("streamed", static_cast<double>(counters->streamed.load()));
  out.add("undelivered", static_cast<double>(undelivered));
  out.add("duration_s", std::chrono::duration<double>(duration).count());
  out.add("errors", counters->kinds_text());
  write_measurement(stdout, out);
  return 0;
}

namespace {

/// Files of `bus` in /dev/shm: none may be left once all its processes ended.
size_t shm_leftovers(const std::string& bus) {
  size_t n = 0;
  auto prefix = "shmbus-" + bus;
  if (auto* dir = ::opendir("/dev/shm")) {
    while (auto* entry = ::readdir(dir))
      if (std::string{entry->d_name}.rfind(prefix, 0) == 0)
        ++n;
    ::closedir(dir);
  }
  return n;
}

double extra_number(const row& r, const std::string& key) {
  for (auto& x : r.extras)
    if (x.key == key)
      if (auto* num = std::get_if<double>(&x.value))
        return *num;
  return 0;
}

} // namespace

void run_soak_suite(const run_options& options, report& out) {
  if (!options.selects("shmbus"))
    return;
  auto duration = options.quick ? std::chrono::minutes{1} : std::chrono::minutes{10};
  auto chaos = options.quick ? 2000ms : 3000ms;
  auto bus = "bench-soak-" + std::to_string(::getpid());
  transport::remove_bus(bus);
  pair_spec spec;
  spec.suite = "soak";
  spec.bench = "soak";
  spec.mechanism = "shmbus";
  spec.where = unpinned();
  spec.with_peer = false; // the driver starts its own modules
  spec.params.set("bus", bus);
  spec.params.set("duration_ms", static_cast<long long>(
                                   std::chrono::duration_cast<std::chrono::milliseconds>(duration)
                                     .count()));
  spec.params.set("chaos_ms", static_cast<long long>(chaos.count()));
  spec.budget = std::chrono::duration_cast<std::chrono::milliseconds>(duration) + 3min;
  auto r = run_pair(spec);
  // Every process of the bus has ended by now.
  auto leftovers = shm_leftovers(bus);
  r.extras.push_back({"shm_leftovers", static_cast<double>(leftovers)});
  if (r.error.empty()) {
    std::string failed;
    if (extra_number(r, "lost") > 0)
      failed += " lost requests;";
    if (extra_number(r, "wrong_answers") > 0)
      failed += " wrong answers;";
    if (extra_number(r, "zombies") > 0)
      failed += " zombies;";
    if (leftovers > 0)
      failed += " files left in /dev/shm;";
    if (extra_number(r, "rss_growth_pct") > 10)
      failed += " memory grew by more than 10 %;";
    if (!failed.empty())
      r.error = "soak:" + failed;
  }
  transport::remove_bus(bus);
  out.add(std::move(r));
  out.note("soak: one bus server process runs a one_for_one supervisor of 7 module "
           "processes (run_module); every " + std::to_string(chaos.count() / 2) + "-"
           + std::to_string(chaos.count() * 3 / 2)
           + " ms one of modules 0-4 gets kill -9 (2/3) or SIGSTOP (1/3, found hung after "
             "the heartbeat timeout and killed) and is restarted; throughout, 4 actors of "
             "the server keep 8 requests without timeout each in flight to random modules, "
             "2 send bursts of 32 plain sends every ms, and every module requests and "
             "streams to the others; lost = requests that got neither an answer nor an "
             "error within 20 s after the load stopped; rss_growth_pct = VmRSS growth of "
             "the server and of modules 5-6 (never killed) from 1/6 of the run to its end; "
             "zombies = unreaped children of the server after its supervisor stopped; "
             "shm_leftovers = /dev/shm files of the bus after every process ended");
}

} // namespace shmbus::bench
