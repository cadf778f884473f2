// ringserve configuration: the daemon's settings, loaded from a TOML file and then from
// `--set KEY=VALUE` overrides. Every field's default and range is documented here and in
// config/ringserve.example.toml (which holds every key, set to its default).
//
// Loading never throws. A mistake comes back as one line that names where it is:
//   FILE:LINE:COL: syntax error: <what the TOML parser says>
//   FILE:LINE: unknown key 'transport.slotz'
//   FILE:LINE: key 'transport.slots': expected an integer, got a string
//   FILE:LINE: key 'transport.slots': 0 is out of range 1..4096
//   FILE:LINE: key 'transport.wait_mode': unknown value 'sleepy' (expected spin, futex or hybrid)
//   FILE: cannot open config file: No such file or directory
//   --set transport.slots: 0 is out of range 1..4096
//   --set 'xyz': expected KEY=VALUE
// Where a file has several mistakes, the first in the file is reported.
//
// Thread-safety: plain values; copy freely.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringserve::config {

enum class WaitMode { kSpin, kFutex, kHybrid };
enum class Backend { kEcho, kTorch };
enum class SchedulerMode { kBatch, kInterleave };

struct DaemonSection {
  // Default "default". Clients connect by this name: 1-64 characters of [A-Za-z0-9_.-], not
  // starting with '.'.
  std::string name = "default";
  // Default "info". One of trace | debug | info | warn | error | off.
  std::string log_level = "info";
  // Default "" = automatic: $RUNTIME_DIRECTORY (systemd's RuntimeDirectory=) if set, else
  // /run/ringserve as root, else $XDG_RUNTIME_DIR/ringserve, else /tmp/ringserve-UID. Where the
  // instance lock (ringserve.NAME.lock) lives: an absolute path to a directory owned by the
  // daemon's user and writable by no one else, created 0700 when missing (daemon/instance_lock.h).
  std::string lock_dir;

  bool operator==(const DaemonSection&) const = default;
};

struct TransportSection {
  // Default 64. Request slots in the shared-memory segment, 1..4096.
  uint32_t slots = 64;
  // Default 16384. Largest prompt in bytes per request, 1..16777216.
  uint32_t prompt_bytes = 16384;
  // Default 256. Entries per token ring; a power of two, 4..65536.
  uint32_t token_ring_entries = 256;
  // Default kHybrid. How waiting sides wait: "spin" | "futex" | "hybrid".
  WaitMode wait_mode = WaitMode::kHybrid;
  // Default 20. Hybrid mode: microseconds to spin before sleeping, 0..100000.
  uint32_t spin_us = 20;
  // Default 0600. File mode of the segment, 0..0777 (a TOML integer: 0o600 or 384).
  uint32_t permissions = 0600;
  // Default "" = the daemon's own group. Group owner of the segment: a group name, which must
  // exist, or a numeric id 0..4294967294. With permissions 0o660 its members can connect. The
  // daemon's user must be root or a member of the group.
  std::string group;
  // Default 50. A request ring position claimed by a client but not published within this many
  // milliseconds is skipped, 1..60000.
  uint32_t unpublished_timeout_ms = 50;

  bool operator==(const TransportSection&) const = default;
};

struct SchedulerSection {
  // Default 16. Sequences generating at once, 1..4096.
  uint32_t max_concurrent = 16;
  // Default 64. Requests waiting for admission, 0..65536.
  uint32_t max_queue = 64;
  // Default 4096. Largest max_tokens a request may ask for, 1..1000000.
  uint32_t max_tokens_limit = 4096;
  // Default 512. Tokens one model step may process: one per decoding sequence plus prompt
  // tokens being prefilled; longer prompts are prefilled in chunks. 1..65536.
  uint32_t max_batch_tokens = 512;
  // Default kBatch. "batch": continuous batching, every running sequence in every step.
  // "interleave": one sequence per step, round-robin (the seed's behaviour, a baseline).
  SchedulerMode mode = SchedulerMode::kBatch;
  // Default 100. A waiting request gains one priority level per this many milliseconds
  // waited, so low priority cannot starve; 0 = strict priority. 0..3600000.
  uint32_t aging_ms = 100;
  // Default 10. Requests' priority must lie in -max_priority..max_priority, 0..1000000. With
  // aging, no request arriving later than (max_priority - p) x aging_ms after a request of
  // priority p is admitted before it: 1 s for priority 0 and 2 s for -10 with the defaults.
  uint32_t max_priority = 10;
  // Default 10000. A running request whose client leaves its full token ring unread this long
  // gives up its running place and KV cache row (the client still reads what was made, then
  // the error "client stalled"). A client that keeps reading, however slowly, is never
  // stalled. 1..3600000.
  uint32_t pause_timeout_ms = 10000;
  // Default 10000. At SIGTERM, running requests get this long to finish. 0..3600000.
  uint32_t drain_timeout_ms = 10000;
  // Default true. Keep the KV cache blocks of finished requests indexed by their tokens, so a
  // later prompt that starts with the same tokens (the next turn of a chat, a shared system
  // prompt) takes them instead of prefilling them again (docs/ARCHITECTURE.md, "KV cache").
  // false: every prompt is prefilled whole.
  bool prefix_cache = true;

  bool operator==(const SchedulerSection&) const = default;
};

struct ModelSection {
  // Default kTorch. "torch": the libtorch engine | "echo": no model, streams the prompt back.
  Backend backend = Backend::kTorch;
  // Default "" = the built-in model. A Hugging Face model directory (config.json,
  // model.safetensors or its sharded index, tokenizer.json).
  std::string path;
  // Default "cpu". "cpu", "cuda" or "cuda:N" (CUDA needs a libtorch built with it).
  std::string device = "cpu";
  // Default "float32". float32 | bfloat16 | float16 | int8 | int4: how the weights are held
  // (README, "Weight formats"). int8 and int4 are made at load from any checkpoint and run on
  // the CPU only.
  std::string dtype = "float32";
  // Default 0 = one per online CPU. Intra-op threads of the engine, 0..1024.
  uint32_t threads = 0;
  // Default "auto": chosen from the model's tokenizer_config.json chat_template, else plain.
  // How chat messages become a prompt: auto | chatml | llama2 | llama3 | plain | zephyr.
  std::string chat_template = "auto";
  // Default 0 = the model's max_position_embeddings. Context per sequence (prompt + output).
  // 0..1048576.
  uint32_t max_seq_len = 0;
  // Default 0 = room for scheduler.max_concurrent whole contexts (max_seq_len positions each).
  // MiB of KV cache, in blocks of 16 positions shared by all sequences: a request waits for
  // admission until its prompt's blocks are free, and decode that runs out preempts the newest
  // sequence (README, "KV cache"). At least one whole context. 0..1048576.
  uint32_t kv_cache_mb = 0;
  // Default 0. Echo backend: microseconds to sleep per step, 0..10000000.
  uint32_t echo_step_delay_us = 0;
  bool operator==(const ModelSection&) const = default;
};

struct Config {
  DaemonSection daemon;
  TransportSection transport;
  SchedulerSection scheduler;
  ModelSection model;

  bool operator==(const Config&) const = default;
};

struct LoadResult {
  bool ok = true;
  std::string error;  // when !ok: one line naming the source (file and line, or --set KEY)
};

// Loads `path` (empty = no file: the built-in defaults), then applies each override
// "KEY=VALUE" in order. VALUE is read as a TOML value; if it does not parse as one it is taken
// as a string, so `model.backend=echo` and `model.backend="echo"` mean the same. On failure
// `*out` is left unchanged.
LoadResult load_config(const std::string& path, const std::vector<std::string>& overrides,
                       Config* out);

// As load_config, with the TOML text given directly; `source_name` stands in for the path in
// messages.
LoadResult parse_config(std::string_view toml_text, const std::string& source_name,
                        const std::vector<std::string>& overrides, Config* out);

// The config-file spelling: "spin", "futex", "hybrid"; "echo", "torch".
// The group id `transport.group` names: a number, or a name looked up in the group database.
// Empty: none.
std::optional<uint32_t> group_id(std::string_view group);

const char* to_string(WaitMode mode);
const char* to_string(Backend backend);
const char* to_string(SchedulerMode mode);

}  // namespace ringserve::config
