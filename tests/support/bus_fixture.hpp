// A bus name of its own for one test, and removal of its socket and lock
// file when the test ends, passed or failed.
#pragma once

#include <stdexcept>
#include <string>

#include <unistd.h>

#include "shmbus/transport/bus_name.hpp"
#include "shmbus/transport/segment.hpp"
#include "wait.hpp"

namespace shmbus::test {

struct scoped_bus {
  explicit scoped_bus(const std::string& tag) : name(unique_bus_name(tag)) {
    if (auto err = transport::validate_bus_name(name))
      throw std::invalid_argument(err->message);
    remove();
  }
  ~scoped_bus() { remove(); }
  scoped_bus(const scoped_bus&) = delete;
  scoped_bus& operator=(const scoped_bus&) = delete;

  void remove() const {
    transport::segment::unlink(name);
    ::unlink(transport::lock_file_path(name).c_str());
  }

  std::string name;
};

} // namespace shmbus::test
