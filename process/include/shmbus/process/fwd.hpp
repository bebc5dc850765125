// Forward declarations of the process layer (no CAF, no bus).
#pragma once

namespace shmbus::process {

class os_process;
class process_watcher;
struct error;
struct process_entry;
struct process_status;

template <class T>
class result;

} // namespace shmbus::process
