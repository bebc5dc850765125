// Processes that transport tests start: a node that reports what it sees on
// stdout, and producers for the streaming tests.
#include <csignal>
#include <cstring>
#include <future>
#include <iostream>

#include <unistd.h>

#include "child_process.hpp"
#include "transport_helpers.hpp"

using namespace shmbus;
using namespace shmbus::test;

namespace {

transport::node_role role_of(const std::string& x) {
  return x == "server" ? transport::node_role::server : transport::node_role::client;
}

/// Prints every event as a line, so the test can wait for it.
class printing_handler : public transport::inbox_handler {
public:
  void on_message(const transport::message_view& msg) override {
    std::printf("message %s\n",
                std::string(reinterpret_cast<const char*>(msg.data), msg.size).c_str());
    std::fflush(stdout);
  }
  void on_peer_lost(const transport::peer_loss& loss) override {
    std::printf("lost %u %s %d\n", loss.peer.slot, to_string(loss.cause), loss.detail);
    std::fflush(stdout);
  }
  void on_error(const transport::error& err) override {
    std::printf("error %s %s\n", to_string(err.code), err.message.c_str());
    std::fflush(stdout);
  }
};

} // namespace

// args: bus role name [then [timing]]
//   then = "stay" (default): consume until killed
//          "exit:N": _exit(N) without leaving
//          "leave": leave cleanly and exit 0
//          "send:SLOT:TEXT": send TEXT to SLOT's current incarnation, then stay
//          "send-leave:SLOT:TEXT": the same, then leave cleanly and exit 0
//          "block-consumer": consume a little, print "blocking", then the
//            consumer thread blocks for good (the liveness thread runs on)
//          "spin-consumer": the same, but it spins ("spinning"): the kernel
//            sees the thread run although it consumes nothing
//   timing = "fast" (server: fast_timing()) or "test" (default, test_timing())
SHMBUS_CHILD_ROLE("node") {
  auto n = transport::node::start([&] {
    transport::node_options opts;
    opts.bus = args.at(0);
    opts.role = role_of(args.at(1));
    opts.name = args.at(2);
    opts.timing = timing_named(args.size() > 4 ? args[4] : "test");
    return opts;
  }());
  if (!n) {
    std::printf("error %s %s\n", to_string(n.err().code), n.err().message.c_str());
    return 2;
  }
  auto& self = **n;
  std::printf("ready %u %u\n", self.slot(), self.incarnation());
  std::fflush(stdout);
  std::string then = args.size() > 3 ? args[3] : "stay";
  if (then.rfind("exit:", 0) == 0)
    ::_exit(std::stoi(then.substr(5)));
  if (then == "leave") {
    self.leave();
    return 0;
  }
  bool send_then_leave = then.rfind("send-leave:", 0) == 0;
  if (then.rfind("send:", 0) == 0 || send_then_leave) {
    auto rest = then.substr(then.find(':') + 1);
    auto colon = rest.find(':');
    auto slot = static_cast<uint32_t>(std::stoul(rest.substr(0, colon)));
    auto text = rest.substr(colon + 1);
    auto peer = self.peer(slot);
    auto err = peer ? self.send(slot, peer->incarnation, text.data(), text.size())
                    : transport::make_error(transport::errc::peer_lost, "no peer");
    std::printf("sent %s\n", err ? err.message.c_str() : "ok");
    std::fflush(stdout);
    if (send_then_leave) {
      self.leave();
      return 0;
    }
  }
  printing_handler handler;
  if (then == "block-consumer" || then == "spin-consumer") {
    for (int i = 0; i < 3; ++i)
      self.run_once(handler, 1ms);
    std::printf(then == "block-consumer" ? "blocking\n" : "spinning\n");
    std::fflush(stdout);
    if (then == "block-consumer") {
      std::promise<void> never;
      never.get_future().wait();
    }
    for (volatile uint64_t spins = 0;; ++spins) {
    }
  }
  for (;;)
    self.run_once(handler, 100ms);
}
