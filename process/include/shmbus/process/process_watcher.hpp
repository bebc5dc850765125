// One thread per process that watches the child processes it is given:
// reaps each as soon as it ends (running its os_process::on_reaped
// listeners) and forwards its captured stdout and stderr line by line, each
// line prefixed (e.g. "[storage] "). It is also the process-wide registry of
// live children: at exit, whatever still runs is killed and reaped.
// Every public method is thread-safe; sinks run on the watcher thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "shmbus/process/fwd.hpp"

namespace shmbus::process {

class os_process;

class process_watcher {
public:
  /// Receives one finished line, prefix included, without the newline.
  using line_sink = std::function<void(std::string_view line)>;

  /// The instance of this process, created with its thread on first use
  /// and shut down at exit.
  static process_watcher& instance();

  process_watcher(const process_watcher&) = delete;
  process_watcher& operator=(const process_watcher&) = delete;

  ~process_watcher();

  /// Stops the thread, kills and reaps every watched process that still
  /// runs, and from then on kills every process it is asked to watch. Runs
  /// at exit; idempotent. Blocks up to defaults::reap_timeout per process.
  void shutdown();

  /// Watches `proc` until it is reaped and its output pipes are closed
  /// (after shutdown(): kills and reaps it at once). Does not block.
  /// Captured output (capture_stdout, capture_stderr) goes to `out` and
  /// `err`; an empty sink means this process's stdout resp. stderr.
  void watch(std::shared_ptr<os_process> proc, std::string prefix,
             line_sink out = {}, line_sink err = {});

  /// Watched processes not reaped yet.
  size_t running() const;

private:
  struct stream;
  struct entry;

  process_watcher();

  void run();
  void take_incoming();
  void drain(entry& e, stream& s);
  void flush(entry& e, stream& s);
  void emit(const entry& e, const stream& s, std::string_view line);
  void kill_all(std::chrono::nanoseconds timeout);

  int wake_fd_ = -1; // eventfd: new entries or stop
  std::thread thread_;
  std::atomic<bool> stop_{false};

  mutable std::mutex mtx_;
  bool closed_ = false; // under mtx_
  std::vector<std::unique_ptr<entry>> incoming_;
  std::vector<std::shared_ptr<os_process>> live_; // registry, under mtx_

  // Owned by the watcher thread (by the destructor after the join).
  std::vector<std::unique_ptr<entry>> entries_;
};

} // namespace shmbus::process
