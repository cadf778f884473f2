// The shared-memory layout of one ringserve daemon: a fixed, versioned contract between
// ringserved and every client process. docs/PROTOCOL.md describes it field by field; the
// static_asserts below pin it, and tests/shm_layout_test.cc pins kLayoutVersion, so a change
// to any struct here that does not bump the version fails the build or a test.
//
// Segment = [SegmentHeader][RequestRing][SlotTable][TokenRings], every part 64-byte aligned,
// located by offsets in the header (never pointers: each process maps the segment at its own
// address). All structs are standard-layout and trivially copyable; fields shared between
// processes are accessed with std::atomic_ref (shm/atomics.h).
//
// Trust: the daemon writes the header and reads client-written fields only through the
// validation in daemon/; it never re-reads its own geometry from the segment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace ringserve::shm {

inline constexpr uint64_t kMagic = 0x3156524553474E52ULL;  // "RNGSERV1" little-endian
inline constexpr uint32_t kLayoutVersion = 6;
inline constexpr uint32_t kCacheLine = 64;

// Segment life cycle, SegmentHeader::state. The daemon fills the whole segment while the state
// is kInitializing, then stores kReady with release order; clients wait (with a timeout) for
// kReady with acquire order before reading anything else.
enum class SegmentState : uint32_t { kInitializing = 0, kReady = 1, kStopping = 2 };

// How a waiting side waits: spin only, futex only, or a bounded spin then a futex.
enum class WaitMode : uint32_t { kSpin = 0, kFutex = 1, kHybrid = 2 };

// Request slot life cycle (SlotHeader::state_word, low 8 bits of the state byte). Every
// transition is a named function of shm/slot.h, used by both sides:
//   FREE -> CLAIMED            client, claim(): CAS, takes ownership, stamps its pid
//   CLAIMED -> SUBMITTED       client, submit(): after writing prompt and parameters, before
//                              pushing the slot index into the request ring
//   SUBMITTED -> QUEUED        daemon, take(): when it takes the request
//   QUEUED -> RUNNING          daemon, admit()
//   QUEUED|RUNNING -> FINISHED daemon, finish(): finish_reason/error_code/detail set before
//   FINISHED -> FREE           whoever is last: the client's release() after the final entry
//                              (or letting go), or the daemon's free_if_released()
//   any -> FREE                daemon, reclaim(): the owner process is dead
enum class SlotState : uint32_t {
  kFree = 0,
  kClaimed = 1,
  kSubmitted = 2,
  kQueued = 3,
  kRunning = 4,
  kFinished = 5,
};

enum class FinishReason : uint32_t {
  kNone = 0,
  kStop = 1,       // a stop token / stop condition of the model
  kLength = 2,     // max_tokens reached
  kCancelled = 3,  // the client asked
  kError = 4,      // see error_code
  kTimeout = 5,    // queue or total deadline passed
  kRejected = 6,   // queue full or shutting down (error_code says which)
};

inline constexpr const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
    case FinishReason::kTimeout:
      return "timeout";
    case FinishReason::kRejected:
      return "rejected";
  }
  return "unknown";
}

inline constexpr const char* wait_mode_name(WaitMode m) {
  switch (m) {
    case WaitMode::kSpin:
      return "spin";
    case WaitMode::kFutex:
      return "futex";
    case WaitMode::kHybrid:
      return "hybrid";
  }
  return "unknown";
}

// Error codes carried in SlotHeader::error_code (never exceptions across the boundary).
enum class RequestError : uint32_t {
  kNone = 0,
  kQueueFull = 1,
  kPromptTooLong = 2,
  kInvalidParams = 3,
  kEmptyPrompt = 4,
  kInvalidUtf8 = 5,
  kShuttingDown = 6,
  kProtocolViolation = 7,  // the slot or its ring held values no honest client writes
  kInternal = 8,
  // The client left its full ring unread for scheduler.pause_timeout_ms: the request gave up
  // its running place and its KV row; what it produced stays readable.
  kClientStalled = 9,
};

// Generation parameters, written by the client before SUBMITTED. Floats are IEEE-754 binary32.
struct GenerationParams {
  uint32_t max_tokens;
  float temperature;  // 0 = greedy
  float top_p;        // (0, 1]
  float min_p;        // [0, 1)
  float repetition_penalty;
  int32_t top_k;  // 0 = off
  uint64_t seed;  // 0 = random; otherwise sampling is reproducible
  int32_t priority;
  uint32_t queue_timeout_ms;  // 0 = none
  uint32_t total_timeout_ms;  // 0 = none
  uint32_t stop_token_count;  // <= kMaxStopTokens
  int32_t stop_token_ids[8];
  uint32_t flags;  // kRequest* bits; others must be 0
  uint32_t reserved;
};
inline constexpr uint32_t kMaxStopTokens = 8;
// GenerationParams.flags: the prompt area holds chat messages (see request_check.h for the
// encoding) instead of a raw prompt.
inline constexpr uint32_t kRequestChat = 1u << 0;
// Not a generation: the daemon tokenizes the prompt area (a raw prompt, or with kRequestChat the
// messages rendered by its chat template) and answers at intake, without a scheduler place or a
// model step: one token entry per token (its id and text), then the final entry (stop).
inline constexpr uint32_t kRequestTokenize = 1u << 1;
// Not a generation: the prompt area holds little-endian int32 token ids; the daemon answers at
// intake with their text in entries without a token (token_id -1), then the final entry (stop).
inline constexpr uint32_t kRequestDetokenize = 1u << 2;
// With kRequestTokenize only: the special tokens (BOS, ...) the daemon puts around a prompt of
// that kind are part of the answer, as the model would see them.
inline constexpr uint32_t kRequestAddSpecial = 1u << 3;
inline constexpr uint32_t kKnownRequestFlags =
    kRequestChat | kRequestTokenize | kRequestDetokenize | kRequestAddSpecial;
// Requests served at intake (never queued, never stepped).
inline constexpr uint32_t kTextRequestFlags = kRequestTokenize | kRequestDetokenize;
static_assert(std::is_standard_layout_v<GenerationParams>);
static_assert(std::is_trivially_copyable_v<GenerationParams>);
static_assert(sizeof(GenerationParams) == 88);
static_assert(offsetof(GenerationParams, seed) == 24);
static_assert(offsetof(GenerationParams, stop_token_ids) == 48);

// Slot state word: generation (24 bits) | state (8 bits) | owner pid (32 bits).
// The generation is bumped by every claim, so a compare-and-swap that expects an old word
// cannot succeed on a slot that was freed and claimed again in between (ABA).
inline constexpr uint64_t make_state_word(uint32_t generation, SlotState state, int32_t pid) {
  return (static_cast<uint64_t>(generation & 0xFFFFFFu) << 40) |
         (static_cast<uint64_t>(state) << 32) | static_cast<uint32_t>(pid);
}
inline constexpr uint32_t word_generation(uint64_t word) {
  return static_cast<uint32_t>(word >> 40) & 0xFFFFFFu;
}
inline constexpr uint32_t word_state_raw(uint64_t word) {
  return static_cast<uint32_t>(word >> 32) & 0xFFu;
}
inline constexpr SlotState word_state(uint64_t word) {
  return static_cast<SlotState>(word_state_raw(word));
}
inline constexpr int32_t word_pid(uint64_t word) {
  return static_cast<int32_t>(word & 0xFFFFFFFFu);
}
// The value a client stores in cancel_requested: it names the request (by generation), so a
// cancel that lands after the slot was freed and claimed again cancels nothing.
inline constexpr uint32_t cancel_token(uint64_t word) { return word_generation(word) + 1; }

inline constexpr uint64_t with_state(uint64_t word, SlotState state) {
  return make_state_word(word_generation(word), state, word_pid(word));
}

// One request slot; the prompt bytes follow it (prompt_capacity bytes, slot_stride apart).
struct alignas(kCacheLine) SlotHeader {
  // Line 0: ownership.
  uint64_t state_word;           // see make_state_word; CAS only
  uint64_t owner_start_time;     // owner's start time, clock ticks since boot (/proc/PID/stat 22)
  uint32_t cancel_requested;     // client: cancel_token(state word) = stop this request
  uint32_t client_released;      // client sets 1 when it stops reading; daemon frees at finish
  uint32_t prompt_length;        // bytes of prompt (or chat messages) that follow this header
  uint32_t stop_strings_length;  // bytes of stop strings that follow the prompt
  uint64_t submit_ns;            // client: CLOCK_MONOTONIC when it pushed the request
  uint64_t reserved1[3];
  // Line 1: daemon-written status.
  uint64_t request_id;      // daemon: unique per daemon run, assigned at QUEUED
  uint32_t finish_reason;   // FinishReason, valid once FINISHED
  uint32_t error_code;      // RequestError, valid once FINISHED
  uint32_t queue_position;  // 1-based position in the waiting line, 0 when running
  uint32_t tokens_generated;
  uint64_t received_ns;  // daemon: took the request off the ring
  uint64_t admitted_ns;  // daemon: QUEUED -> RUNNING
  uint64_t first_token_ns;
  uint64_t finished_ns;
  uint32_t wait_estimate_ms;  // daemon: expected wait for admission while QUEUED (0 = unknown)
  // Daemon, with the finish fields of a failed request: the length of a UTF-8 message saying
  // why (e.g. the token counts behind "prompt too long"), written at the start of the prompt
  // area, which the daemon no longer needs then. 0 = none. Clients clamp it to the area.
  uint32_t detail_length;
  // Line 2-3: parameters.
  GenerationParams params;
  // Daemon, at admission: the prompt's tokens, and how many of them came from the prefix
  // cache (their keys and values were not computed again).
  uint32_t prompt_tokens;
  uint32_t prompt_cached_tokens;
  uint64_t reserved2[4];
};
static_assert(std::is_standard_layout_v<SlotHeader>);
static_assert(std::is_trivially_copyable_v<SlotHeader>);
static_assert(sizeof(SlotHeader) == 256);
static_assert(offsetof(SlotHeader, request_id) == 64);
static_assert(offsetof(SlotHeader, params) == 128);
static_assert(offsetof(SlotHeader, detail_length) == 124);
static_assert(offsetof(SlotHeader, prompt_tokens) == 216);

// One token ring entry. A text piece longer than kTokenTextCapacity is split over several
// entries; every entry but the last of a piece carries kTokenContinued.
inline constexpr uint32_t kTokenTextCapacity = 48;
inline constexpr uint16_t kTokenContinued = 1u << 0;  // text continues in the next entry
inline constexpr uint16_t kTokenFinal = 1u << 1;      // end of stream; no token in this entry
struct TokenEntry {
  int32_t token_id;
  uint16_t flags;
  uint16_t text_length;           // <= kTokenTextCapacity
  uint64_t published_ns;          // daemon: CLOCK_MONOTONIC when it published the entry
  char text[kTokenTextCapacity];  // UTF-8, not NUL-terminated
};
static_assert(std::is_standard_layout_v<TokenEntry>);
static_assert(std::is_trivially_copyable_v<TokenEntry>);
static_assert(sizeof(TokenEntry) == 64);

// Single-producer (daemon) / single-consumer (slot owner) ring of TokenEntry; the entries
// (capacity, a power of two) follow this header. head and tail are free-running counters.
struct alignas(kCacheLine) TokenRingHeader {
  uint32_t head;  // daemon: entries published; also the futex word the client sleeps on
  // Daemon: 1 while it holds output for this ring that does not fit (the client has not read).
  // A client that moves tail while it is set clears it and rings the doorbell, so the daemon
  // sleeps instead of polling rings its clients must drain.
  uint32_t daemon_waiting_room;
  uint32_t reserved0[14];
  uint32_t tail;             // client: entries consumed
  uint32_t client_sleeping;  // client: 1 while it may be in (or about to enter) futex wait
  uint32_t reserved1[14];
};
static_assert(std::is_standard_layout_v<TokenRingHeader>);
static_assert(std::is_trivially_copyable_v<TokenRingHeader>);
static_assert(sizeof(TokenRingHeader) == 128);
static_assert(offsetof(TokenRingHeader, tail) == 64);
static_assert(offsetof(TokenRingHeader, daemon_waiting_room) == 4);

// Multi-producer (clients) / single-consumer (daemon) ring of slot indices; capacity cells of
// uint64_t follow this header. See shm/request_ring.h for the cell protocol.
struct alignas(kCacheLine) RequestRingHeader {
  uint64_t head;  // daemon: next position to consume (clients read it to see free space)
  uint64_t reserved0[7];
  uint64_t tail;  // clients: next position to claim, CAS only
  uint64_t reserved1[7];
};
static_assert(std::is_standard_layout_v<RequestRingHeader>);
static_assert(sizeof(RequestRingHeader) == 128);

// Live counters, daemon-written, read by `ringctl status`.
struct DaemonStats {
  uint32_t running;
  uint32_t waiting;
  uint64_t received;
  uint64_t admitted;
  uint64_t rejected;
  uint64_t completed;
  uint64_t cancelled;
  uint64_t failed;
  uint64_t tokens_generated;
};
static_assert(std::is_trivially_copyable_v<DaemonStats>);
static_assert(sizeof(DaemonStats) == 64);

struct alignas(kCacheLine) SegmentHeader {
  // Line 0: identity and geometry; written once before kReady, read-only afterwards.
  uint64_t magic;
  uint32_t layout_version;
  uint32_t state;  // SegmentState
  uint64_t segment_bytes;
  uint32_t header_bytes;
  uint32_t slot_count;
  uint32_t prompt_capacity;        // bytes per slot
  uint32_t token_ring_capacity;    // entries per token ring, power of two
  uint32_t request_ring_capacity;  // cells, power of two
  uint32_t slot_stride;
  uint32_t token_ring_stride;
  uint32_t wait_mode;  // WaitMode the daemon runs with; clients use it by default
  uint64_t request_ring_offset;
  // Line 1: more geometry, daemon identity and limits.
  uint64_t slot_table_offset;
  uint64_t token_rings_offset;
  int32_t daemon_pid;
  uint32_t spin_ns;            // hybrid mode: how long a waiter spins before sleeping
  uint64_t daemon_start_time;  // clock ticks since boot, /proc/PID/stat field 22
  uint32_t max_tokens_limit;   // largest max_tokens a request may ask for
  uint32_t max_concurrent;
  uint32_t max_queue;
  uint32_t max_priority;  // requests' priority must lie in [-max_priority, max_priority]
  uint64_t reserved1[2];
  // Line 2: daemon liveness and counters.
  // Daemon: CLOCK_MONOTONIC, refreshed at least every kHeartbeatIntervalNs while the loop
  // iterates or is inside a model step. It stops when the daemon is stopped (SIGSTOP) or its
  // loop hangs outside a step: clients then report "daemon not responding".
  uint64_t heartbeat_ns;
  // Daemon: cumulative over loop iterations that ran a model step: their number, the wall time
  // inside the backend's step, and the loop thread's CPU time for everything else in those
  // iterations (intake, admission, output, wake-ups, bookkeeping): the daemon's own cost.
  uint64_t steps;
  uint64_t backend_step_ns;
  uint64_t daemon_step_ns;
  // Daemon: CPU time of its wake-notifier thread so far (the futex wakes of sleeping clients,
  // made off the loop thread when there are many; daemon/wake_notifier.h).
  uint64_t wake_thread_ns;
  // Daemon, live: sequences holding backend state (KV cache rows), and requests the daemon
  // holds a slot for (taken off the ring, final entry not yet consumed or slot not yet freed).
  // Both return to 0 when nothing runs: tests check that an attack leaked neither.
  uint32_t backend_rows_in_use;
  uint32_t sequences_held;
  // Daemon: its process's resident set size in bytes (/proc/self/statm), refreshed by the
  // heartbeat thread, never by the loop: a moment's reading, for `ringctl status`.
  uint64_t resident_bytes;
  uint64_t reserved2;
  DaemonStats stats;  // line 3
  // Line 4: the doorbell the daemon sleeps on when the request ring is empty.
  uint32_t doorbell_seq;     // futex word; a producer bumps it when the daemon sleeps
  uint32_t daemon_sleeping;  // daemon: 1 while it may be in (or about to enter) futex wait
  uint32_t reserved3[14];
};
static_assert(std::is_standard_layout_v<SegmentHeader>);
static_assert(std::is_trivially_copyable_v<SegmentHeader>);
static_assert(sizeof(SegmentHeader) == 320);
static_assert(offsetof(SegmentHeader, slot_table_offset) == 64);
static_assert(offsetof(SegmentHeader, token_rings_offset) == 72);
static_assert(offsetof(SegmentHeader, heartbeat_ns) == 128);
static_assert(offsetof(SegmentHeader, stats) == 192);
static_assert(offsetof(SegmentHeader, max_priority) == 108);
static_assert(offsetof(SegmentHeader, backend_rows_in_use) == 168);
static_assert(offsetof(SegmentHeader, resident_bytes) == 176);
inline constexpr uint64_t kHeartbeatIntervalNs = 100'000'000;
static_assert(offsetof(SegmentHeader, doorbell_seq) == 256);

// Sizes a daemon chooses at start-up; everything else is derived by segment_geometry().
struct SegmentShape {
  uint32_t slot_count;
  uint32_t prompt_capacity;
  uint32_t token_ring_capacity;  // power of two
};

struct SegmentGeometry {
  uint32_t request_ring_capacity;
  uint64_t request_ring_offset;
  uint64_t slot_table_offset;
  uint32_t slot_stride;
  uint64_t token_rings_offset;
  uint32_t token_ring_stride;
  uint64_t segment_bytes;
};

// Limits that keep every derived size far from overflow.
inline constexpr uint32_t kMaxSlots = 4096;
inline constexpr uint32_t kMaxPromptCapacity = 16u << 20;
inline constexpr uint32_t kMaxTokenRingCapacity = 1u << 16;
inline constexpr uint64_t kHeaderBytes = 4096;

// Latency histograms, written by the daemon (one writer: relaxed loads and stores, no locked
// adds), read by anyone with access (ringctl status). Bucket 0 counts latencies under 1 us;
// bucket i (1..31) counts [2^(i-1), 2^i) us, so the last bucket starts at about 18 minutes.
// They live in the header page, after SegmentHeader, at kMetricsOffset.
inline constexpr uint32_t kHistogramBuckets = 32;
struct LatencyHistogram {
  uint64_t buckets[kHistogramBuckets];
  uint64_t sum_ns;  // of every latency counted, for a mean (Prometheus' _sum)
};
struct SegmentMetrics {
  LatencyHistogram queue_wait;   // received -> admitted
  LatencyHistogram first_token;  // received -> first token generated (time to first token)
  LatencyHistogram inter_token;  // between consecutive tokens of a request
  LatencyHistogram end_to_end;   // received -> finished
};
inline constexpr uint64_t kMetricsOffset = 512;
static_assert(std::is_standard_layout_v<SegmentMetrics>);
static_assert(std::is_trivially_copyable_v<SegmentMetrics>);
static_assert(sizeof(SegmentMetrics) == 1056);
static_assert(kMetricsOffset >= sizeof(SegmentHeader) &&
              kMetricsOffset + sizeof(SegmentMetrics) <= kHeaderBytes);

// The KV cache's blocks and the prefix cache's use (daemon/kv_block_pool.h), in the header page
// at kKvCacheOffset; written by the daemon once per loop iteration, zeros from a backend without
// a paged cache (echo).
struct alignas(kCacheLine) KvCacheMetrics {
  uint32_t block_positions;  // positions per block
  uint32_t blocks_total;
  uint32_t blocks_in_use;  // held by running sequences
  uint32_t blocks_cached;  // held by none, kept for their prefix; evicted when room is needed
  uint64_t prompt_tokens;  // of every request started
  uint64_t prompt_tokens_cached;  // of those, taken from the prefix cache
  uint64_t preemptions;  // sequences that gave their blocks up mid-decode (recomputed later)
  uint64_t reserved[3];
};
inline constexpr uint64_t kKvCacheOffset = 1600;
static_assert(std::is_standard_layout_v<KvCacheMetrics>);
static_assert(std::is_trivially_copyable_v<KvCacheMetrics>);
static_assert(sizeof(KvCacheMetrics) == 64);
static_assert(kKvCacheOffset >= kMetricsOffset + sizeof(SegmentMetrics) &&
              kKvCacheOffset % kCacheLine == 0);

// What the daemon serves, written once before kReady and read-only afterwards; in the header
// page at kModelInfoOffset. The text fields are UTF-8, NUL-padded, and never fill their array
// (the last byte is always NUL as the daemon writes them). A reader must still treat them as
// untrusted bytes -- anyone with access to the segment can rewrite them -- and read them only
// through shm/text_field.h, which bounds them to their array and sanitizes them.
inline constexpr uint32_t kModelNameBytes = 16;   // format, architecture, device
inline constexpr uint32_t kModelPathBytes = 512;  // the model's directory
struct alignas(kCacheLine) ModelInfo {
  // Line 0: sizes and short names.
  uint64_t weight_bytes;    // the weights as held in memory, in `format`; 0 without a model
  uint64_t kv_cache_bytes;  // the KV cache, preallocated at start-up; 0 without a model
  uint32_t context_length;  // positions per sequence, prompt and output; 0 = no model limit
  uint32_t reserved0[3];
  char format[kModelNameBytes];        // "float32", "bfloat16", "float16", "int8", "int4"; "none"
  char architecture[kModelNameBytes];  // config.json's model_type ("gpt2", "llama"); "none"
  // Line 1.
  char device[kModelNameBytes];  // "cpu", "cuda:0"; "none" without a model
  uint64_t reserved1[6];
  // Lines 2-9: the model directory as the daemon was given it, made absolute; "built-in" for
  // the model that ships with ringserve, "echo" for the echo backend. A longer path keeps its
  // end (the model's name) behind "...".
  char path[kModelPathBytes];
};
static_assert(std::is_standard_layout_v<ModelInfo>);
static_assert(std::is_trivially_copyable_v<ModelInfo>);
static_assert(sizeof(ModelInfo) == 640);
static_assert(offsetof(ModelInfo, context_length) == 16);
static_assert(offsetof(ModelInfo, format) == 32);
static_assert(offsetof(ModelInfo, architecture) == 48);
static_assert(offsetof(ModelInfo, device) == 64);
static_assert(offsetof(ModelInfo, path) == 128);
inline constexpr uint64_t kModelInfoOffset = 2048;
static_assert(kModelInfoOffset >= kKvCacheOffset + sizeof(KvCacheMetrics) &&
              kModelInfoOffset % kCacheLine == 0 &&
              kModelInfoOffset + sizeof(ModelInfo) <= kHeaderBytes);

// The bucket a latency falls in.
inline uint32_t histogram_bucket(uint64_t latency_ns) {
  const uint64_t us = latency_ns / 1000;
  if (us == 0) return 0;
  const uint32_t bit =
      64u - static_cast<uint32_t>(__builtin_clzll(us));  // us in [2^(bit-1), 2^bit)
  return bit < kHistogramBuckets ? bit : kHistogramBuckets - 1;
}

inline constexpr bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }
inline constexpr uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

inline constexpr bool shape_is_valid(const SegmentShape& s) {
  return s.slot_count >= 1 && s.slot_count <= kMaxSlots && s.prompt_capacity >= 1 &&
         s.prompt_capacity <= kMaxPromptCapacity && s.token_ring_capacity >= 4 &&
         s.token_ring_capacity <= kMaxTokenRingCapacity && is_power_of_two(s.token_ring_capacity);
}

// Pure function of the shape: daemon and client compute it independently, and a client
// accepts a segment only if the header's offsets equal its own computation.
inline constexpr SegmentGeometry segment_geometry(const SegmentShape& s) {
  SegmentGeometry g{};
  uint32_t ring = 8;
  while (ring < 2 * s.slot_count) ring *= 2;
  g.request_ring_capacity = ring;
  g.request_ring_offset = kHeaderBytes;
  g.slot_table_offset =
      align_up(g.request_ring_offset + sizeof(RequestRingHeader) + uint64_t{ring} * 8, kCacheLine);
  g.slot_stride =
      static_cast<uint32_t>(align_up(sizeof(SlotHeader) + s.prompt_capacity, kCacheLine));
  g.token_rings_offset = g.slot_table_offset + uint64_t{g.slot_stride} * s.slot_count;
  g.token_ring_stride = static_cast<uint32_t>(sizeof(TokenRingHeader) +
                                              uint64_t{s.token_ring_capacity} * sizeof(TokenEntry));
  g.segment_bytes =
      align_up(g.token_rings_offset + uint64_t{g.token_ring_stride} * s.slot_count, 4096);
  return g;
}

// Typed views into a mapped segment. `base` is the process's own mapping address.
inline SegmentHeader* header_at(void* base) { return static_cast<SegmentHeader*>(base); }

}  // namespace ringserve::shm
