#include "transport_bench.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "clock.hpp"
#include "cpu_usage.hpp"
#include "placement.hpp"
#include "process_pair.hpp"
#include "registry.hpp"

namespace shmbus::bench {

namespace {

/// What a message means to the peer loop.
enum class frame_kind : std::uint32_t {
  ping = 1, // echo me
  data = 2, // stream message: check and count
  end = 3,  // stream over: `value` messages were sent, answer with an ack
  ack = 4,  // `value` received, `seq` of them out of sequence
  bye = 5,  // leave the peer loop
};

/// Start of every benchmark message; the rest of the payload is filler.
struct frame_header {
  frame_kind kind;
  std::uint32_t reserved;
  std::uint64_t seq;
  std::uint64_t value;
};

static_assert(sizeof(frame_header) == min_transport_payload);

/// Each receive of the driver gives up after this long.
constexpr auto reply_timeout = std::chrono::milliseconds{5000};

/// The stream sender looks at the clock once per this many messages.
constexpr std::uint64_t stream_clock_interval = 256;

frame_header read_header(const std::byte* buf, std::size_t size) {
  if (size < sizeof(frame_header))
    throw std::runtime_error("message of " + std::to_string(size)
                             + " bytes is shorter than a frame header");
  frame_header header;
  std::memcpy(&header, buf, sizeof(header));
  return header;
}

void write_header(std::byte* buf, frame_kind kind, std::uint64_t seq,
                  std::uint64_t value) {
  frame_header header{kind, 0, seq, value};
  std::memcpy(buf, &header, sizeof(header));
}

std::vector<std::byte> make_message(std::size_t payload) {
  if (payload < min_transport_payload || payload > max_message_size)
    throw std::invalid_argument("payload of " + std::to_string(payload)
                                + " bytes outside ["
                                + std::to_string(min_transport_payload) + ", "
                                + std::to_string(max_message_size) + "]");
  std::vector<std::byte> message(payload, std::byte{0x5a});
  return message;
}

/// One round trip; returns its time in microseconds.
double round_trip(endpoint& ep, std::vector<std::byte>& message,
                  std::vector<std::byte>& reply, std::uint64_t seq) {
  write_header(message.data(), frame_kind::ping, seq, 0);
  auto start = mono_clock::now();
  ep.send(message.data(), message.size());
  auto n = ep.receive(reply.data(), reply.size(), reply_timeout);
  auto stop = mono_clock::now();
  auto header = read_header(reply.data(), n);
  if (n != message.size() || header.kind != frame_kind::ping
      || header.seq != seq)
    throw std::runtime_error("echo " + std::to_string(seq) + " came back as "
                             + std::to_string(n) + " bytes with sequence "
                             + std::to_string(header.seq));
  return std::chrono::duration<double, std::micro>(stop - start).count();
}

} // namespace

measurement measure_rtt(endpoint& ep, std::size_t payload,
                        const bench_plan& plan) {
  auto message = make_message(payload);
  std::vector<std::byte> reply(max_message_size);
  std::uint64_t seq = 0;
  deadline warmup_over{plan.warmup_limit};
  for (std::size_t i = 0; i < plan.warmup && !warmup_over.expired(); ++i)
    round_trip(ep, message, reply, seq++);
  measurement result;
  result.rtt_us.reserve(plan.samples);
  deadline sampling_over{plan.sample_limit};
  for (std::size_t i = 0; i < plan.samples && !sampling_over.expired(); ++i)
    result.rtt_us.push_back(round_trip(ep, message, reply, seq++));
  return result;
}

measurement measure_stream(endpoint& ep, std::size_t payload,
                           std::chrono::milliseconds duration, pid_t peer) {
  auto message = make_message(payload);
  std::vector<std::byte> reply(max_message_size);
  cpu_sampler cpu_a;
  cpu_sampler cpu_b{peer};
  auto start = mono_clock::now();
  auto stop_sending = start + duration;
  std::uint64_t sent = 0;
  for (;;) {
    write_header(message.data(), frame_kind::data, sent, 0);
    ep.send(message.data(), message.size());
    ++sent;
    if (sent % stream_clock_interval == 0 && mono_clock::now() >= stop_sending)
      break;
  }
  write_header(message.data(), frame_kind::end, sent, sent);
  ep.send(message.data(), min_transport_payload);
  auto n = ep.receive(reply.data(), reply.size(), reply_timeout);
  auto stop = mono_clock::now();
  auto cpu_used = cpu_a.used() + cpu_b.used();
  auto ack = read_header(reply.data(), n);
  if (ack.kind != frame_kind::ack)
    throw std::runtime_error("expected the stream's ack, got message kind "
                             + std::to_string(static_cast<unsigned>(ack.kind)));
  if (ack.value != sent || ack.seq != 0)
    throw std::runtime_error("B received " + std::to_string(ack.value) + " of "
                             + std::to_string(sent) + " messages, "
                             + std::to_string(ack.seq) + " out of sequence");
  measurement result;
  auto elapsed = seconds_between(start, stop);
  result.messages = sent;
  result.msgs_per_s = static_cast<double>(sent) / elapsed;
  result.add("duration_s", elapsed);
  result.add("cpu_us_per_msg",
             static_cast<double>(cpu_used.count()) / static_cast<double>(sent));
  return result;
}

measurement measure_idle(endpoint& ep, std::chrono::milliseconds window,
                         pid_t peer) {
  // One round trip first: B is connected and waiting in receive.
  auto message = make_message(min_transport_payload);
  std::vector<std::byte> reply(max_message_size);
  round_trip(ep, message, reply, 0);
  cpu_sampler cpu_a;
  cpu_sampler cpu_b{peer};
  // The measurement window itself, not a wait for some event.
  ep.idle(window);
  measurement result;
  result.add("cpu_idle_pct_a", cpu_a.percent_of_core());
  result.add("cpu_idle_pct_b", cpu_b.percent_of_core());
  result.add("idle_window_s", std::chrono::duration<double>(window).count());
  return result;
}

void say_goodbye(endpoint& ep) {
  std::byte message[min_transport_payload];
  write_header(message, frame_kind::bye, 0, 0);
  ep.send(message, sizeof(message));
}

void serve_peer(endpoint& ep, std::chrono::milliseconds idle_timeout) {
  std::vector<std::byte> buf(max_message_size);
  std::uint64_t expected = 0;
  std::uint64_t received = 0;
  std::uint64_t out_of_sequence = 0;
  for (;;) {
    auto n = ep.receive(buf.data(), buf.size(), idle_timeout);
    auto header = read_header(buf.data(), n);
    switch (header.kind) {
      case frame_kind::ping:
        ep.send(buf.data(), n);
        break;
      case frame_kind::data:
        if (header.seq != expected)
          ++out_of_sequence;
        expected = header.seq + 1;
        ++received;
        break;
      case frame_kind::end: {
        std::byte ack[min_transport_payload];
        write_header(ack, frame_kind::ack, out_of_sequence, received);
        ep.send(ack, sizeof(ack));
        expected = received = out_of_sequence = 0;
        break;
      }
      case frame_kind::bye:
        return;
      default:
        throw std::runtime_error(
          "unknown message kind "
          + std::to_string(static_cast<unsigned>(header.kind)));
    }
  }
}

int transport_driver_role(const role_args& args) {
  measurement result;
  {
    auto mechanism = find_transport_mechanism(args.get("mechanism"));
    auto ep = mechanism->connect(args.get("address"), reply_timeout);
    auto& bench = args.get("bench");
    auto payload = static_cast<std::size_t>(args.get_int_or("payload", 64));
    auto plan = bench_plan::read_from(args);
    auto peer = static_cast<pid_t>(args.get_int("peer_pid"));
    if (bench == "transport_rtt") {
      result = measure_rtt(*ep, payload, plan);
    } else if (bench == "transport_stream") {
      plan.samples = 0;
      measure_rtt(*ep, payload, plan);
      result = measure_stream(*ep, payload, plan.stream_duration, peer);
    } else if (bench == "idle_cpu") {
      result = measure_idle(*ep, plan.idle_window, peer);
    } else {
      throw std::invalid_argument("unknown transport bench '" + bench + "'");
    }
    say_goodbye(*ep);
  }
  write_measurement(stdout, result);
  return 0;
}

int transport_peer_role(const role_args& args) {
  auto mechanism = find_transport_mechanism(args.get("mechanism"));
  std::chrono::milliseconds budget{args.get_int("budget_ms")};
  auto ep = mechanism->accept(announce_ready, budget);
  serve_peer(*ep, budget);
  return 0;
}

void run_transport_suite(const run_options& options, report& out) {
  auto mechanisms = transport_mechanisms();
  const std::size_t payloads[] = {64, 4096};
  auto placements = pair_placements();
  auto plan = options.quick ? bench_plan::quick() : bench_plan::full();
  auto spec_for = [&](const std::string& bench, const transport_mechanism& m,
                      std::optional<std::size_t> payload, const placement& where) {
    pair_spec spec;
    spec.suite = "transport";
    spec.bench = bench;
    spec.mechanism = m.name();
    spec.payload_bytes = payload;
    spec.where = where;
    plan.write_to(spec.params);
    spec.budget = plan.row_budget();
    return spec;
  };
  for (auto& m : mechanisms)
    if (options.selects(m->name()))
      out.note(m->description());
  for (auto* bench : {"transport_rtt", "transport_stream"})
    for (auto payload : payloads)
      for (auto& where : placements)
        for (auto& m : mechanisms)
          if (options.selects(m->name()))
            out.add(run_pair(spec_for(bench, *m, payload, where)));
  for (auto& m : mechanisms)
    if (options.selects(m->name()))
      out.add(run_pair(spec_for("idle_cpu", *m, std::nullopt, unpinned())));
  out.note("transport_rtt: A sends a message, B echoes it, one at a time; "
           "each round trip timed with CLOCK_MONOTONIC; "
           + plan.describe_rtt());
  out.note("transport_stream: A sends for "
           + std::to_string(plan.stream_duration.count())
           + " ms, then asks B for its count; B checks every sequence number "
             "(samples = messages, all delivered in order); cpu_us_per_msg "
             "= CPU time of A + B per message");
  out.note(pair_placements_note());
  out.note("idle_cpu: connected pair, B waiting in receive, A idle (shmbus: waiting in its consumer, whose heartbeat it is); "
           "utime+stime from /proc/<pid>/stat (10 ms ticks), % of one core");
}

} // namespace shmbus::bench
