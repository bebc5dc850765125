namespace shmbus::transport {}
