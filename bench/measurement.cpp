#include "measurement.hpp"

#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace shmbus::bench {

void measurement::add(std::string key, double value) {
  extras.push_back(extra_field{std::move(key), value});
}

void measurement::add(std::string key, std::string value) {
  extras.push_back(extra_field{std::move(key), std::move(value)});
}

void write_measurement(std::FILE* out, const measurement& m) {
  if (!m.rtt_us.empty()) {
    std::fputs("rtt_us", out);
    for (auto x : m.rtt_us)
      std::fprintf(out, " %.3f", x);
    std::fputc('\n', out);
  }
  if (m.messages)
    std::fprintf(out, "messages %llu\n",
                 static_cast<unsigned long long>(*m.messages));
  if (m.msgs_per_s)
    std::fprintf(out, "msgs_per_s %.17g\n", *m.msgs_per_s);
  if (m.samples)
    std::fprintf(out, "samples %llu\n", static_cast<unsigned long long>(*m.samples));
  for (auto& field : m.extras) {
    if (auto num = std::get_if<double>(&field.value)) {
      std::fprintf(out, "num %s %.17g\n", field.key.c_str(), *num);
    } else {
      // The line protocol has no escapes: keep a text on one line.
      auto text = std::get<std::string>(field.value);
      for (auto& c : text)
        if (c == '\n' || c == '\r')
          c = ' ';
      std::fprintf(out, "str %s %s\n", field.key.c_str(), text.c_str());
    }
  }
  std::fputs("end\n", out);
  std::fflush(out);
}

bool read_measurement_line(const std::string& line, measurement& m) {
  std::istringstream in{line};
  std::string tag;
  in >> tag;
  if (tag == "end")
    return true;
  auto fail = [&] {
    throw std::runtime_error("unreadable result line from benchmark process: '"
                             + line.substr(0, 80) + "'");
  };
  if (tag == "rtt_us") {
    double x = 0;
    while (in >> x)
      m.rtt_us.push_back(x);
    if (!in.eof())
      fail();
  } else if (tag == "messages") {
    std::uint64_t n = 0;
    if (!(in >> n))
      fail();
    m.messages = n;
  } else if (tag == "samples") {
    std::uint64_t n = 0;
    if (!(in >> n))
      fail();
    m.samples = n;
  } else if (tag == "msgs_per_s") {
    double x = 0;
    if (!(in >> x))
      fail();
    m.msgs_per_s = x;
  } else if (tag == "num") {
    std::string key;
    double x = 0;
    if (!(in >> key >> x))
      fail();
    m.add(std::move(key), x);
  } else if (tag == "str") {
    std::string key;
    if (!(in >> key))
      fail();
    std::string text;
    std::getline(in >> std::ws, text);
    m.add(std::move(key), std::move(text));
  } else {
    fail();
  }
  return false;
}

} // namespace shmbus::bench
