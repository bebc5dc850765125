#include "shmbus/actors/errc.hpp"

#include <memory>

#include "supervision_publisher.hpp"

#include "shmbus/supervision/error_category.hpp"
#include "shmbus/supervision/supervisor.hpp"

namespace shmbus::actors {

const char* to_string(errc x) noexcept {
  switch (x) {
    case errc::module_exited: return "module_exited";
    case errc::module_killed: return "module_killed";
    case errc::module_start_timeout: return "module_start_timeout";
    case errc::module_hung: return "module_hung";
    case errc::launcher_running: return "launcher_running";
  }
  return "unknown";
}

void add_error_category(caf::actor_system_config& cfg) {
  supervision::add_named_error_category<errc>(cfg, errc_category,
                                              "shmbus::actors::");
}

void configure(caf::actor_system_config& cfg) {
  supervision::configure(cfg);
  add_error_category(cfg);
  // Supervisors of a system on a bus show up in `shmbusctl tree`.
  supervision::set_observer_factory([](caf::actor_system& sys)
                                      -> std::shared_ptr<supervision::supervisor_observer> {
    return std::make_shared<supervision_publisher>(sys);
  });
}

} // namespace shmbus::actors
