// How failures below the bus become shmbus errors that name the problem and
// the remedy: transport errors, and CAF serializer errors about a message.
#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/fwd.hpp>

#include "shmbus/transport/error.hpp"

namespace shmbus::bus {

/// The error of every call on a node that has stopped.
caf::error stopped_error(const std::string& node_name, const std::string& bus);

/// The bus error for a transport error (same code where one exists, the
/// transport's text as the description).
caf::error from_transport(const transport::error& err);

/// "(int32_t, my_type)": the element types of `msg`, by their registered
/// names where they have one.
std::string type_names(const caf::actor_system& sys, const caf::message& msg);

/// The bus error for `err` from serializing `msg` (errc::unregistered_type
/// for sec::unknown_type, `err` itself otherwise).
caf::error from_serializer(const caf::actor_system& sys, const caf::error& err,
                           const caf::message& msg);

/// The bus error for `err` from reading a message for actor `receiver` on
/// node `node_name` (errc::unregistered_type or errc::deserialization_failed).
caf::error from_deserializer(const caf::actor_system& sys, const caf::error& err,
                             const std::string& node_name, uint64_t receiver);

} // namespace shmbus::bus
