#include "caf_mechanisms.hpp"

#include <stdexcept>
#include <string>

#include <caf/io/middleman.hpp>

namespace shmbus::bench {

namespace {

class caf_tcp_mechanism : public bus_mechanism {
public:
  std::string name() const override {
    return "caf-tcp";
  }

  std::string description() const override {
    return "caf-tcp: CAF " + version()
           + " io::middleman, BASP over TCP on 127.0.0.1 (publish in B, "
             "remote_actor in A), middleman heartbeat off (0.17 default)";
  }

  void configure(caf::actor_system_config& cfg, bench_process) override {
    cfg.load<caf::io::middleman>();
  }

  std::string expose(caf::actor_system& sys, const caf::actor& peer) override {
    // publish() returns once the socket listens: A can connect right away.
    auto port = sys.middleman().publish(peer, 0, "127.0.0.1");
    if (!port)
      throw std::runtime_error("publish on 127.0.0.1 failed: "
                               + sys.render(port.error()));
    return "127.0.0.1:" + std::to_string(*port);
  }

  caf::actor lookup(caf::actor_system& sys, const std::string& address,
                    std::chrono::milliseconds) override {
    // remote_actor() takes no timeout; the parent's row budget bounds it.
    auto colon = address.rfind(':');
    if (colon == std::string::npos)
      throw std::runtime_error("bad caf-tcp address '" + address
                               + "': expected host:port");
    auto host = address.substr(0, colon);
    auto port = static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1)));
    auto handle = sys.middleman().remote_actor(host, port);
    if (!handle)
      throw std::runtime_error("remote_actor(" + address
                               + ") failed: " + sys.render(handle.error()));
    return *handle;
  }

private:
  static std::string version() {
    return std::to_string(CAF_VERSION / 10000) + "."
           + std::to_string(CAF_VERSION / 100 % 100) + "."
           + std::to_string(CAF_VERSION % 100);
  }
};

class caf_inprocess_mechanism : public bus_mechanism {
public:
  std::string name() const override {
    return "caf-inprocess";
  }

  std::string description() const override {
    return "caf-inprocess: both actors in one actor system of one process "
           "(placement 'core 0' pins the whole process to core 0)";
  }

  bool in_process() const override {
    return true;
  }

  void configure(caf::actor_system_config&, bench_process) override {
    // nop: no networking
  }

  std::string expose(caf::actor_system&, const caf::actor&) override {
    throw std::logic_error("caf-inprocess has no process B");
  }

  caf::actor lookup(caf::actor_system&, const std::string&,
                    std::chrono::milliseconds) override {
    throw std::logic_error("caf-inprocess has no process B");
  }
};

} // namespace

std::unique_ptr<bus_mechanism> make_caf_tcp_mechanism() {
  return std::make_unique<caf_tcp_mechanism>();
}

std::unique_ptr<bus_mechanism> make_caf_inprocess_mechanism() {
  return std::make_unique<caf_inprocess_mechanism>();
}

} // namespace shmbus::bench
