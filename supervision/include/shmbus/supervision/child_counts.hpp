// A supervisor's children counted as by OTP's `count_children`.
#pragma once

#include <cstdint>

#include <caf/meta/type_name.hpp>

#include "shmbus/supervision/fwd.hpp"

namespace shmbus::supervision {

struct child_counts {
  /// Child specs, running or not; 1 (the template) for simple_one_for_one.
  uint64_t specs = 0;
  /// Children running now.
  uint64_t active = 0;
  /// Specs of kind supervisor; running children for simple_one_for_one.
  uint64_t supervisors = 0;
  /// Specs of kind worker; running children for simple_one_for_one.
  uint64_t workers = 0;
};

inline bool operator==(const child_counts& x, const child_counts& y) noexcept {
  return x.specs == y.specs && x.active == y.active
         && x.supervisors == y.supervisors && x.workers == y.workers;
}

inline bool operator!=(const child_counts& x, const child_counts& y) noexcept {
  return !(x == y);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_counts& x) {
  return f(caf::meta::type_name("shmbus::supervision::child_counts"), x.specs,
           x.active, x.supervisors, x.workers);
}

} // namespace shmbus::supervision
