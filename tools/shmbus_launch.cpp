// shmbus-launch: runs a bus's server process and restarts it when it dies,
// and tells systemd (Type=notify) when the server is ready. See
// shmbus/actors/launcher.hpp and `shmbus-launch --help`.
#include <string>
#include <string_view>

#include <systemd/sd-daemon.h>

#include "shmbus/actors/launcher.hpp"

int main(int argc, char** argv) {
  return shmbus::actors::launcher_main(argc, argv, [](std::string_view state) {
    // Without NOTIFY_SOCKET (not under systemd) sd_notify does nothing.
    sd_notify(0, std::string{state}.c_str());
  });
}
