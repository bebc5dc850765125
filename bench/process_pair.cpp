#include "process_pair.hpp"

#include <cstdio>
#include <exception>

#include <unistd.h>

#include "child_process.hpp"
#include "measurement.hpp"

namespace shmbus::bench {

namespace {

/// Time a child gets to exit after its work is done.
constexpr auto exit_grace = std::chrono::seconds{10};

bool starts_with(const std::string& text, const char* prefix) {
  return text.rfind(prefix, 0) == 0;
}

/// When A failed, B may know why (it saw a lost message, say): append B's
/// error line if it wrote one.
void add_peer_error(row& result, std::optional<child_process>& peer) {
  if (!peer)
    return;
  deadline until{std::chrono::seconds{1}};
  while (auto line = peer->read_line(until)) {
    if (starts_with(*line, "error ")) {
      result.error += " (B: " + line->substr(6) + ")";
      return;
    }
  }
}

} // namespace

row run_pair(const pair_spec& spec) {
  row result;
  result.bench = spec.bench;
  result.mechanism = spec.mechanism;
  result.payload_bytes = spec.payload_bytes;
  result.placement = spec.where.label;
  for (auto core : {spec.where.core_a, spec.where.core_b}) {
    if (core >= 0 && !core_available(core)) {
      result.error = "core " + std::to_string(core)
                     + " is not available to this process";
      return result;
    }
  }
  deadline until{spec.budget};
  auto args = spec.params;
  args.set("bench", spec.bench)
    .set("mechanism", spec.mechanism)
    .set("parent", static_cast<long long>(::getpid()))
    .set("budget_ms", static_cast<long long>(spec.budget.count()));
  if (spec.payload_bytes)
    args.set("payload", static_cast<long long>(*spec.payload_bytes));
  try {
    std::optional<child_process> peer;
    if (spec.with_peer) {
      auto peer_args = args;
      peer_args.set("core", spec.where.core_b);
      peer = child_process::spawn(spec.suite + "-b", peer_args);
      auto line = peer->read_line(until);
      if (!line) {
        result.error = "B did not announce readiness within the budget";
        return result;
      }
      if (starts_with(*line, "error ")) {
        result.error = "B: " + line->substr(6);
        return result;
      }
      if (!starts_with(*line, "ready ")) {
        result.error = "B said '" + *line + "' instead of 'ready <address>'";
        return result;
      }
      args.set("address", line->substr(6));
      args.set("peer_pid", static_cast<long long>(peer->pid()));
    }
    args.set("core", spec.where.core_a);
    auto driver = child_process::spawn(spec.suite + "-a", args);
    measurement m;
    for (;;) {
      auto line = driver.read_line(until);
      if (!line) {
        // EOF comes a moment before the exit status: give it a second.
        auto status = until.expired() ? std::nullopt
                                      : driver.wait(deadline{std::chrono::seconds{1}});
        result.error = status ? "A " + *status + " before writing its result"
                              : "A wrote no result within "
                                  + std::to_string(spec.budget.count()) + " ms";
        add_peer_error(result, peer);
        return result;
      }
      if (starts_with(*line, "error ")) {
        result.error = "A: " + line->substr(6);
        add_peer_error(result, peer);
        return result;
      }
      if (read_measurement_line(*line, m))
        break;
    }
    fill_row(result, m);
    // A writes its result after tearing down, so it should exit at once; B
    // exits once A said goodbye.
    for (auto* child : {&driver, peer ? &*peer : nullptr}) {
      if (child == nullptr)
        continue;
      auto name = child == &driver ? "A" : "B";
      auto status = child->wait(deadline{exit_grace});
      if (!status)
        result.extras.push_back(
          {"warning", std::string(name) + " did not exit within 10 s: killed"});
      else if (!child->exited_cleanly())
        result.extras.push_back({"warning", std::string(name) + " " + *status});
    }
  } catch (const interrupted_error&) {
    throw;
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  return result;
}

int run_role(role_main body, const role_args& args) {
  try {
    become_child(static_cast<pid_t>(args.get_int("parent")));
    pin_this_thread(static_cast<int>(args.get_int_or("core", -1)));
    return body(args);
  } catch (const std::exception& e) {
    std::string text = e.what();
    for (auto& c : text)
      if (c == '\n')
        c = ' ';
    std::printf("error %s\n", text.c_str());
    std::fflush(stdout);
    return 1;
  }
}

void announce_ready(const std::string& address) {
  std::printf("ready %s\n", address.c_str());
  std::fflush(stdout);
}

} // namespace shmbus::bench
