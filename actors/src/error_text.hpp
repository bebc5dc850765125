// The description inside an error made with make_error(code, "text"), for
// messages that embed it in their own sentence.
#pragma once

#include <string>

#include <caf/error.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace shmbus::actors {

inline std::string error_text(const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return caf::to_string(err);
}

/// A mistake in shmbus-launch's settings: names it and where help is.
inline caf::error usage_error(const std::string& what) {
  return caf::make_error(caf::sec::invalid_argument,
                         "shmbus-launch: " + what
                           + " (shmbus-launch --help shows the options)");
}

} // namespace shmbus::actors
