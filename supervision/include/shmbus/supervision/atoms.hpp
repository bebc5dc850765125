// The supervisor's message interface. Clients normally call the functions in
// supervisor.hpp instead; event-based actors use these with `request`:
//
//   (start_child_atom, child_spec)        -> caf::actor
//   (start_child_atom, caf::message args) -> caf::actor   [simple_one_for_one]
//   (terminate_child_atom, std::string id) -> void
//   (terminate_child_atom, caf::actor)    -> void
//   (restart_child_atom, std::string id)  -> caf::actor
//   (delete_child_atom, std::string id)   -> void
//   (which_children_atom)                 -> std::vector<child_info>
//   (count_children_atom)                 -> child_counts
//
// Failures come back as caf::error with shmbus::supervision::errc codes.
#pragma once

#include <caf/atom.hpp>

namespace shmbus::supervision {

// "sv_" keeps them apart from other atoms of an actor that talks to many.
using start_child_atom = caf::atom_constant<caf::atom("sv_start")>;
using terminate_child_atom = caf::atom_constant<caf::atom("sv_term")>;
using restart_child_atom = caf::atom_constant<caf::atom("sv_restart")>;
using delete_child_atom = caf::atom_constant<caf::atom("sv_delete")>;
using which_children_atom = caf::atom_constant<caf::atom("sv_which")>;
using count_children_atom = caf::atom_constant<caf::atom("sv_count")>;

} // namespace shmbus::supervision
