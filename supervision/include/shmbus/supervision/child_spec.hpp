// What a supervisor needs to know to start, restart and stop one child.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>

#include "shmbus/supervision/fwd.hpp"
#include "shmbus/supervision/shutdown_policy.hpp"

namespace shmbus::supervision {

/// When a child that went down is started again (OTP's restart types).
enum class restart_type : uint8_t {
  /// Always.
  permanent,
  /// Only after an abnormal exit: any reason but `exit_reason::normal` and
  /// `exit_reason::user_shutdown` (OTP's `normal` and `shutdown`).
  transient,
  /// Never; its spec is removed when it goes down (as in OTP).
  temporary,
};

std::string to_string(restart_type x);

enum class child_kind : uint8_t {
  worker,
  /// A supervisor itself; it defaults to `shutdown_policy::infinity()` so that
  /// it has the time to stop its own children.
  supervisor,
};

std::string to_string(child_kind x);

/// Starts a child and returns its handle. Runs in the supervisor's own thread
/// and may block (e.g. until an OS process is ready). `args` holds the extra
/// start arguments of a `simple_one_for_one` child, otherwise it is empty.
/// Exceptions are caught and reported as start failures.
using start_function = std::function<caf::expected<caf::actor>(
  caf::actor_system& sys, const caf::message& args)>;

struct child_spec {
  /// Names the child in the supervisor's API and in errors. For
  /// `simple_one_for_one`, the prefix of the generated ids ("worker#3").
  std::string id;
  start_function start;
  restart_type restart = restart_type::permanent;
  child_kind kind = child_kind::worker;
  /// Unset: 5 s for a worker, infinity for a supervisor (OTP's defaults).
  std::optional<shutdown_policy> shutdown;

  child_spec() = default;

  /// Accepts any `F` callable as `F(caf::actor_system&)` or
  /// `F(caf::actor_system&, const caf::message&)` that returns a `caf::actor`
  /// or a `caf::expected<caf::actor>`.
  template <class F, class = std::enable_if_t<
                       std::is_invocable_v<F&, caf::actor_system&>
                       || std::is_invocable_v<F&, caf::actor_system&,
                                              const caf::message&>>>
  child_spec(std::string id, F start,
             restart_type restart = restart_type::permanent,
             child_kind kind = child_kind::worker)
    : id(std::move(id)),
      start(make_start_function(std::move(start))),
      restart(restart),
      kind(kind) {
    // nop
  }

  /// The policy the supervisor applies: `shutdown` or the default for `kind`.
  shutdown_policy effective_shutdown() const noexcept;

private:
  template <class F>
  static start_function make_start_function(F f) {
    if constexpr (std::is_invocable_v<F&, caf::actor_system&,
                                      const caf::message&>) {
      return start_function{std::move(f)};
    } else {
      return [f = std::move(f)](caf::actor_system& sys,
                                const caf::message&) mutable
             -> caf::expected<caf::actor> { return f(sys); };
    }
  }
};

} // namespace shmbus::supervision

// A spec carries a std::function: it can travel in local messages only.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(shmbus::supervision::child_spec)
