#include "shmbus_transport_mechanism.hpp"

#include <cstring>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include "shmbus/transport/bus_admin.hpp"
#include "shmbus/transport/crc32c.hpp"
#include "shmbus/transport/node.hpp"

namespace shmbus::bench {

namespace {

using namespace std::chrono_literals;

/// Copies the one record poll() hands over into the caller's buffer.
class copy_one : public transport::inbox_handler {
public:
  void on_message(const transport::message_view& msg) override {
    if (msg.size > capacity_)
      throw std::runtime_error("message of " + std::to_string(msg.size)
                               + " bytes exceeds the receive buffer");
    std::memcpy(buf_, msg.data, msg.size);
    size_ = msg.size;
    got_ = true;
  }
  void on_peer_lost(const transport::peer_loss& loss) override {
    lost_ = loss.describe();
  }

  void arm(std::byte* buf, size_t capacity) {
    buf_ = buf;
    capacity_ = capacity;
    got_ = false;
  }

  bool got_ = false;
  size_t size_ = 0;
  std::string lost_;

private:
  std::byte* buf_ = nullptr;
  size_t capacity_ = 0;
};

class shmbus_endpoint : public endpoint {
public:
  shmbus_endpoint(std::unique_ptr<transport::node> self, transport::peer_info peer)
    : self_(std::move(self)), peer_(std::move(peer)) {
    // nop
  }

  ~shmbus_endpoint() override {
    // Whichever of the two leaves last removes the bus (remove_bus refuses
    // while the other still runs).
    auto bus = self_->bus();
    self_.reset();
    transport::remove_bus(bus);
  }

  void send(const std::byte* data, size_t size) override {
    if (auto err = self_->send(peer_.slot, peer_.incarnation, data, size))
      throw std::runtime_error("shmbus send: " + err.message);
    // The heartbeat is the consumer's: a sender that reads nothing for a
    // whole stream still stamps it (a poll of zero records reads none).
    if (++sent_ % heartbeat_every == 0)
      self_->poll(handler_, 0);
  }

  size_t receive(std::byte* buf, size_t capacity,
                 std::chrono::milliseconds timeout) override {
    handler_.arm(buf, capacity);
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      self_->run_once(handler_, until - std::chrono::steady_clock::now(), 1);
      if (handler_.got_)
        return handler_.size_;
      if (!handler_.lost_.empty())
        throw std::runtime_error("shmbus peer lost: " + handler_.lost_);
      if (std::chrono::steady_clock::now() >= until)
        throw std::runtime_error("shmbus receive: nothing within "
                                 + std::to_string(timeout.count()) + " ms");
    }
  }

  void idle(std::chrono::milliseconds d) override {
    handler_.arm(nullptr, 0);
    auto until = std::chrono::steady_clock::now() + d;
    for (auto now = until - d; now < until; now = std::chrono::steady_clock::now())
      self_->run_once(handler_, until - now, 1);
    if (!handler_.lost_.empty())
      throw std::runtime_error("shmbus peer lost: " + handler_.lost_);
  }

private:
  /// Sends between two heartbeat stamps of a stream sender (~0.1 ms).
  static constexpr uint64_t heartbeat_every = 1024;

  std::unique_ptr<transport::node> self_;
  transport::peer_info peer_;
  copy_one handler_;
  uint64_t sent_ = 0;
};

class shmbus_mechanism : public transport_mechanism {
public:
  shmbus_mechanism(transport::idle_strategy idle, bool checksums)
    : idle_(idle), checksums_(checksums) {}

  std::string name() const override {
    auto text = transport::to_string(idle_);
    if (idle_.kind == transport::idle_kind::adaptive
        && idle_.spin == transport::defaults::spin_budget
        && idle_.yield == transport::defaults::yield_budget)
      text = "adaptive";
    for (auto& c : text)
      if (c == ':')
        c = '-';
    return "shmbus-" + text + (checksums_ ? "" : "-nocrc");
  }

  std::string description() const override {
    return "shmbus transport: one record per message in the receiver's "
           "shared-memory inbox ring, receiver waits "
           + transport::to_string(idle_)
           + " (adaptive:<spin us>:<yield us> spins, then yields, then parks on "
             "a futex); 1 MiB inbox; "
           + (checksums_ ? std::string("a CRC32C per record (") + transport::crc32c_implementation()
                             + "), written by the sender, checked by the receiver"
                         : std::string("no checksums (shmbus.checksums=off)"));
  }

  std::unique_ptr<endpoint>
  accept(const std::function<void(const std::string&)>& announce,
         std::chrono::milliseconds timeout) override {
    auto bus = "bench-" + std::to_string(::getpid());
    transport::remove_bus(bus);
    auto self = start(bus, transport::node_role::server);
    announce(bus);
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (auto peer = self->peer(1))
        return std::make_unique<shmbus_endpoint>(std::move(self), *peer);
      std::this_thread::sleep_for(1ms); // set-up, not measured
    }
    throw std::runtime_error("A did not join bus " + bus);
  }

  std::unique_ptr<endpoint> connect(const std::string& address,
                                    std::chrono::milliseconds) override {
    auto self = start(address, transport::node_role::client);
    auto server = self->peer(0);
    if (!server)
      throw std::runtime_error("bus " + address + " has no server");
    return std::make_unique<shmbus_endpoint>(std::move(self), *server);
  }

private:
  std::unique_ptr<transport::node> start(const std::string& bus,
                                         transport::node_role role) {
    transport::node_options opts;
    opts.bus = bus;
    opts.role = role;
    opts.name = role == transport::node_role::server ? "bench-b" : "bench-a";
    opts.idle = idle_;
    opts.limits.max_message_bytes = max_message_size;
    opts.checksums = checksums_; // the server's choice holds for the bus
    auto n = transport::node::start(opts);
    if (!n)
      throw std::runtime_error("shmbus: " + n.err().message);
    return std::move(*n);
  }

  transport::idle_strategy idle_;
  bool checksums_;
};

} // namespace

std::unique_ptr<transport_mechanism>
make_shmbus_transport_mechanism(const transport::idle_strategy& idle, bool checksums) {
  return std::make_unique<shmbus_mechanism>(idle, checksums);
}

} // namespace shmbus::bench
