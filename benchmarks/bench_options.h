// Command-line options of ringserve-bench subcommands: --key value pairs (and bare --flags).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace ringserve::bench {

class Options {
 public:
  // Parses args; false with *error on a malformed list.
  bool parse(const std::vector<std::string>& args, std::string* error) {
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i].rfind("--", 0) != 0) {
        *error = "unexpected argument '" + args[i] + "'";
        return false;
      }
      const std::string key = args[i].substr(2);
      if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
        values_[key] = args[++i];
      } else {
        values_[key] = "";
      }
    }
    return true;
  }
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  std::string get(const std::string& key, const std::string& fallback) const {
    auto it = values_.find(key);
    return it == values_.end() ? fallback : it->second;
  }
  uint32_t get_u32(const std::string& key, uint32_t fallback) const {
    auto it = values_.find(key);
    return it == values_.end()
               ? fallback
               : static_cast<uint32_t>(std::strtoul(it->second.c_str(), nullptr, 10));
  }
  double get_double(const std::string& key, double fallback) const {
    auto it = values_.find(key);
    return it == values_.end() ? fallback : std::strtod(it->second.c_str(), nullptr);
  }

 private:
  std::map<std::string, std::string> values_;
};

int latency_main(const Options& opts);
int throughput_main(const Options& opts);
int micro_main(int argc, char** argv);

}  // namespace ringserve::bench
