#include "guarded_serializer.hpp"

#include <cmath>

#include <caf/sec.hpp>

namespace shmbus::bus {

guarded_serializer::guarded_serializer(caf::actor_system& sys, std::vector<char>& buf)
  : caf::serializer(sys), inner_(sys, buf) {
  // nop
}

caf::error not_finite_error() {
  return caf::make_error(caf::sec::invalid_argument,
                         "a floating-point value that is infinite or NaN (CAF 0.17.6's binary "
                         "format cannot hold one: it loops forever on infinity); send a "
                         "finite value, or encode the special value yourself");
}

caf::error guarded_serializer::apply_impl(float& x) {
  return std::isfinite(x) ? inner_.apply(x) : not_finite_error();
}

caf::error guarded_serializer::apply_impl(double& x) {
  return std::isfinite(x) ? inner_.apply(x) : not_finite_error();
}

caf::error guarded_serializer::apply_impl(long double& x) {
  return std::isfinite(x) ? inner_.apply(x) : not_finite_error();
}

} // namespace shmbus::bus
