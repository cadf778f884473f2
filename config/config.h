// ringserve configuration: the daemon's settings, loaded from a TOML file and `--set`
// overrides. Every field's default and range is documented here and in
// config/ringserve.example.toml. Loading never throws: errors come back as a message that
// names the file, line and key ("FILE:LINE: key 'transport.slots': ...").
//
// Thread-safety: plain values; copy freely.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringserve::config {

enum class WaitMode { kSpin, kFutex, kHybrid };
enum class Backend { kEcho, kTorch };

struct DaemonSection {
  std::string name = "default";    // clients connect by this name; [A-Za-z0-9_.-]{1,64}
  std::string log_level = "info";  // trace | debug | info | warn | error | off
};

struct TransportSection {
  uint32_t slots = 64;                     // request slots in the segment, 1..4096
  uint32_t prompt_bytes = 16384;           // max prompt bytes per request, 1..16777216
  uint32_t token_ring_entries = 256;       // entries per token ring, power of two, 4..65536
  WaitMode wait_mode = WaitMode::kHybrid;  // "spin" | "futex" | "hybrid"
  uint32_t spin_us = 20;                   // hybrid: spin this long before sleeping, 0..100000
  uint32_t permissions = 0600;             // segment file mode, 0..0777
  uint32_t unpublished_timeout_ms = 50;    // skip a claimed, unpublished ring position, 1..60000
};

struct SchedulerSection {
  uint32_t max_concurrent = 16;      // sequences generating at once, 1..4096
  uint32_t max_queue = 64;           // requests waiting for admission, 0..65536
  uint32_t max_tokens_limit = 4096;  // largest max_tokens a request may ask for, 1..1000000
};

struct ModelSection {
  Backend backend = Backend::kEcho;  // "echo" (no model) | "torch"
  uint32_t echo_step_delay_us = 0;   // echo: sleep per step, 0..10000000
};

struct Config {
  DaemonSection daemon;
  TransportSection transport;
  SchedulerSection scheduler;
  ModelSection model;
};

struct LoadResult {
  bool ok = true;
  std::string error;  // when !ok: one line naming the source, line and key
};

// Loads `path` (empty = no file: the built-in defaults), then applies each override
// "KEY=VALUE" in order. VALUE is read as a TOML value; if it does not parse as one it is taken
// as a string, so `model.backend=echo` and `model.backend="echo"` mean the same.
LoadResult load_config(const std::string& path, const std::vector<std::string>& overrides,
                       Config* out);

// As load_config, with the TOML text given directly; `source_name` stands in for the path.
LoadResult parse_config(std::string_view toml_text, const std::string& source_name,
                        const std::vector<std::string>& overrides, Config* out);

const char* to_string(WaitMode mode);
const char* to_string(Backend backend);

}  // namespace ringserve::config
