// How a bus server tells shmbus-launch that it is ready: its modules are
// started. The launcher passes it on to its service manager (systemd's
// Type=notify: READY=1), so that units ordered after it start only then.
//
//   auto sup = shmbus::supervision::start_supervisor(sys, flags, modules);
//   if (sup)
//     shmbus::actors::notify_ready(); // no-op without a launcher
//
// The launcher gives its server the address of an abstract Unix datagram
// socket in the environment variable below and believes a notice only from
// the server's own pid (the kernel's SCM_CREDENTIALS).
#pragma once

namespace shmbus::actors {

/// The environment variable that names the launcher's socket ("@...").
constexpr const char* ready_socket_env = "SHMBUS_READY_SOCKET";

/// Tells the launcher that runs this process that the server is ready.
/// False when no launcher runs it (the variable is unset) or the notice
/// could not be sent. Calling it again is harmless.
/// Never blocks (one non-blocking datagram); thread-safe.
bool notify_ready() noexcept;

} // namespace shmbus::actors
