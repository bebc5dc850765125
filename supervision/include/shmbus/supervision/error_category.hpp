// Registering an error enum as a CAF error category whose errors render as
// "<prefix><code name>: <description>". The supervisor's category uses it,
// and so may the layers above it (shmbus::actors does).
#pragma once

#include <cstdint>
#include <string>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/message.hpp>

namespace shmbus::supervision {

/// Registers `Errc`, an enum with a `to_string(Errc)` found by ADL, as the
/// category `category` of `cfg`. An error made with a description (a string
/// as the first element of its context) renders as "<prefix><name>:
/// <description>"; further context elements are data for programs, already
/// in the text. Call before creating the actor system.
template <class Errc>
void add_named_error_category(caf::actor_system_config& cfg,
                              caf::atom_value category, std::string prefix) {
  cfg.add_error_category(category, [prefix](uint8_t code, caf::atom_value,
                                            const caf::message& ctx) {
    auto result = prefix + to_string(static_cast<Errc>(code));
    if (!ctx.empty() && ctx.match_element<std::string>(0))
      result += ": " + ctx.get_as<std::string>(0);
    else if (!ctx.empty())
      result += ": " + caf::deep_to_string(ctx);
    return result;
  });
}

} // namespace shmbus::supervision
