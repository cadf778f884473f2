// Command-line options of ringserve-bench subcommands: `--key value` pairs and bare `--flag`s.
// Each subcommand declares the keys it knows and their kinds; anything else is an error (a
// typo such as --token must not silently run the default).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ringserve::bench {

// kCount: a uint32 >= 1; kUint: a uint32; kNumber: a finite double >= 0; kText: non-empty;
// kList: non-empty, repeatable (get_all gives every value in order).
enum class OptionKind { kFlag, kCount, kUint, kNumber, kText, kList };
using OptionSpec = std::map<std::string, OptionKind>;

class Options {
 public:
  // Parses args against `spec`; false with *error on an unknown key, a missing value or a
  // value of the wrong kind.
  bool parse(const std::vector<std::string>& args, const OptionSpec& spec, std::string* error);

  bool has(const std::string& key) const { return values_.count(key) != 0; }
  std::string get(const std::string& key, const std::string& fallback) const;
  uint32_t get_u32(const std::string& key, uint32_t fallback) const;
  double get_double(const std::string& key, double fallback) const;
  std::vector<std::string> get_all(const std::string& key) const;

 private:
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> lists_;
};

int latency_main(const Options& opts);
int throughput_main(const Options& opts);
int micro_main(int argc, char** argv);
int model_main(const Options& opts);
int serve_main(const Options& opts);
int quality_main(const Options& opts);
int chat_main(const Options& opts);
int http_main(const Options& opts);

}  // namespace ringserve::bench
