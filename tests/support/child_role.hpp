// The roles a test binary plays when it re-executes itself as a child:
// `<test binary> --child ROLE ARGS...` runs the role registered as ROLE
// instead of doctest, so children start clean (no inherited threads or
// locks). child_process.hpp starts them.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace shmbus::test {

using child_main = int (*)(const std::vector<std::string>& args);

/// Registers `fn` as the body of child processes started with `role`.
struct child_role_registrar {
  child_role_registrar(const char* role, child_main fn);
};

/// Runs the registered role named by argv, or returns nullopt when argv does
/// not ask for a child (then the test runner proceeds with doctest). A child
/// dies with the thread that started it (PR_SET_PDEATHSIG), even when the
/// test runner is killed.
std::optional<int> run_child_role_if_requested(int argc, char** argv);

} // namespace shmbus::test

#define SHMBUS_CHILD_CONCAT2(a, b) a##b
#define SHMBUS_CHILD_CONCAT(a, b) SHMBUS_CHILD_CONCAT2(a, b)

/// Defines the body of a child role:
///   SHMBUS_CHILD_ROLE("producer") { ... return 0; }   // `args` is in scope
#define SHMBUS_CHILD_ROLE(role)                                                \
  static int SHMBUS_CHILD_CONCAT(shmbus_child_fn_, __LINE__)(                  \
    const std::vector<std::string>& args);                                     \
  static ::shmbus::test::child_role_registrar SHMBUS_CHILD_CONCAT(             \
    shmbus_child_reg_, __LINE__){role,                                         \
                                 &SHMBUS_CHILD_CONCAT(shmbus_child_fn_,        \
                                                      __LINE__)};              \
  static int SHMBUS_CHILD_CONCAT(shmbus_child_fn_, __LINE__)(                  \
    [[maybe_unused]] const std::vector<std::string>& args)
