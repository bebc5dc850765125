#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>

#include <sys/utsname.h>
#include <unistd.h>

#include "stats.hpp"

namespace shmbus::bench {

namespace {

std::string cpu_model() {
  std::ifstream in{"/proc/cpuinfo"};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos)
        return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown";
}

std::string kernel() {
  utsname info{};
  if (::uname(&info) != 0)
    return "unknown";
  return std::string(info.sysname) + " " + info.release + " " + info.machine;
}

std::string utc_date() {
  auto now = std::time(nullptr);
  std::tm parts{};
  ::gmtime_r(&now, &parts);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &parts);
  return buf;
}

std::string format_number(double x, const char* fmt) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, x);
  return buf;
}

/// Integers without decimals; others with 3 decimals (3 significant digits
/// below 1), trailing zeros dropped: 0.4999 -> "0.5", 99.490 -> "99.49".
std::string format_extra(double x) {
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 1e15)
    return format_number(x, "%.0f");
  if (std::fabs(x) < 1)
    return format_number(x, "%.3g");
  auto text = format_number(x, "%.3f");
  if (text.find('.') != std::string::npos) {
    text.erase(text.find_last_not_of('0') + 1);
    if (text.back() == '.')
      text.pop_back();
  }
  return text;
}

std::string json_number(const std::optional<double>& x, const char* fmt) {
  if (!x || !std::isfinite(*x))
    return "null";
  return format_number(*x, fmt);
}

std::string table_cell(const std::optional<double>& x, const char* fmt) {
  return x ? format_number(*x, fmt) : "-";
}

template <class Int>
std::string table_cell(const std::optional<Int>& x) {
  return x ? std::to_string(*x) : "-";
}

std::string extras_text(const row& r) {
  std::string text;
  for (auto& field : r.extras) {
    if (!text.empty())
      text += ' ';
    text += field.key + '=';
    if (auto num = std::get_if<double>(&field.value))
      text += format_extra(*num);
    else
      text += std::get<std::string>(field.value);
  }
  if (!r.error.empty())
    text = "FAILED: " + r.error + (text.empty() ? "" : " | " + text);
  return text;
}

} // namespace

void fill_row(row& r, const measurement& m) {
  if (!m.rtt_us.empty()) {
    auto summary = summarize(m.rtt_us);
    r.samples = summary.samples;
    r.rtt_median_us = summary.median_us;
    r.rtt_p99_us = summary.p99_us;
    r.rtt_p999_us = summary.p999_us;
  }
  if (m.messages)
    r.samples = *m.messages;
  if (m.samples)
    r.samples = *m.samples;
  r.msgs_per_s = m.msgs_per_s;
  r.extras.insert(r.extras.end(), m.extras.begin(), m.extras.end());
}

report::report(output_format format, std::FILE* out, std::FILE* side)
  : format_(format), out_(out), side_(format == output_format::json ? side : out) {
  // nop
}

void report::print_header(const std::string& command) {
  std::fprintf(side_, "# command: %s\n", command.c_str());
  std::fprintf(side_, "# date:    %s\n", utc_date().c_str());
  std::fprintf(side_, "# machine: nproc=%ld, cpu=%s, kernel=%s\n",
               ::sysconf(_SC_NPROCESSORS_ONLN), cpu_model().c_str(),
               kernel().c_str());
  std::fflush(side_);
}

void report::add(row r) {
  if (!r.error.empty())
    ++failed_;
  if (format_ == output_format::json)
    print_json_row(r);
  else
    print_table_row(r);
  std::fflush(out_);
  rows_.push_back(std::move(r));
}

void report::note(const std::string& text) {
  if (std::find(notes_.begin(), notes_.end(), text) == notes_.end())
    notes_.push_back(text);
}

void report::finish() {
  if (!notes_.empty()) {
    std::fputs("\nnotes:\n", side_);
    for (auto& text : notes_)
      std::fprintf(side_, "- %s\n", text.c_str());
  }
  if (failed_ > 0)
    std::fprintf(side_, "\n%zu row(s) FAILED\n", failed_);
  std::fflush(side_);
}

void report::print_table_row(const row& r) {
  const char* layout = "%-16s %-17s %7s %-10s %8s %9s %9s %9s %11s  %s\n";
  if (!table_header_printed_) {
    std::fputc('\n', out_);
    std::fprintf(out_, layout, "bench", "mechanism", "payload", "placement",
                 "samples", "median_us", "p99_us", "p99.9_us", "msgs/s",
                 "extra");
    table_header_printed_ = true;
  }
  std::fprintf(out_, layout, r.bench.c_str(), r.mechanism.c_str(),
               table_cell(r.payload_bytes).c_str(), r.placement.c_str(),
               table_cell(r.samples).c_str(),
               table_cell(r.rtt_median_us, "%.2f").c_str(),
               table_cell(r.rtt_p99_us, "%.2f").c_str(),
               table_cell(r.rtt_p999_us, "%.2f").c_str(),
               table_cell(r.msgs_per_s, "%.0f").c_str(), extras_text(r).c_str());
}

void report::print_json_row(const row& r) {
  std::string text = "{\"bench\":\"" + json_escape(r.bench) + "\"";
  text += ",\"mechanism\":\"" + json_escape(r.mechanism) + "\"";
  text += ",\"payload_bytes\":"
          + (r.payload_bytes ? std::to_string(*r.payload_bytes) : "null");
  text += ",\"placement\":\"" + json_escape(r.placement) + "\"";
  text += ",\"samples\":" + (r.samples ? std::to_string(*r.samples) : "null");
  text += ",\"rtt_median_us\":" + json_number(r.rtt_median_us, "%.2f");
  text += ",\"rtt_p99_us\":" + json_number(r.rtt_p99_us, "%.2f");
  text += ",\"rtt_p999_us\":" + json_number(r.rtt_p999_us, "%.2f");
  text += ",\"msgs_per_s\":" + json_number(r.msgs_per_s, "%.0f");
  for (auto& field : r.extras) {
    text += ",\"" + json_escape(field.key) + "\":";
    if (auto num = std::get_if<double>(&field.value))
      text += std::isfinite(*num) ? format_extra(*num) : "null";
    else
      text += "\"" + json_escape(std::get<std::string>(field.value)) + "\"";
  }
  if (!r.error.empty())
    text += ",\"error\":\"" + json_escape(r.error) + "\"";
  text += "}\n";
  std::fputs(text.c_str(), out_);
}

std::string json_escape(const std::string& text) {
  std::string result;
  result.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        result += "\\\"";
        break;
      case '\\':
        result += "\\\\";
        break;
      case '\n':
        result += "\\n";
        break;
      case '\t':
        result += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          result += buf;
        } else {
          result += static_cast<char>(c);
        }
    }
  }
  return result;
}

} // namespace shmbus::bench
