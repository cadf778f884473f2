// ringserve client library, C++ API.
//
// A Client is a connection to one ringserved daemon on this machine, by name. generate()
// submits a prompt through the daemon's shared-memory request ring and returns a Stream that
// yields the generated tokens as the daemon publishes them.
//
//   std::unique_ptr<ringserve::Client> client;
//   ringserve::Status s = ringserve::Client::connect("default", &client);
//   std::unique_ptr<ringserve::Stream> stream;
//   if (s.ok()) s = client->generate("Hello", ringserve::GenerateParams{}, &stream);
//   ringserve::Token token;
//   while (s.ok() && (s = stream->next(&token)).ok()) std::cout << token.text << std::flush;
//   if (!s.ok() && !s.end_of_stream()) std::cerr << s.to_string() << "\n";
//
// Errors are values (Status); no exception leaves the library.
//
// Thread-safety: a Client may be used from any number of threads at once (generate() and
// status() are safe to call concurrently). A Stream belongs to one thread at a time, except
// cancel(), which any thread may call while another is blocked in next(). Streams keep the
// connection alive: a Stream may outlive the Client that made it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#if defined(RINGSERVE_BUILDING_CLIENT)
#define RINGSERVE_API __attribute__((visibility("default")))
#else
#define RINGSERVE_API
#endif

namespace ringserve {

// Numeric values are shared with the C API (ringserve.h, rs_error) and never change.
enum class ErrorCode : int {
  kOk = 0,
  kEndOfStream = 1,       // not an error: the stream finished (stop, length or cancelled)
  kDaemonNotRunning = 2,  // no daemon of that name (or it never finished starting)
  kDaemonGone = 3,        // the daemon died while we were connected
  kVersionMismatch = 4,   // the daemon speaks another shared-memory layout version
  kPermissionDenied = 5,  // the daemon's segment exists but this user may not open it
  kQueueFull = 6,         // the waiting line (or every request slot) is full; retry later
  kPromptTooLong = 7,
  kInvalidParams = 8,  // message names the field
  kEmptyPrompt = 9,
  kInvalidUtf8 = 10,
  kShuttingDown = 11,     // the daemon is stopping and admits nothing
  kTimeout = 12,          // next() timed out (stream goes on), or the request's deadline passed
  kProtocolError = 13,    // the segment held values no honest peer writes
  kInvalidArgument = 14,  // a bad argument to the library itself (e.g. a bad daemon name)
  kInternal = 15,
  // The daemon's process lives but has not looped for ConnectOptions::daemon_timeout (stopped
  // with SIGSTOP, or hung). From next(), the stream goes on: call again once it responds.
  kDaemonNotResponding = 16,
};
RINGSERVE_API const char* to_string(ErrorCode code);

// Why a stream ended. Values shared with the C API (rs_finish_reason).
enum class FinishReason : int {
  kNone = 0,  // not finished
  kStop = 1,
  kLength = 2,
  kCancelled = 3,
  kError = 4,
  kTimeout = 5,
  kRejected = 6,
};
RINGSERVE_API const char* to_string(FinishReason reason);

class RINGSERVE_API Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  bool ok() const { return code_ == ErrorCode::kOk; }
  bool end_of_stream() const { return code_ == ErrorCode::kEndOfStream; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;  // "queue full: ..." style

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// Sampling and limits of one request. Ranges are checked by the client and again by the daemon.
struct GenerateParams {
  uint32_t max_tokens = 128;        // 1..daemon's max_tokens_limit
  float temperature = 1.0f;         // 0 = greedy; 0..100
  float top_p = 1.0f;               // (0, 1]
  float min_p = 0.0f;               // [0, 1)
  float repetition_penalty = 1.0f;  // (0, 100]
  int32_t top_k = 0;                // 0 = off; >= 0
  uint64_t seed = 0;     // 0: a random sample each time; else same seed + prompt = same output
  int32_t priority = 0;  // higher is admitted first
  uint32_t queue_timeout_ms = 0;        // max wait for admission; 0 = none
  uint32_t total_timeout_ms = 0;        // max time from submission to the end; 0 = none
  std::vector<int32_t> stop_token_ids;  // at most 8
  // Stop strings: at most 8, each 1..64 bytes of UTF-8. Generation ends when the output
  // contains one; the text before it is delivered, the stop string and anything after are not,
  // even when it spans several tokens.
  std::vector<std::string> stop;
};

// One chat turn; the daemon renders the messages with its configured chat template.
struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// How Client::tokenize() asks. The daemon tokenizes as it tokenizes a prompt: text that spells
// one of the model's added or special tokens ("<|im_start|>", "</s>") always becomes that
// token's id, as in a prompt (there is no option to read it as plain text).
struct TokenizeOptions {
  // false (default): the text's own tokens. true: also the special tokens a prompt of that kind
  // gets from the daemon (a raw prompt: its BOS, for Llama-family models; chat messages: the
  // BOS when the template did not write it): the ids the model would see.
  bool add_special = false;
};

struct Token {
  // The token's id; -1 for text without a token: text held back (it might have begun a stop
  // string) and released when generation ended on a stop token.
  int32_t id = 0;
  std::string text;           // UTF-8 piece (whole characters)
  uint64_t published_ns = 0;  // CLOCK_MONOTONIC when the daemon published it
};

// Timestamps (CLOCK_MONOTONIC ns, 0 = not yet) and ids of a request, as the daemon recorded them.
struct RequestInfo {
  uint64_t request_id = 0;
  uint32_t queue_position = 0;  // 1-based while waiting, 0 once running
  // While waiting: the daemon's estimate of the wait for admission (its queue position times
  // the recent interval between requests leaving the running set); 0 = no estimate yet.
  uint32_t wait_estimate_ms = 0;
  uint64_t submit_ns = 0;
  uint64_t received_ns = 0;  // daemon took it off the request ring
  uint64_t admitted_ns = 0;
  uint64_t first_token_ns = 0;
  uint64_t finished_ns = 0;
  // Once running: the prompt's tokens, and how many of them the daemon took from its prefix
  // cache instead of computing them (a chat's earlier turns, a shared system prompt). Final
  // when the stream is done.
  uint32_t prompt_tokens = 0;
  uint32_t prompt_cached_tokens = 0;
};

// Percentiles of one of the daemon's latency histograms (power-of-two microsecond buckets:
// each percentile is the upper edge of its bucket, so it overstates by less than 2x).
struct LatencySummary {
  uint64_t count = 0;
  double p50_ms = 0;
  double p90_ms = 0;
  double p99_ms = 0;
};

// What a daemon serves (DaemonStatus::model), as it published it at start-up. The texts come
// from the daemon's segment, which any process with access could have rewritten: the library
// reads them bounded to their fields and replaces every byte that is not part of printable
// UTF-8 with '?', so they are safe to print and to put in JSON, but they are the daemon's word.
struct ModelInfo {
  std::string path;          // the model's directory (absolute), "built-in", or "echo"
  std::string architecture;  // config.json's model_type: "gpt2", "llama", ...; "none" (echo)
  std::string format;  // the weights': "float32", "bfloat16", "float16", "int8", "int4"; "none"
  std::string device;  // "cpu", "cuda:0", ...; "none" (echo)
  uint32_t context_length = 0;  // positions per sequence, prompt and output; 0 = no model limit
  uint64_t weight_bytes = 0;    // the weights as held in memory, in `format`
  uint64_t kv_cache_bytes = 0;  // the KV cache, preallocated for max_concurrent sequences
};

// The daemon's paged KV cache and prefix cache (README, "KV cache"); zeros from a daemon
// without a model.
struct KvCacheStatus {
  uint32_t block_positions = 0;  // positions per block
  uint32_t blocks_total = 0;
  uint32_t blocks_in_use = 0;  // held by running requests
  uint32_t blocks_cached = 0;  // held by none, kept for their prefix; evicted when room is needed
  uint64_t prompt_tokens = 0;  // prompt tokens of every request started
  uint64_t prompt_tokens_cached = 0;  // of those, taken from the prefix cache
  uint64_t preemptions = 0;  // requests that gave their blocks up mid-decode (recomputed later)
  // prompt_tokens_cached / prompt_tokens; 0 before any prompt.
  double hit_rate() const {
    return prompt_tokens == 0
               ? 0.0
               : static_cast<double>(prompt_tokens_cached) / static_cast<double>(prompt_tokens);
  }
};

struct DaemonStatus {
  int32_t pid = 0;
  uint32_t layout_version = 0;
  std::string wait_mode;
  uint32_t slots = 0;
  uint32_t slots_in_use = 0;
  uint32_t max_concurrent = 0;
  uint32_t max_queue = 0;
  uint32_t running = 0;
  uint32_t waiting = 0;
  uint64_t received = 0;
  uint64_t admitted = 0;
  uint64_t rejected = 0;
  uint64_t completed = 0;
  uint64_t cancelled = 0;
  uint64_t failed = 0;
  uint64_t tokens_generated = 0;
  uint64_t heartbeat_age_ns = 0;
  ModelInfo model;
  KvCacheStatus kv_cache;
  uint64_t resident_bytes = 0;         // the daemon's resident set size, refreshed every ~50 ms
  uint64_t steps = 0;                  // model steps run
  double backend_ms_per_step = 0;      // mean time inside the model step
  double daemon_us_per_step = 0;       // mean daemon-only work per step (everything else)
  double wake_thread_us_per_step = 0;  // mean CPU of the daemon's wake thread per step
  LatencySummary queue_wait;           // received -> admitted
  LatencySummary time_to_first_token;  // received -> first token
  LatencySummary inter_token;          // between consecutive tokens
  LatencySummary end_to_end;           // received -> finished (requests that were queued)
};

// The raw counts of one of the daemon's latency histograms, for exporters that need the
// buckets rather than percentiles (ringctl metrics). counts[0] holds latencies under 1 us,
// counts[i] (1..30) those in [2^(i-1), 2^i) us, and the last bucket everything from 2^30 us
// (about 18 minutes) up; sum_ns is the total of every latency counted.
struct LatencyHistogram {
  static constexpr uint32_t kBuckets = 32;
  std::array<uint64_t, kBuckets> counts{};
  uint64_t sum_ns = 0;  // the latencies' exact total (the daemon adds each one)

  uint64_t count() const {
    uint64_t n = 0;
    for (const uint64_t c : counts) n += c;
    return n;
  }
  // Exclusive upper edge of bucket i in microseconds; the last bucket has none (returns 0).
  static constexpr uint64_t upper_edge_us(uint32_t i) {
    return i + 1 < kBuckets ? uint64_t{1} << i : 0;
  }
};

// The daemon's cumulative totals and raw histograms (Client::metrics): monotonic counters that
// an exporter turns into rates; DaemonStatus has the same numbers as means and percentiles.
struct DaemonMetrics {
  uint64_t steps = 0;            // model steps run
  uint64_t backend_step_ns = 0;  // wall time inside the model step, over all steps
  uint64_t daemon_step_ns = 0;   // daemon-only CPU time of the loop thread in those iterations
  uint64_t wake_thread_ns = 0;   // CPU time of the daemon's wake thread
  LatencyHistogram queue_wait;
  LatencyHistogram time_to_first_token;
  LatencyHistogram inter_token;
  LatencyHistogram end_to_end;
};

// One request the daemon holds, as `Client::requests` sees it in the segment.
struct RequestSummary {
  uint64_t request_id = 0;
  uint32_t slot = 0;
  int32_t owner_pid = 0;
  bool running = false;           // false: waiting for admission
  uint32_t queue_position = 0;    // 1-based while waiting
  uint32_t wait_estimate_ms = 0;  // while waiting: the daemon's estimate; 0 = unknown
  uint32_t tokens_generated = 0;
  uint64_t age_ns = 0;  // since the daemon received it
};

inline constexpr std::chrono::nanoseconds kWaitForever = std::chrono::nanoseconds::max();

class Connection;     // internal
struct StreamReader;  // internal

class RINGSERVE_API Stream {
 public:
  ~Stream();  // cancels an unfinished request and gives its slot back
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Blocks for the next token. OK: *token holds it. kEndOfStream: the stream finished with
  // stop, length or cancelled (finish_reason() says which). kTimeout with !done(): nothing
  // arrived within `timeout`; call again. kDaemonNotResponding (never done()): the daemon has
  // not looped for ConnectOptions::daemon_timeout; call again to go on waiting. Any other code:
  // the request failed (done() is true); kTimeout with done() included: the request's
  // total_timeout_ms passed. That one holds without the daemon: next() never waits past the
  // submission + total_timeout_ms (+ 50 ms, so the daemon's own timeout normally ends it).
  Status next(Token* token, std::chrono::nanoseconds timeout = kWaitForever);

  // Asks the daemon to stop this request; it ends within one scheduler step. next() then
  // returns the tokens already published and kEndOfStream with FinishReason::kCancelled.
  void cancel();

  bool done() const { return done_; }
  FinishReason finish_reason() const { return finish_reason_; }
  RequestInfo info() const;

 private:
  friend class Client;
  Stream(std::shared_ptr<Connection> connection, uint32_t slot, uint64_t state_word,
         std::unique_ptr<StreamReader> reader, uint64_t deadline_ns);
  Status finish();
  Status end_here(FinishReason reason, Status status, bool release);
  Status check_while_waiting(bool* finished);
  void release_slot();

  std::shared_ptr<Connection> connection_;
  uint32_t slot_;
  uint64_t state_word_;  // as submitted: generation and owner pid, for CAS
  std::unique_ptr<StreamReader> reader_;
  uint64_t deadline_ns_;  // submission + total_timeout_ms + grace; shm::kNoDeadline if none
  bool done_ = false;
  bool released_ = false;
  FinishReason finish_reason_ = FinishReason::kNone;
  RequestInfo final_info_;  // taken before the slot is given back, which may reuse it
};

struct ConnectOptions {
  // How long to wait for a daemon that is still starting (segment exists, not ready yet).
  std::chrono::milliseconds ready_timeout{2000};
  // "" = the daemon's wait mode; else "spin", "futex" or "hybrid" for this client's waits.
  std::string wait_mode;
  // A daemon whose heartbeat (refreshed at least every 100 ms while its loop runs) is older
  // than this is reported as kDaemonNotResponding by next() and refused by generate() and
  // chat(). 0 = never.
  std::chrono::milliseconds daemon_timeout{3000};
  // Besides this process's own effective uid and root, the uid trusted to own the daemon's
  // segment (the daemon's user, when it runs as another one). kUnsetUid: the environment
  // variable RINGSERVE_DAEMON_UID (a uid or a user name) if set, else none. A segment owned by
  // anyone else, or writable by others, is refused with kPermissionDenied (docs/SECURITY.md).
  static constexpr int64_t kUnsetUid = -1;
  int64_t daemon_uid = kUnsetUid;
};

class RINGSERVE_API Client {
 public:
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  static Status connect(const std::string& name, std::unique_ptr<Client>* out,
                        const ConnectOptions& options = {});

  // Submits a request. Errors found before submission (empty or too long prompt, bad params,
  // no free slot, daemon gone) are returned here; errors found by the daemon (queue full,
  // invalid UTF-8, ...) come from the stream's first next().
  Status generate(std::string_view prompt, const GenerateParams& params,
                  std::unique_ptr<Stream>* out);

  // As generate(), with chat messages instead of a raw prompt.
  Status chat(const std::vector<ChatMessage>& messages, const GenerateParams& params,
              std::unique_ptr<Stream>* out);

  // Asks the daemon for the tokens of `text` (UTF-8, not empty), with its tokenizer: ids[i]
  // and, when `pieces` is not null, pieces[i], token i's text as generation would stream it
  // (whole characters: a character split over several tokens comes with the last of them, the
  // others have ""; a special token's piece is its content). The pieces joined are the text
  // (for a model whose tokenizer adds a space at the start, with that space). The daemon
  // answers when it takes the request off its ring, without waiting for a scheduler place.
  // Blocks until the answer is in; errors as generate()'s and the stream's.
  Status tokenize(std::string_view text, const TokenizeOptions& options, std::vector<int32_t>* ids,
                  std::vector<std::string>* pieces = nullptr);
  // As tokenize(), for chat messages rendered with the daemon's chat template (the ids a chat()
  // request's prompt starts from, with options.add_special).
  Status tokenize_chat(const std::vector<ChatMessage>& messages, const TokenizeOptions& options,
                       std::vector<int32_t>* ids, std::vector<std::string>* pieces = nullptr);
  // The text of token ids (at least one), as the daemon's tokenizer decodes them (special
  // tokens' text included; bytes that make no whole character become U+FFFD). An id outside
  // the vocabulary is kInvalidParams naming its index and value.
  Status detokenize(const std::vector<int32_t>& ids, std::string* text);

  Status status(DaemonStatus* out) const;
  // The totals and raw histogram buckets behind status()'s means and percentiles.
  Status metrics(DaemonMetrics* out) const;
  // Every request the daemon is running or holding in its waiting line, from any client:
  // running ones first, then waiting ones by queue position.
  Status requests(std::vector<RequestSummary>* out) const;

  uint32_t max_prompt_bytes() const;
  uint32_t max_tokens_limit() const;
  // Requests' priority must lie in [-max_priority(), max_priority()] (scheduler.max_priority).
  uint32_t max_priority() const;

 private:
  explicit Client(std::shared_ptr<Connection> connection);
  // Claims a slot, writes `area` (prompt or messages, then stop strings) and submits it.
  Status submit(std::string_view area, uint32_t prompt_length, uint32_t flags,
                const GenerateParams& params, std::unique_ptr<Stream>* out);
  // Submits a tokenize or detokenize request (`flags`) and reads its answer (tokenize.cc).
  Status text_request(std::string_view area, uint32_t flags, std::vector<int32_t>* ids,
                      std::vector<std::string>* pieces, std::string* text);
  std::shared_ptr<Connection> connection_;
};

}  // namespace ringserve
