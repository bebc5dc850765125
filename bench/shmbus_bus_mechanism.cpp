#include "shmbus_bus_mechanism.hpp"

#include <stdexcept>

#include <unistd.h>

#include <caf/io/middleman.hpp>

#include "shmbus/bus/bus_module.hpp"
#include "shmbus/bus/bus_scheduler.hpp"
#include "shmbus/bus/errc.hpp"
#include "shmbus/bus/node.hpp"
#include "shmbus/transport/bus_admin.hpp"

namespace shmbus::bench {

namespace {

class shmbus_bus_mechanism : public bus_mechanism {
public:
  shmbus_bus_mechanism(std::string idle, std::string dispatch, std::string name = {},
                       std::function<void(bus::bus_settings&)> tweak = nullptr,
                       std::string tweak_note = {})
    : idle_(std::move(idle)),
      dispatch_(std::move(dispatch)),
      name_(std::move(name)),
      tweak_(std::move(tweak)),
      tweak_note_(std::move(tweak_note)) {
    // nop
  }

  std::string name() const override {
    if (!name_.empty())
      return name_;
    auto strategy = idle_;
    for (auto& c : strategy)
      if (c == ':')
        c = '-';
    return "shmbus-" + strategy + (dispatch_ == "inline" ? "" : "-sched");
  }

  std::string description() const override {
    return name() + ": shmbus::bus (shared-memory inbox per process), I/O thread waits "
           + idle_ + ", dispatch " + dispatch_
           + (dispatch_ == "inline"
                ? " (actors woken by a remote message run on the I/O thread)"
                : " (woken actors go to CAF's scheduler)")
           + (tweak_note_.empty() ? "" : "; " + tweak_note_)
           + "; CAF's scheduler with shmbus's batching clock; B publishes, A looks up by name";
  }

  void configure(caf::actor_system_config& cfg, bench_process) override {
    // What shmbus::bus::config does for its users.
    cfg.load<bus::bus_scheduler>();
    cfg.load<caf::io::middleman>(); // the node id
    cfg.load<bus::bus_module>();
    bus::add_error_category(cfg);
    cfg.set("scheduler.policy", caf::atom("sharing"));
  }

  std::string expose(caf::actor_system& sys, const caf::actor& peer) override {
    auto bus = "bench-bus-" + std::to_string(::getpid());
    transport::remove_bus(bus);
    start(sys, bus, "server");
    if (auto err = node_.publish(peer, "peer"))
      throw std::runtime_error("publish: " + sys.render(err));
    return bus;
  }

  caf::actor lookup(caf::actor_system& sys, const std::string& address,
                    std::chrono::milliseconds timeout) override {
    start(sys, address, "client");
    auto found = node_.lookup("peer", timeout);
    if (!found)
      throw std::runtime_error("lookup on bus " + address + ": " + sys.render(found.error()));
    return *found;
  }

  void shutdown(caf::actor_system&) noexcept override {
    if (!node_)
      return;
    // Whichever of the two leaves last removes the bus (remove_bus refuses
    // while the other still runs).
    auto bus = node_.settings().bus;
    node_.stop();
    node_ = bus::node{};
    transport::remove_bus(bus);
  }

private:
  void start(caf::actor_system& sys, const std::string& bus, const std::string& role) {
    bus::bus_settings settings;
    settings.bus = bus;
    settings.role = role;
    settings.node_name = "bench-" + role;
    settings.idle_strategy = idle_;
    settings.dispatch = dispatch_;
    // The peer ends the run; a benchmark client must not _exit under it.
    settings.on_server_lost = "continue";
    if (tweak_)
      tweak_(settings);
    auto started = bus::node::start(sys, settings);
    if (!started)
      throw std::runtime_error("shmbus " + role + " on bus " + bus + ": "
                               + sys.render(started.error()));
    node_ = *started;
  }

  std::string idle_;
  std::string dispatch_;
  std::string name_;
  std::function<void(bus::bus_settings&)> tweak_;
  std::string tweak_note_;
  bus::node node_;
};

} // namespace

std::unique_ptr<bus_mechanism> make_shmbus_bus_mechanism(const std::string& idle,
                                                         const std::string& dispatch) {
  return std::make_unique<shmbus_bus_mechanism>(idle, dispatch);
}

std::unique_ptr<bus_mechanism>
make_shmbus_bus_mechanism(const std::string& idle, const std::string& dispatch,
                          std::string name, std::function<void(bus::bus_settings&)> tweak,
                          std::string tweak_note) {
  return std::make_unique<shmbus_bus_mechanism>(idle, dispatch, std::move(name),
                                                std::move(tweak), std::move(tweak_note));
}

} // namespace shmbus::bench
