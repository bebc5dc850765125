// A CAF program that supervises actors and has no bus: it links
// shmbus::supervision alone. Prints "supervisor-only: ok" and exits 0 when a
// killed child came back and answers.
#include <chrono>
#include <cstdio>

#include <caf/all.hpp>

#include "shmbus/supervision/supervisor.hpp"

using namespace std::chrono_literals;
namespace supervision = shmbus::supervision;

namespace {

caf::behavior incrementer() {
  return {[](int32_t x) { return x + 1; }};
}

int fail(const char* what) {
  std::fprintf(stderr, "supervisor-only: %s\n", what);
  return 1;
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  supervision::configure(cfg);
  caf::actor_system sys{cfg};
  supervision::supervisor_flags flags;
  flags.name = "consumer";
  flags.intensity = 3;
  auto sup = supervision::start_supervisor(
    sys, flags,
    {supervision::child_spec{"incrementer",
                             [](caf::actor_system& sys) { return sys.spawn(incrementer); }}});
  if (!sup)
    return fail("start_supervisor failed");
  caf::scoped_actor self{sys};
  auto child = [&]() -> supervision::child_info {
    auto xs = supervision::which_children(*self, *sup);
    return xs && xs->size() == 1 ? xs->front() : supervision::child_info{};
  };
  auto first = child().handle;
  self->send_exit(first, caf::exit_reason::kill);
  // The supervisor restarts it; wait for the new one (bounded).
  for (int i = 0; i < 200 && (!child().handle || child().handle == first); ++i)
    self->receive(caf::after(10ms) >> [] {});
  auto again = child();
  if (!again.handle || again.handle == first || again.restarts != 1)
    return fail("the killed child did not come back");
  int32_t answer = 0;
  self->request(again.handle, 5s, int32_t{41})
    .receive([&](int32_t x) { answer = x; }, [](caf::error&) {});
  self->send_exit(*sup, caf::exit_reason::user_shutdown);
  if (answer != 42)
    return fail("the restarted child did not answer");
  std::printf("supervisor-only: ok\n");
  return 0;
}
