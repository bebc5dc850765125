#include "registry.hpp"

#include <stdexcept>

#include "caf_mechanisms.hpp"
#include "placement.hpp"
#include "shmbus_bus_mechanism.hpp"
#include "shmbus_transport_mechanism.hpp"
#include "uds_mechanism.hpp"

namespace shmbus::bench {

namespace {

template <class T>
std::unique_ptr<T> find_by_name(std::vector<std::unique_ptr<T>> all,
                                const std::string& name, const char* kind) {
  for (auto& m : all)
    if (m->name() == name)
      return std::move(m);
  throw std::invalid_argument(std::string("no ") + kind + " mechanism named '"
                              + name + "'");
}

} // namespace

// Every mechanism listed here runs every row of its suite.

std::vector<std::unique_ptr<transport_mechanism>> transport_mechanisms() {
  std::vector<std::unique_ptr<transport_mechanism>> result;
  result.push_back(make_shmbus_transport_mechanism(transport::idle_strategy::busy_spin()));
  result.push_back(make_shmbus_transport_mechanism(transport::idle_strategy::adaptive()));
  result.push_back(make_shmbus_transport_mechanism(transport::idle_strategy::park()));
  // What the per-record checksum costs: the same rows without it.
  result.push_back(make_shmbus_transport_mechanism(transport::idle_strategy::busy_spin(), false));
  result.push_back(make_shmbus_transport_mechanism(transport::idle_strategy::adaptive(), false));
  // SOCK_SEQPACKET: on the 2-core VM, SOCK_STREAM with a length prefix was
  // up to 10 % faster in round trips but slower in streams (4 KiB: mostly
  // 1.5-6x); uds_framing::stream remains for re-checking that.
  result.push_back(
    make_uds_mechanism("uds", uds_framing::seqpacket, uds_wait::blocking));
  result.push_back(
    make_uds_mechanism("uds-busy", uds_framing::seqpacket, uds_wait::busy_poll));
  return result;
}

std::vector<std::unique_ptr<bus_mechanism>> bus_mechanisms() {
  std::vector<std::unique_ptr<bus_mechanism>> result;
  result.push_back(make_shmbus_bus_mechanism("busy-spin", "inline"));
  result.push_back(make_shmbus_bus_mechanism("adaptive", "inline"));
  result.push_back(make_shmbus_bus_mechanism("park", "inline"));
  result.push_back(make_shmbus_bus_mechanism("adaptive", "scheduler"));
  // shmbus.io-cpu: A's I/O thread on CPU 0, B's on CPU 1 (a process pinned
  // to one core keeps its I/O thread there); the rest of each process
  // wherever the placement puts it.
  result.push_back(make_shmbus_bus_mechanism(
    "adaptive", "inline", "shmbus-adaptive-io", [](bus::bus_settings& s) {
      int wanted = s.role == "client" ? 0 : 1;
      s.io_cpu = core_available(wanted) ? wanted : (core_available(0) ? 0 : -1);
    },
    "shmbus.io-cpu pins A's I/O thread (only it) to CPU 0 and B's to CPU 1 (a process "
    "pinned to one core: that core)"));
  result.push_back(make_caf_tcp_mechanism());
  result.push_back(make_caf_inprocess_mechanism());
  return result;
}

std::unique_ptr<transport_mechanism>
find_transport_mechanism(const std::string& name) {
  return find_by_name(transport_mechanisms(), name, "transport");
}

std::unique_ptr<bus_mechanism> find_bus_mechanism(const std::string& name) {
  return find_by_name(bus_mechanisms(), name, "bus");
}

} // namespace shmbus::bench
