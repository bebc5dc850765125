// One child as reported by `which_children`.
#pragma once

#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include "shmbus/supervision/child_spec.hpp"
#include "shmbus/supervision/fwd.hpp"

namespace shmbus::supervision {

enum class child_state : uint8_t {
  running,
  /// Not running and not about to be: never restarted after its exit,
  /// terminated through the API, or its restart failed.
  stopped,
  /// Waiting for a restart: its backoff delay, or a retry after a failed start.
  restarting,
};

std::string to_string(child_state x);

struct child_info {
  std::string id;
  /// Invalid unless `state == child_state::running`.
  caf::actor handle;
  /// How often the supervisor started this child again after its first start.
  uint64_t restarts = 0;
  child_state state = child_state::stopped;
  /// Why the last incarnation went down, or why its last start failed; none
  /// while it never did either.
  caf::error last_exit_reason;
  child_kind kind = child_kind::worker;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_info& x) {
  return f(caf::meta::type_name("shmbus::supervision::child_info"), x.id, x.handle,
           x.restarts, x.state, x.last_exit_reason, x.kind);
}

} // namespace shmbus::supervision
