// Entry point of every test binary: doctest, or a child role when the binary
// was started as a child (child_role.hpp).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "child_role.hpp"

int main(int argc, char** argv) {
  if (auto rc = shmbus::test::run_child_role_if_requested(argc, argv))
    return *rc;
  doctest::Context context(argc, argv);
  return context.run();
}
