// Config loading. Keys are a table: each entry names a dotted key, its kind and range, and
// where the value goes, so adding a key is one line. toml++ exceptions are caught here.
#include "config/config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include <toml++/toml.h>

namespace ringserve::config {
namespace {

enum class Kind { kInteger, kString };

struct Key {
  const char* name;  // dotted
  Kind kind;
  int64_t min;
  int64_t max;
  // Stores a checked value; returns an error message (without location) or "".
  std::function<std::string(Config&, int64_t, const std::string&)> set;
};

template <class F>
Key integer(const char* name, int64_t min, int64_t max, F field) {
  return {name, Kind::kInteger, min, max, [field](Config& c, int64_t v, const std::string&) {
            c.*field.first.*field.second = static_cast<uint32_t>(v);
            return std::string();
          }};
}

template <class Section>
std::pair<Section Config::*, uint32_t Section::*> at(Section Config::*s, uint32_t Section::*f) {
  return {s, f};
}

bool is_power_of_two(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

const std::vector<Key>& keys() {
  static const std::vector<Key> table = {
      {"daemon.name", Kind::kString, 0, 0,
       [](Config& c, int64_t, const std::string& v) {
         c.daemon.name = v;
         return std::string();
       }},
      {"daemon.log_level", Kind::kString, 0, 0,
       [](Config& c, int64_t, const std::string& v) {
         for (const char* level : {"trace", "debug", "info", "warn", "error", "off"}) {
           if (v == level) {
             c.daemon.log_level = v;
             return std::string();
           }
         }
         return "unknown value '" + v + "' (expected trace, debug, info, warn, error or off)";
       }},
      integer("transport.slots", 1, 4096, at(&Config::transport, &TransportSection::slots)),
      integer("transport.prompt_bytes", 1, 16 << 20,
              at(&Config::transport, &TransportSection::prompt_bytes)),
      {"transport.token_ring_entries", Kind::kInteger, 4, 65536,
       [](Config& c, int64_t v, const std::string&) {
         if (!is_power_of_two(v)) return std::to_string(v) + " is not a power of two";
         c.transport.token_ring_entries = static_cast<uint32_t>(v);
         return std::string();
       }},
      {"transport.wait_mode", Kind::kString, 0, 0,
       [](Config& c, int64_t, const std::string& v) {
         if (v == "spin") {
           c.transport.wait_mode = WaitMode::kSpin;
         } else if (v == "futex") {
           c.transport.wait_mode = WaitMode::kFutex;
         } else if (v == "hybrid") {
           c.transport.wait_mode = WaitMode::kHybrid;
         } else {
           return "unknown value '" + v + "' (expected spin, futex or hybrid)";
         }
         return std::string();
       }},
      integer("transport.spin_us", 0, 100000, at(&Config::transport, &TransportSection::spin_us)),
      integer("transport.permissions", 0, 0777,
              at(&Config::transport, &TransportSection::permissions)),
      integer("transport.unpublished_timeout_ms", 1, 60000,
              at(&Config::transport, &TransportSection::unpublished_timeout_ms)),
      integer("scheduler.max_concurrent", 1, 4096,
              at(&Config::scheduler, &SchedulerSection::max_concurrent)),
      integer("scheduler.max_queue", 0, 65536,
              at(&Config::scheduler, &SchedulerSection::max_queue)),
      integer("scheduler.max_tokens_limit", 1, 1000000,
              at(&Config::scheduler, &SchedulerSection::max_tokens_limit)),
      {"model.backend", Kind::kString, 0, 0,
       [](Config& c, int64_t, const std::string& v) {
         if (v == "echo") {
           c.model.backend = Backend::kEcho;
         } else if (v == "torch") {
           c.model.backend = Backend::kTorch;
         } else {
           return "unknown value '" + v + "' (expected echo or torch)";
         }
         return std::string();
       }},
      integer("model.echo_step_delay_us", 0, 10000000,
              at(&Config::model, &ModelSection::echo_step_delay_us)),
  };
  return table;
}

const Key* find_key(std::string_view name) {
  for (const Key& k : keys()) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

bool is_section(std::string_view name) {
  for (const Key& k : keys()) {
    const std::string_view full = k.name;
    if (full.size() > name.size() && full.substr(0, name.size()) == name &&
        full[name.size()] == '.') {
      return true;
    }
  }
  return false;
}

const char* type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date/time";
  }
}

// Applies one value; `where` is "FILE:LINE" or "--set KEY". Returns "" or the full error.
std::string apply(Config& config, const Key& key, const toml::node& node,
                  const std::string& where) {
  const std::string prefix = where + ": key '" + key.name + "': ";
  if (key.kind == Kind::kInteger) {
    const auto v = node.value_exact<int64_t>();
    if (!v) return prefix + "expected an integer, got " + type_name(node);
    if (*v < key.min || *v > key.max) {
      return prefix + std::to_string(*v) + " is out of range " + std::to_string(key.min) + ".." +
             std::to_string(key.max);
    }
    const std::string e = key.set(config, *v, "");
    return e.empty() ? e : prefix + e;
  }
  const auto v = node.value_exact<std::string>();
  if (!v) return prefix + "expected a string, got " + type_name(node);
  const std::string e = key.set(config, 0, *v);
  return e.empty() ? e : prefix + e;
}

std::string location(const std::string& source, const toml::node& node) {
  return source + ":" + std::to_string(node.source().begin.line);
}

// Walks a parsed document; every leaf must be a known key.
std::string apply_table(Config& config, const toml::table& table, const std::string& prefix,
                        const std::string& source) {
  for (const auto& [k, node] : table) {
    const std::string name =
        prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const Key* key = find_key(name)) {
      if (std::string e = apply(config, *key, node, location(source, node)); !e.empty()) return e;
    } else if (node.is_table() && is_section(name)) {
      if (std::string e = apply_table(config, *node.as_table(), name, source); !e.empty()) {
        return e;
      }
    } else if (is_section(name)) {
      return location(source, node) + ": key '" + name + "': expected a table, got " +
             type_name(node);
    } else {
      return location(source, node) + ": unknown key '" + name + "'";
    }
  }
  return "";
}

std::string apply_override(Config& config, const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) return "--set '" + text + "': expected KEY=VALUE";
  const std::string name = text.substr(0, eq);
  const std::string value = text.substr(eq + 1);
  const Key* key = find_key(name);
  if (key == nullptr) return "--set " + name + ": unknown key '" + name + "'";
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};  // not a TOML value: a bare string
  }
  const toml::node* node = parsed.get("v");
  if (node == nullptr) return "--set '" + text + "': expected KEY=VALUE";
  return apply(config, *key, *node, "--set " + name);
}

}  // namespace

LoadResult parse_config(std::string_view toml_text, const std::string& source_name,
                        const std::vector<std::string>& overrides, Config* out) {
  Config config;
  try {
    const toml::table doc = toml::parse(toml_text, source_name);
    if (std::string e = apply_table(config, doc, "", source_name); !e.empty()) return {false, e};
  } catch (const toml::parse_error& err) {
    const auto& begin = err.source().begin;
    return {false, source_name + ":" + std::to_string(begin.line) + ":" +
                       std::to_string(begin.column) +
                       ": syntax error: " + std::string(err.description())};
  }
  for (const std::string& o : overrides) {
    if (std::string e = apply_override(config, o); !e.empty()) return {false, e};
  }
  *out = config;
  return {};
}

LoadResult load_config(const std::string& path, const std::vector<std::string>& overrides,
                       Config* out) {
  if (path.empty()) return parse_config("", "<defaults>", overrides, out);
  std::ifstream file(path);
  if (!file) return {false, path + ": cannot open config file: " + std::strerror(errno)};
  std::stringstream text;
  text << file.rdbuf();
  return parse_config(text.str(), path, overrides, out);
}

const char* to_string(WaitMode mode) {
  switch (mode) {
    case WaitMode::kSpin:
      return "spin";
    case WaitMode::kFutex:
      return "futex";
    case WaitMode::kHybrid:
      return "hybrid";
  }
  return "?";
}

const char* to_string(Backend backend) { return backend == Backend::kEcho ? "echo" : "torch"; }

}  // namespace ringserve::config
