#include "role_args.hpp"

#include <stdexcept>

namespace shmbus::bench {

role_args role_args::parse(const std::vector<std::string>& words) {
  role_args result;
  for (auto& word : words) {
    auto eq = word.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::invalid_argument("role argument '" + word
                                  + "' is not key=value");
    result.values_[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return result;
}

role_args& role_args::set(const std::string& key, std::string value) {
  values_[key] = std::move(value);
  return *this;
}

role_args& role_args::set(const std::string& key, long long value) {
  return set(key, std::to_string(value));
}

bool role_args::has(const std::string& key) const {
  return values_.count(key) > 0;
}

const std::string& role_args::get(const std::string& key) const {
  auto i = values_.find(key);
  if (i == values_.end())
    throw std::invalid_argument("role argument '" + key + "' is missing");
  return i->second;
}

long long role_args::get_int(const std::string& key) const {
  auto& text = get(key);
  try {
    std::size_t used = 0;
    auto value = std::stoll(text, &used);
    if (used == text.size())
      return value;
  } catch (const std::exception&) {
    // reported below
  }
  throw std::invalid_argument("role argument " + key + "=" + text
                              + " is not an integer");
}

std::string role_args::get_or(const std::string& key,
                              std::string fallback) const {
  return has(key) ? get(key) : fallback;
}

long long role_args::get_int_or(const std::string& key,
                                long long fallback) const {
  return has(key) ? get_int(key) : fallback;
}

std::vector<std::string> role_args::to_words() const {
  std::vector<std::string> words;
  for (auto& [key, value] : values_)
    words.push_back(key + "=" + value);
  return words;
}

} // namespace shmbus::bench
