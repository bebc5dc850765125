#include "shmbus/log/log_record.hpp"

#include <cstdio>
#include <ctime>

namespace shmbus::log {

namespace {

bool needs_quotes(std::string_view x) {
  if (x.empty())
    return true;
  for (auto c : x)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      return true;
  return false;
}

void append_value(std::string& out, std::string_view x) {
  if (!needs_quotes(x)) {
    out += x;
    return;
  }
  out += '"';
  for (auto c : x) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char hex[8];
          std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned char>(c));
          out += hex;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

} // namespace

std::string_view record::get(std::string_view key) const noexcept {
  for (auto& f : fields)
    if (f.key == key)
      return f.value;
  return {};
}

std::string format_time(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  auto secs = static_cast<time_t>(us / 1'000'000);
  auto frac = static_cast<long>(us % 1'000'000);
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  std::tm utc{};
  ::gmtime_r(&secs, &utc);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                utc.tm_min, utc.tm_sec, frac);
  return buf;
}

std::string format(const record& x) {
  std::string out = format_time(x.time);
  out += ' ';
  out += to_string(x.severity);
  out += ' ';
  out += x.component;
  out += ": ";
  out += x.message;
  out += " event=";
  append_value(out, x.event);
  for (auto& f : x.fields) {
    out += ' ';
    out += f.key;
    out += '=';
    append_value(out, f.value);
  }
  return out;
}

} // namespace shmbus::log
