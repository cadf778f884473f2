// Config loading. Every key is one row of keys(): its dotted name and a Store that checks a
// TOML value and writes it into the Config. A document's entries are checked in file order
// (toml++ tables iterate in key order), so the first mistake in the file is the one reported.
// toml++ and its exceptions stay inside this file.
#include "config/config.h"

#include <grp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iterator>
#include <optional>
#include <utility>

#include <toml++/toml.h>

namespace ringserve::config {
namespace {

constexpr std::pair<std::string_view, WaitMode> kWaitModes[] = {
    {"spin", WaitMode::kSpin}, {"futex", WaitMode::kFutex}, {"hybrid", WaitMode::kHybrid}};
constexpr std::pair<std::string_view, Backend> kBackends[] = {{"echo", Backend::kEcho},
                                                              {"torch", Backend::kTorch}};
constexpr std::pair<std::string_view, SchedulerMode> kSchedulerModes[] = {
    {"batch", SchedulerMode::kBatch}, {"interleave", SchedulerMode::kInterleave}};
constexpr std::string_view kDtypes[] = {"float32", "bfloat16", "float16", "int8", "int4"};
constexpr std::string_view kChatTemplates[] = {"auto",   "chatml", "llama2",
                                               "llama3", "plain",  "zephyr"};
constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error", "off"};

// Checks one value and, when it is good, stores it. Returns "" or what is wrong with the value;
// the caller puts the source and key in front.
using Store = std::function<std::string(const toml::node&, Config*)>;

struct Key {
  std::string_view name;  // dotted: "section.key"
  Store store;
};

// "an integer", "a string", ...: what a value is, for "expected X, got Y".
std::string type_name(const toml::node& node) {
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
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string expected(const char* what, const toml::node& node) {
  return std::string("expected ") + what + ", got " + type_name(node);
}

// "unknown value 'x' (expected a, b or c)"; name_of(choice) spells one choice.
template <class Range, class Name>
std::string unknown_value(std::string_view value, const Range& choices, Name name_of) {
  std::string message = "unknown value '" + std::string(value) + "' (expected ";
  const size_t n = std::size(choices);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) message += (i + 1 == n) ? " or " : ", ";
    message += name_of(choices[i]);
  }
  return message + ")";
}

enum class IntRule {
  kPlain,       // any value in min..max
  kPowerOfTwo,  // and a power of two
  kFileMode,    // any value in min..max; shown in octal ("0o1000")
};

std::string show(int64_t v, IntRule rule) {
  if (rule != IntRule::kFileMode) return std::to_string(v);
  const auto bits = static_cast<unsigned long long>(v);
  char digits[32];
  std::snprintf(digits, sizeof digits, "%s0o%llo", v < 0 ? "-" : "", v < 0 ? 0 - bits : bits);
  return digits;
}

// A uint32_t field of section S, checked against min..max and `rule`.
template <class S>
Store integer(S Config::*section, uint32_t S::*field, int64_t min, int64_t max,
              IntRule rule = IntRule::kPlain) {
  return [=](const toml::node& node, Config* c) -> std::string {
    const std::optional<int64_t> v = node.value_exact<int64_t>();
    if (!v) return expected("an integer", node);
    if (*v < min || *v > max) {
      return show(*v, rule) + " is out of range " + show(min, rule) + ".." + show(max, rule);
    }
    if (rule == IntRule::kPowerOfTwo && (*v <= 0 || (*v & (*v - 1)) != 0)) {
      return show(*v, rule) + " is not a power of two";
    }
    (c->*section).*field = static_cast<uint32_t>(*v);
    return "";
  };
}

// An enum field of section S, spelled as one of `choices`.
template <class S, class E, size_t N>
Store choice(S Config::*section, E S::*field, const std::pair<std::string_view, E> (&choices)[N]) {
  return [=, &choices](const toml::node& node, Config* c) -> std::string {
    const std::optional<std::string_view> v = node.value_exact<std::string_view>();
    if (!v) return expected("a string", node);
    for (const auto& [name, value] : choices) {
      if (*v == name) {
        (c->*section).*field = value;
        return "";
      }
    }
    return unknown_value(*v, choices, [](const auto& p) { return p.first; });
  };
}

// A string field of section S that must be one of `words`.
template <class S, size_t N>
Store one_of(S Config::*section, std::string S::*field, const std::string_view (&words)[N]) {
  return [=, &words](const toml::node& node, Config* c) -> std::string {
    const std::optional<std::string_view> v = node.value_exact<std::string_view>();
    if (!v) return expected("a string", node);
    if (std::find(std::begin(words), std::end(words), *v) == std::end(words)) {
      return unknown_value(*v, words, [](std::string_view w) { return w; });
    }
    (c->*section).*field = std::string(*v);
    return "";
  };
}

// A boolean field of section S.
template <class S>
Store boolean(S Config::*section, bool S::*field) {
  return [=](const toml::node& node, Config* c) -> std::string {
    const std::optional<bool> v = node.value_exact<bool>();
    if (!v) return expected("a boolean (true or false)", node);
    (c->*section).*field = *v;
    return "";
  };
}

// A free-form string field of section S; `check` returns "" or what is wrong.
template <class S>
Store text(S Config::*section, std::string S::*field,
           const std::function<std::string(std::string_view)>& check) {
  return [=](const toml::node& node, Config* c) -> std::string {
    const std::optional<std::string_view> v = node.value_exact<std::string_view>();
    if (!v) return expected("a string", node);
    std::string problem = check(*v);
    if (!problem.empty()) return problem;
    (c->*section).*field = std::string(*v);
    return "";
  };
}

// "cpu", "cuda" or "cuda:N"; the engine checks that the device exists at start.
std::string check_device(std::string_view v) {
  if (v == "cpu" || v == "cuda") return "";
  if (v.starts_with("cuda:") && v.size() > 5 && v.size() <= 8 &&
      std::all_of(v.begin() + 5, v.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return "";
  }
  return "unknown value '" + std::string(v) + "' (expected cpu, cuda or cuda:N)";
}

// A group name or a numeric id, as a string or an integer (so `--set transport.group=1001`
// works unquoted).
Store group() {
  return [](const toml::node& node, Config* c) -> std::string {
    std::string v;
    if (const std::optional<int64_t> id = node.value_exact<int64_t>()) {
      v = std::to_string(*id);
    } else if (const std::optional<std::string_view> name = node.value_exact<std::string_view>()) {
      v = std::string(*name);
    } else {
      return expected("a string or an integer", node);
    }
    if (!v.empty() && !group_id(v)) return "no such group '" + v + "'";
    c->transport.group = std::move(v);
    return "";
  };
}

// The same rule as shm::daemon_name_is_valid (config/ does not depend on shm/); the daemon
// checks again after --name.
bool is_daemon_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.';
  });
}

Store daemon_name() {
  return [](const toml::node& node, Config* c) -> std::string {
    const std::optional<std::string_view> v = node.value_exact<std::string_view>();
    if (!v) return expected("a string", node);
    if (!is_daemon_name(*v)) {
      return "'" + std::string(*v) +
             "' is not a valid name (1-64 characters of [A-Za-z0-9_.-], not starting with '.')";
    }
    c->daemon.name = std::string(*v);
    return "";
  };
}

const std::vector<Key>& keys() {
  using C = Config;
  using D = DaemonSection;
  using T = TransportSection;
  using S = SchedulerSection;
  using M = ModelSection;
  static const std::vector<Key> table = {
      {"daemon.name", daemon_name()},
      {"daemon.log_level", one_of(&C::daemon, &D::log_level, kLogLevels)},
      {"daemon.lock_dir", text(&C::daemon, &D::lock_dir,
                               [](std::string_view v) {
                                 return v.empty() || v[0] == '/'
                                            ? std::string()
                                            : "'" + std::string(v) + "' is not an absolute path";
                               })},
      {"transport.slots", integer(&C::transport, &T::slots, 1, 4096)},
      {"transport.prompt_bytes", integer(&C::transport, &T::prompt_bytes, 1, 16777216)},
      {"transport.token_ring_entries",
       integer(&C::transport, &T::token_ring_entries, 4, 65536, IntRule::kPowerOfTwo)},
      {"transport.wait_mode", choice(&C::transport, &T::wait_mode, kWaitModes)},
      {"transport.spin_us", integer(&C::transport, &T::spin_us, 0, 100000)},
      {"transport.permissions",
       integer(&C::transport, &T::permissions, 0, 0777, IntRule::kFileMode)},
      {"transport.group", group()},
      {"transport.unpublished_timeout_ms",
       integer(&C::transport, &T::unpublished_timeout_ms, 1, 60000)},
      {"scheduler.max_concurrent", integer(&C::scheduler, &S::max_concurrent, 1, 4096)},
      {"scheduler.max_queue", integer(&C::scheduler, &S::max_queue, 0, 65536)},
      {"scheduler.max_tokens_limit", integer(&C::scheduler, &S::max_tokens_limit, 1, 1000000)},
      {"scheduler.max_batch_tokens", integer(&C::scheduler, &S::max_batch_tokens, 1, 65536)},
      {"scheduler.mode", choice(&C::scheduler, &S::mode, kSchedulerModes)},
      {"scheduler.aging_ms", integer(&C::scheduler, &S::aging_ms, 0, 3600000)},
      {"scheduler.max_priority", integer(&C::scheduler, &S::max_priority, 0, 1000000)},
      {"scheduler.pause_timeout_ms", integer(&C::scheduler, &S::pause_timeout_ms, 1, 3600000)},
      {"scheduler.drain_timeout_ms", integer(&C::scheduler, &S::drain_timeout_ms, 0, 3600000)},
      {"scheduler.prefix_cache", boolean(&C::scheduler, &S::prefix_cache)},
      {"model.backend", choice(&C::model, &M::backend, kBackends)},
      {"model.path", text(&C::model, &M::path, [](std::string_view) { return std::string(); })},
      {"model.device", text(&C::model, &M::device, check_device)},
      {"model.dtype", one_of(&C::model, &M::dtype, kDtypes)},
      {"model.threads", integer(&C::model, &M::threads, 0, 1024)},
      {"model.template", one_of(&C::model, &M::chat_template, kChatTemplates)},
      {"model.max_seq_len", integer(&C::model, &M::max_seq_len, 0, 1048576)},
      {"model.kv_cache_mb", integer(&C::model, &M::kv_cache_mb, 0, 1048576)},
      {"model.echo_step_delay_us", integer(&C::model, &M::echo_step_delay_us, 0, 10000000)},
  };
  return table;
}

const Key* find_key(std::string_view name) {
  for (const Key& key : keys()) {
    if (key.name == name) return &key;
  }
  return nullptr;
}

// True if `name` is a table holding keys ("transport").
bool is_section(std::string_view name) {
  return std::any_of(keys().begin(), keys().end(), [name](const Key& key) {
    return key.name.size() > name.size() && key.name.starts_with(name) &&
           key.name[name.size()] == '.';
  });
}

// One value in a document: a key, or something in the place of one.
struct Entry {
  std::string name;  // dotted
  const toml::node* node;
  const Key* key;  // null: an unknown key, or a section that is not a table
};

// Flattens `table` into entries, descending into known sections.
void collect(const toml::table& table, const std::string& prefix, std::vector<Entry>* out) {
  for (const auto& [k, node] : table) {
    std::string name = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    const Key* key = find_key(name);
    if (key == nullptr && node.is_table() && is_section(name)) {
      collect(*node.as_table(), name, out);
    } else {
      out->push_back({std::move(name), &node, key});
    }
  }
}

// "FILE:LINE: message", for a mistake at `node`.
std::string located(const std::string& source, const toml::node& node, const std::string& message) {
  return source + ":" + std::to_string(node.source().begin.line) + ": " + message;
}

// "key 'transport.slots': problem"
std::string about_key(const std::string& name, const std::string& problem) {
  return "key '" + name + "': " + problem;
}

// Applies a parsed document. Returns "" or the first mistake in file order.
std::string apply_document(const toml::table& doc, const std::string& source, Config* config) {
  std::vector<Entry> entries;
  collect(doc, "", &entries);
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.node->source().begin < b.node->source().begin;
  });
  for (const Entry& e : entries) {
    if (e.key == nullptr) {
      return located(source, *e.node,
                     is_section(e.name) ? about_key(e.name, expected("a table", *e.node))
                                        : "unknown key '" + e.name + "'");
    }
    if (std::string problem = e.key->store(*e.node, config); !problem.empty()) {
      return located(source, *e.node, about_key(e.name, problem));
    }
  }
  return "";
}

std::string_view trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

// An override's VALUE as a one-entry table {v = VALUE}: VALUE read as TOML ("5", "0o640",
// "\"echo\""), or, when it is not exactly one TOML value, as a bare string.
toml::table parse_value(std::string_view value) {
  try {
    toml::table parsed = toml::parse("v = " + std::string(value), std::string_view("--set"));
    if (parsed.size() == 1 && parsed.contains("v")) return parsed;
  } catch (const toml::parse_error&) {
    // Not TOML: a bare string.
  }
  return toml::table{{"v", std::string(value)}};
}

// Applies one "KEY=VALUE". Returns "" or the error.
std::string apply_override(const std::string& text, Config* config) {
  const size_t eq = text.find('=');
  const std::string name(trim(std::string_view(text).substr(0, eq)));
  if (eq == std::string::npos || name.empty()) return "--set '" + text + "': expected KEY=VALUE";
  const std::string where = "--set " + name;
  const Key* key = find_key(name);
  if (key == nullptr) return where + ": unknown key '" + name + "'";
  const toml::table value = parse_value(trim(std::string_view(text).substr(eq + 1)));
  std::string error = key->store(*value.get("v"), config);
  return error.empty() ? error : where + ": " + error;
}

LoadResult failure(std::string error) { return {false, std::move(error)}; }

}  // namespace

LoadResult parse_config(std::string_view toml_text, const std::string& source_name,
                        const std::vector<std::string>& overrides, Config* out) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& err) {
    const toml::source_position& at = err.source().begin;
    return failure(source_name + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                   ": syntax error: " + std::string(err.description()));
  }
  Config config;
  if (std::string error = apply_document(doc, source_name, &config); !error.empty()) {
    return failure(std::move(error));
  }
  for (const std::string& o : overrides) {
    if (std::string error = apply_override(o, &config); !error.empty()) {
      return failure(std::move(error));
    }
  }
  *out = std::move(config);
  return {};
}

LoadResult load_config(const std::string& path, const std::vector<std::string>& overrides,
                       Config* out) {
  if (path.empty()) return parse_config("", "<defaults>", overrides, out);
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return failure(path + ": cannot open config file: " + std::strerror(errno));
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  const int read_errno = std::ferror(file) ? (errno != 0 ? errno : EIO) : 0;
  std::fclose(file);
  if (read_errno != 0) {
    return failure(path + ": cannot read config file: " + std::strerror(read_errno));
  }
  return parse_config(text, path, overrides, out);
}

std::optional<uint32_t> group_id(std::string_view group) {
  if (group.empty()) return std::nullopt;
  if (std::all_of(group.begin(), group.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    if (group.size() > 10) return std::nullopt;
    const uint64_t id = std::stoull(std::string(group));
    // (gid_t)-1 means "unchanged" to chown(2), so it is not a group.
    if (id >= 0xFFFFFFFFull) return std::nullopt;
    return static_cast<uint32_t>(id);
  }
  // getgrnam_r: the daemon may look groups up from more than one thread some day.
  std::vector<char> buffer(16384);
  struct group entry {};
  struct group* found = nullptr;
  const std::string name(group);
  while (::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) == ERANGE &&
         buffer.size() < (1u << 24)) {
    buffer.resize(buffer.size() * 2);
  }
  if (found == nullptr) return std::nullopt;
  return static_cast<uint32_t>(found->gr_gid);
}

const char* to_string(WaitMode mode) {
  for (const auto& [name, value] : kWaitModes) {
    if (value == mode) return name.data();
  }
  return "?";
}

const char* to_string(Backend backend) {
  for (const auto& [name, value] : kBackends) {
    if (value == backend) return name.data();
  }
  return "?";
}

const char* to_string(SchedulerMode mode) {
  for (const auto& [name, value] : kSchedulerModes) {
    if (value == mode) return name.data();
  }
  return "?";
}

}  // namespace ringserve::config
