// A message channel between the two benchmark processes, and how to open it.
// Measuring another transport (shmbus with some idle strategy, say) means
// writing one transport_mechanism and listing it in registry.cpp; the
// round-trip, stream and idle measurements are shared (transport_bench.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace shmbus::bench {

/// Largest message the benchmarks send; receive buffers hold this much.
inline constexpr std::size_t max_message_size = 64 * 1024;

/// One end of a reliable, ordered channel that keeps message boundaries.
/// Both calls block (or spin, as the mechanism does) and throw
/// std::runtime_error, naming what happened, on failure or timeout.
class endpoint {
public:
  virtual ~endpoint() = default;

  /// Hands one message of `size` bytes (<= max_message_size) to the channel;
  /// may wait while the channel is full.
  virtual void send(const std::byte* data, std::size_t size) = 0;

  /// Waits up to `timeout` for the next message, copies it into `buf` and
  /// returns its size.
  virtual std::size_t receive(std::byte* buf, std::size_t capacity,
                              std::chrono::milliseconds timeout)
    = 0;

  /// Sits idle for `d`, expecting nothing, as a process between messages
  /// does: a channel whose liveness rests on its consumer running (shmbus:
  /// the heartbeat is the inbox consumer's) waits in its consumer.
  virtual void idle(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }
};

class transport_mechanism {
public:
  virtual ~transport_mechanism() = default;

  /// As printed in rows: "uds", "uds-busy", "shmbus-adaptive".
  virtual std::string name() const = 0;

  /// One sentence for the notes: what exactly is measured.
  virtual std::string description() const = 0;

  /// In process B: opens the channel, calls `announce(address)` as soon as A
  /// may connect, then waits up to `timeout` for A.
  virtual std::unique_ptr<endpoint>
  accept(const std::function<void(const std::string& address)>& announce,
         std::chrono::milliseconds timeout)
    = 0;

  /// In process A: connects to the address B announced.
  virtual std::unique_ptr<endpoint> connect(const std::string& address,
                                            std::chrono::milliseconds timeout)
    = 0;
};

} // namespace shmbus::bench
