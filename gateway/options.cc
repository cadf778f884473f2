#include "gateway/options.h"

#include <charconv>
#include <fstream>
#include <sstream>
#include <string_view>

namespace ringserve::gateway {
namespace {

std::string trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) return "";
  const size_t end = s.find_last_not_of(" \t\r");
  return std::string(s.substr(begin, end - begin + 1));
}

// A whole decimal number in [min, max]; "" or what is wrong with it.
std::string parse_number(const std::string& text, uint64_t min, uint64_t max, uint64_t* out) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return "'" + text + "' is not a whole number";
  }
  if (v < min || v > max) {
    return "'" + text + "' is outside " + std::to_string(min) + ".." + std::to_string(max);
  }
  *out = v;
  return "";
}

// Sets one setting by its config key (the command line's --port is key "port"). Returns "" or
// the problem with the value.
std::string set_key(const std::string& key, const std::string& value, bool from_file,
                    Options* out) {
  uint64_t n = 0;
  std::string error;
  if (key == "name" && !from_file) {
    if (value.empty()) return "must not be empty";
    out->daemon_name = value;
  } else if (key == "host") {
    if (value.empty()) return "must not be empty";
    out->host = value;
  } else if (key == "port") {
    if ((error = parse_number(value, 0, 65535, &n)).empty()) out->port = static_cast<uint16_t>(n);
  } else if (key == "threads") {
    if ((error = parse_number(value, 1, 64, &n)).empty()) out->threads = static_cast<uint32_t>(n);
  } else if (key == "api_key" && from_file) {
    if (value.empty()) return "must not be empty";
    out->api_keys.push_back(value);
  } else if (key == "max_body_bytes" && from_file) {
    if ((error = parse_number(value, 1, uint64_t{1} << 30, &n)).empty()) out->max_body_bytes = n;
  } else if (key == "max_header_bytes" && from_file) {
    if ((error = parse_number(value, 256, 1 << 20, &n)).empty()) {
      out->max_header_bytes = static_cast<uint32_t>(n);
    }
  } else if (key == "header_timeout_ms" && from_file) {
    if ((error = parse_number(value, 1, 3'600'000, &n)).empty()) {
      out->header_timeout_ms = static_cast<uint32_t>(n);
    }
  } else if (key == "write_timeout_ms" && from_file) {
    if ((error = parse_number(value, 1, 3'600'000, &n)).empty()) {
      out->write_timeout_ms = static_cast<uint32_t>(n);
    }
  } else if (key == "max_connections" && from_file) {
    if ((error = parse_number(value, 1, 1'000'000, &n)).empty()) {
      out->max_connections = static_cast<uint32_t>(n);
    }
  } else {
    return "unknown key";
  }
  return error;
}

}  // namespace

const char* usage_text() {
  return "usage: ringserve-http --name NAME [--port PORT] [--host ADDR] [--config FILE]\n"
         "                      [--threads N] [--help]\n"
         "An OpenAI-compatible HTTP gateway to the ringserved daemon NAME (docs/HTTP.md).\n"
         "  --name NAME     the daemon to serve (required)\n"
         "  --port PORT     TCP port, default 8080; 0 picks a free one (printed at start)\n"
         "  --host ADDR     address to listen on, default 127.0.0.1 (loopback only)\n"
         "  --config FILE   key = value settings: api_key (repeatable), max_body_bytes,\n"
         "                  max_header_bytes, header_timeout_ms, write_timeout_ms,\n"
         "                  max_connections, host, port, threads; the command line wins\n"
         "  --threads N     event loops (each with its own listening socket), default 1\n";
}

std::string parse_config_text(const std::string& path, const std::string& text, Options* out) {
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    const std::string where = path + ":" + std::to_string(number) + ": ";
    const std::string content = trim(line);
    if (content.empty() || content[0] == '#') continue;
    const size_t eq = content.find('=');
    if (eq == std::string::npos) return where + "expected 'key = value'";
    const std::string key = trim(std::string_view(content).substr(0, eq));
    std::string value = trim(std::string_view(content).substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    } else if (!value.empty() && value.front() == '"') {
      return where + key + ": unterminated quoted value";
    }
    const std::string error = set_key(key, value, /*from_file=*/true, out);
    if (!error.empty()) return std::string(where).append(key).append(": ").append(error);
  }
  return "";
}

std::string parse_options(int argc, const char* const* argv, Options* out) {
  // The file first, whatever its place on the line: command-line options then override it.
  std::vector<std::pair<std::string, std::string>> flags;
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      out->help = true;
      return "";
    }
    if (arg != "--name" && arg != "--port" && arg != "--host" && arg != "--threads" &&
        arg != "--config") {
      return "unknown option '" + arg + "'";
    }
    if (i + 1 >= argc) return arg + " needs a value";
    const std::string value = argv[++i];
    if (arg == "--config") {
      config_path = value;
    } else {
      flags.emplace_back(arg.substr(2), value);
    }
  }
  if (!config_path.empty()) {
    std::ifstream file(config_path);
    if (!file) return "--config " + config_path + ": cannot be read";
    std::stringstream text;
    text << file.rdbuf();
    std::string error = parse_config_text(config_path, text.str(), out);
    if (!error.empty()) return error;
  }
  for (const auto& [key, value] : flags) {
    const std::string error = set_key(key, value, /*from_file=*/false, out);
    if (!error.empty()) return std::string("--").append(key).append(": ").append(error);
  }
  if (out->daemon_name.empty()) return "--name is required";
  return "";
}

}  // namespace ringserve::gateway
