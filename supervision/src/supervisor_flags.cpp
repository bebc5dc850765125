#include "shmbus/supervision/supervisor_flags.hpp"

#include <caf/sec.hpp>

namespace shmbus::supervision {

std::string to_string(restart_strategy x) {
  switch (x) {
    case restart_strategy::one_for_one: return "one_for_one";
    case restart_strategy::one_for_all: return "one_for_all";
    case restart_strategy::rest_for_one: return "rest_for_one";
    case restart_strategy::simple_one_for_one: return "simple_one_for_one";
  }
  return "unknown";
}

caf::error supervisor_flags::validate() const {
  if (period <= caf::timespan::zero())
    return caf::make_error(caf::sec::invalid_argument,
                           "supervisor flags: period must be positive");
  if (kill_timeout <= caf::timespan::zero())
    return caf::make_error(caf::sec::invalid_argument,
                           "supervisor flags: kill_timeout must be positive");
  if (backoff)
    return backoff->validate();
  return caf::none;
}

} // namespace shmbus::supervision
