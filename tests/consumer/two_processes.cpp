// Two processes on one bus: this program as the bus server supervises a copy
// of itself as a module ("worker" on the command line), which publishes a
// doubler; the server asks it to double 21 over the bus. Prints
// "two-processes: 21 doubled is 42" and exits 0.
#include <chrono>
#include <cstdio>
#include <string>

#include <unistd.h>

#include <caf/all.hpp>

#include "shmbus/actors/errc.hpp"
#include "shmbus/actors/module_main.hpp"
#include "shmbus/actors/module_spec.hpp"
#include "shmbus/bus/config.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/process/os_process.hpp"
#include "shmbus/supervision/supervisor.hpp"

using namespace std::chrono_literals;
namespace actors = shmbus::actors;
namespace supervision = shmbus::supervision;

namespace {

caf::behavior doubler() {
  return {[](int32_t x) { return 2 * x; }};
}

int worker(int argc, char** argv) {
  return actors::run_module(argc, argv,
                            [](caf::actor_system& sys, shmbus::bus::node& bus)
                              -> caf::expected<std::vector<caf::actor>> {
                              auto d = sys.spawn(doubler);
                              if (auto err = bus.publish(d, "doubler"))
                                return err;
                              return std::vector<caf::actor>{d};
                            });
}

} // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string{argv[1]} == "worker")
    return worker(argc, argv);
  shmbus::bus::config cfg;
  actors::configure(cfg);
  cfg.shmbus.bus = "consumer-" + std::to_string(::getpid());
  cfg.shmbus.role = "server";
  caf::actor_system sys{cfg};
  auto bus = shmbus::bus::node::start(sys);
  if (!bus) {
    std::fprintf(stderr, "two-processes: %s\n", sys.render(bus.error()).c_str());
    return 1;
  }
  actors::module_spec spec;
  spec.name = "worker";
  spec.executable = shmbus::process::self_executable().value();
  spec.args = {"worker"};
  spec.publishes = {"doubler"};
  auto sup = supervision::start_supervisor(sys, {}, {actors::module_child(spec, *bus)});
  if (!sup) {
    std::fprintf(stderr, "two-processes: %s\n", sys.render(sup.error()).c_str());
    return 1;
  }
  int32_t answer = 0;
  {
    caf::scoped_actor self{sys};
    auto d = bus->lookup("doubler", 5s);
    if (d)
      self->request(*d, 5s, int32_t{21})
        .receive([&](int32_t x) { answer = x; },
                 [&](caf::error& err) {
                   std::fprintf(stderr, "two-processes: %s\n", sys.render(err).c_str());
                 });
    self->monitor(*sup);
    self->send_exit(*sup, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {}, caf::after(15s) >> [] {});
  }
  bus->stop();
  std::printf("two-processes: 21 doubled is %d\n", static_cast<int>(answer));
  return answer == 42 ? 0 : 1;
}
