// The description inside an error made with make_error(code, "text"), for
// messages that embed it in their own sentence.
#pragma once

#include <string>

#include <caf/error.hpp>
#include <caf/message.hpp>

namespace shmbus::actors {

inline std::string error_text(const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return caf::to_string(err);
}

} // namespace shmbus::actors
