// ringserve-http's settings: the command line and the optional config file, parsed into one
// struct. Pure (no I/O but reading the config file), so the errors are unit-tested.
//
// The config file is a small `key = value` file rather than TOML: seven flat keys, one of them
// repeatable (api_key), need no tables or arrays, and a hand parser gives exact "FILE:LINE:
// key: problem" errors without the exceptions toml++ throws. Lines are `key = value`, `#`
// starts a comment line, values may be written in double quotes (which makes the file valid
// TOML too, api_key repeated aside). docs/HTTP.md lists the keys.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ringserve::gateway {

struct Options {
  std::string daemon_name;               // --name: the ringserved to serve (required)
  std::string host = "127.0.0.1";        // --host / host: the address to listen on
  uint16_t port = 8080;                  // --port / port; 0 = any free port (printed at start)
  uint32_t threads = 1;                  // --threads / threads: event loops, 1..64
  std::vector<std::string> api_keys;     // api_key (repeatable); empty = no authentication
  uint64_t max_body_bytes = 1 << 20;     // max_body_bytes: larger bodies get 413
  uint32_t max_header_bytes = 16 << 10;  // max_header_bytes: larger request heads get 431
  uint32_t header_timeout_ms = 10'000;   // header_timeout_ms: a whole request must arrive in this
  uint32_t max_connections = 1024;       // max_connections: more are answered 503 and closed
  uint32_t write_timeout_ms = 30'000;    // write_timeout_ms: a write stalled this long closes
  bool help = false;                     // --help
};

// Parses argv (argv[0] skipped) and the --config file it names into *out. Returns "" or an
// error naming the option, or the file, line and key. Command-line options win over the file.
std::string parse_options(int argc, const char* const* argv, Options* out);

// Parses the text of a config file (`path` only names it in errors) into *out.
std::string parse_config_text(const std::string& path, const std::string& text, Options* out);

const char* usage_text();

}  // namespace ringserve::gateway
