// shmbus-launch: runs a bus's server process and restarts it when it dies.
// See shmbus/actors/launcher.hpp and `shmbus-launch --help`.
#include "shmbus/actors/launcher.hpp"

int main(int argc, char** argv) {
  return shmbus::actors::launcher_main(argc, argv);
}
