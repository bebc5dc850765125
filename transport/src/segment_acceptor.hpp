// The thread with which every node of a bus hands the segment out to
// processes that join the bus or look at it (segment_handout.hpp): it
// accepts on the bus's listening socket without ever blocking on a
// connection, answers, closes, and accepts the next. Many processes accept
// on the same socket; whichever is quickest answers.
#pragma once

#include <cstdint>
#include <thread>

#include "unique_fd.hpp"

namespace shmbus::transport::detail {

class segment_acceptor {
public:
  /// Serves `memfd` (`segment_bytes` long) on `listener`; both stay owned by
  /// the caller and must outlive the acceptor. Throws std::system_error if
  /// it cannot create its stop descriptor.
  segment_acceptor(int listener, int memfd, uint64_t segment_bytes);
  ~segment_acceptor();

  segment_acceptor(const segment_acceptor&) = delete;
  segment_acceptor& operator=(const segment_acceptor&) = delete;

  /// Starts the thread. Throws std::system_error if it cannot. Owner, once.
  void start();

  /// Stops and joins the thread; idempotent. Returns within one answer
  /// (a non-blocking send). Owner thread.
  void stop() noexcept;

private:
  void run() noexcept;

  int listener_;
  int memfd_;
  uint64_t segment_bytes_;
  unique_fd stop_fd_;
  std::thread thread_;
};

} // namespace shmbus::transport::detail
