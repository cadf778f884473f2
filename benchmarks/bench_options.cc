#include "benchmarks/bench_options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace ringserve::bench {
namespace {

bool parse_u32(const std::string& text, uint32_t* out) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

bool parse_number(const std::string& text, double* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

// What a value of `kind` must be, when `value` is not one; nullptr when it is fine.
const char* value_problem(OptionKind kind, const std::string& value) {
  uint32_t count = 0;
  double number = 0;
  switch (kind) {
    case OptionKind::kCount:
      return parse_u32(value, &count) && count > 0 ? nullptr : "a whole number >= 1";
    case OptionKind::kUint:
      return parse_u32(value, &count) ? nullptr : "a whole number >= 0";
    case OptionKind::kNumber:
      return parse_number(value, &number) && number >= 0 ? nullptr : "a number >= 0";
    case OptionKind::kText:
    case OptionKind::kList:
      return value.empty() ? "a value" : nullptr;
    case OptionKind::kFlag:
      break;
  }
  return nullptr;
}

}  // namespace

bool Options::parse(const std::vector<std::string>& args, const OptionSpec& spec,
                    std::string* error) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      *error = "unexpected argument '" + arg + "'";
      return false;
    }
    std::string key = arg.substr(2);
    std::string value;
    bool inline_value = false;
    if (const size_t eq = key.find('='); eq != std::string::npos) {  // --key=value
      value = key.substr(eq + 1);
      key.resize(eq);
      inline_value = true;
    }
    const auto it = spec.find(key);
    if (it == spec.end()) {
      *error = "unknown option '--" + key + "'";
      return false;
    }
    if (it->second == OptionKind::kFlag) {
      if (inline_value) {
        *error = "option '--" + key + "' takes no value";
        return false;
      }
      values_[key] = "";
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        *error = "option '--" + key + "' needs a value";
        return false;
      }
      value = args[++i];
    }
    const char* need = value_problem(it->second, value);
    if (need != nullptr) {
      *error = "option '--" + key + "' needs " + need;
      if (!value.empty()) error->append(", not '").append(value).append("'");
      return false;
    }
    lists_[key].push_back(value);
    values_[key] = value;
  }
  return true;
}

std::string Options::get(const std::string& key, const std::string& fallback) const {
  const auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

uint32_t Options::get_u32(const std::string& key, uint32_t fallback) const {
  uint32_t v = 0;
  const auto it = values_.find(key);
  return it != values_.end() && parse_u32(it->second, &v) ? v : fallback;
}

std::vector<std::string> Options::get_all(const std::string& key) const {
  const auto it = lists_.find(key);
  return it == lists_.end() ? std::vector<std::string>{} : it->second;
}

double Options::get_double(const std::string& key, double fallback) const {
  double v = 0;
  const auto it = values_.find(key);
  return it != values_.end() && parse_number(it->second, &v) ? v : fallback;
}

}  // namespace ringserve::bench
