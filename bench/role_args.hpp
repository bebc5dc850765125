// Arguments of a benchmark child role: `key=value` words after
// `--role NAME` on the re-executed command line.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace shmbus::bench {

class role_args {
public:
  role_args() = default;

  /// Reads `key=value` words; throws std::invalid_argument on other words.
  static role_args parse(const std::vector<std::string>& words);

  role_args& set(const std::string& key, std::string value);
  role_args& set(const std::string& key, long long value);

  bool has(const std::string& key) const;

  /// Throws std::invalid_argument naming the key when it is missing.
  const std::string& get(const std::string& key) const;
  long long get_int(const std::string& key) const;

  std::string get_or(const std::string& key, std::string fallback) const;
  long long get_int_or(const std::string& key, long long fallback) const;

  /// The words for a command line, in key order.
  std::vector<std::string> to_words() const;

private:
  std::map<std::string, std::string> values_;
};

} // namespace shmbus::bench
