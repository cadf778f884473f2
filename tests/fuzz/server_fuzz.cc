#include "tests/fuzz/server_fuzz.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "config/config.h"
#include "daemon/echo_backend.h"
#include "daemon/server.h"
#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/process.h"
#include "shm/request_check.h"
#include "shm/request_ring.h"
#include "shm/segment.h"
#include "shm/slot.h"
#include "shm/token_ring.h"

namespace ringserve::fuzz {
namespace {

// Small enough that a short input fills everything: 4 slots for 2 running and 1 waiting, so
// that the waiting line overflows (with 2 waiting, 4 slots could never fill it), and rings of
// 8 entries that a request of more tokens fills.
constexpr uint32_t kSlots = 4;
constexpr uint32_t kPromptBytes = 256;
constexpr uint32_t kRingEntries = 8;
constexpr uint32_t kMaxConcurrent = 2;
constexpr uint32_t kMaxQueue = 1;
constexpr uint32_t kMaxTokensLimit = 32;
constexpr uint32_t kMaxPriority = 10;
// Time-driven paths (a stalled reader giving up its place, a ring hole skipped) must be
// reachable within an input's few milliseconds.
constexpr uint32_t kPauseTimeoutMs = 2;
constexpr uint32_t kUnpublishedTimeoutMs = 1;

// Bounds per input, so that no input runs for long: loop iterations driven by the ops, and
// real time slept by them.
constexpr int kIterationBudget = 4000;
constexpr uint32_t kSleepBudgetMs = 5;
// Recovery waits for the daemon's sweep, which runs on a 100 ms timer or when the daemon learns
// of a client's death (it checks every 5 ms): a second is ten sweeps.
constexpr uint64_t kRecoveryNs = 1'000'000'000;

// Prompt characters of 1 to 4 bytes, so that echoed text is made of multi-byte tokens too.
constexpr std::array<std::string_view, 8> kAlphabet = {
    "a", "b", "c", "d", " ", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"};

// What the echo backend answers a detokenize request whose prompt area is `area`: the
// characters of its little-endian int32 ids, or "" when it refuses them (a length that is not
// a multiple of 4, or an id that is not a Unicode scalar value).
std::string echo_of_ids(std::string_view area) {
  if (area.empty() || area.size() % 4 != 0) return {};
  std::string text;
  for (size_t k = 0; k < area.size(); k += 4) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(area[k + i])} << (8 * i);
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return {};
    text += daemon::EchoBackend::encode_utf8(static_cast<int32_t>(v));
  }
  return text;
}

constexpr const char* kSegmentPrefix = "ringserve.srvfuzz-";

std::string daemon_name(pid_t pid) { return "srvfuzz-" + std::to_string(pid); }

// The input, read front to back; zeros once it runs out, so every byte sequence decodes.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return size_ == 0; }
  const uint8_t* position() const { return data_; }
  uint8_t u8() {
    if (size_ == 0) return 0;
    --size_;
    return *data_++;
  }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  uint32_t u32() { return u16() | (static_cast<uint32_t>(u16()) << 16); }
  std::string bytes(size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(u8()));
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

struct DeadProcess {
  int32_t pid = 0;
  uint64_t start_time = 0;
};

// A child that exits at once and is reaped: its pid names no process (until the kernel reuses
// it, which ensure_dead() checks before each input).
DeadProcess fork_and_reap() {
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("server_fuzz: fork");
    std::abort();
  }
  if (pid == 0) ::_exit(0);
  DeadProcess dead;
  dead.pid = pid;
  // Read while it is a zombie: its start time is what its slots would carry.
  for (int i = 0; i < 1000 && dead.start_time == 0; ++i)
    dead.start_time = shm::process_start_time(pid);
  ::waitpid(pid, nullptr, 0);
  return dead;
}

// Segments of earlier fuzzing processes that died without unlinking theirs (a crash, a
// timeout): /dev/shm would otherwise fill up over many runs.
void remove_stale_segments() {
  DIR* dir = ::opendir("/dev/shm");
  if (dir == nullptr) return;
  const size_t prefix = std::strlen(kSegmentPrefix);
  while (const dirent* e = ::readdir(dir)) {
    if (std::strncmp(e->d_name, kSegmentPrefix, prefix) != 0) continue;
    const pid_t pid = static_cast<pid_t>(std::atol(e->d_name + prefix));
    if (pid <= 0 || pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    shm::Segment::remove(daemon_name(pid));
  }
  ::closedir(dir);
}

// What one honest client knows of its request: the stream it reads and what it may expect.
struct Stream {
  uint64_t word = 0;  // the SUBMITTED state word
  shm::TokenRingReader reader;
  std::string echo;  // the text the echo backend repeats ("" when it must not produce any)
  uint32_t max_tokens = 0;
  std::string text;  // read so far
  uint32_t tokens = 0;
  // A tokenize or detokenize request: `echo` is its whole answer, once (not repeated), and a
  // detokenize answer has no token ids.
  bool answer_once = false;
  bool text_only = false;
};

ServerFuzzCounters counters;

class Harness {
 public:
  Harness() {
    remove_stale_segments();
    // Before the daemon starts its threads (the child only exits, but a fork copies less then).
    dead_ = fork_and_reap();
    own_pid_ = static_cast<int32_t>(::getpid());
    own_start_time_ = shm::process_start_time(::getpid());
    name_ = daemon_name(::getpid());

    config::Config config;
    config.daemon.name = name_;
    config.transport.slots = kSlots;
    config.transport.prompt_bytes = kPromptBytes;
    config.transport.token_ring_entries = kRingEntries;
    config.transport.unpublished_timeout_ms = kUnpublishedTimeoutMs;
    config.scheduler.max_concurrent = kMaxConcurrent;
    config.scheduler.max_queue = kMaxQueue;
    config.scheduler.max_tokens_limit = kMaxTokensLimit;
    config.scheduler.max_priority = kMaxPriority;
    config.scheduler.pause_timeout_ms = kPauseTimeoutMs;
    config.model.backend = config::Backend::kEcho;
    server_ = std::make_unique<daemon::Server>(
        config, std::make_unique<daemon::EchoBackend>(/*step_delay_us=*/0, kMaxConcurrent));
    std::string error;
    if (!server_->start(&error)) {
      std::fprintf(stderr, "server_fuzz: the daemon did not start: %s\n", error.c_str());
      std::abort();
    }
    // The clients' side goes through a mapping of its own, as a client process's would.
    std::string message;
    if (shm::Segment::open(name_, 1'000'000'000, &client_segment_, &message) !=
        shm::SegmentError::kOk) {
      std::fprintf(stderr, "server_fuzz: cannot open the segment: %s\n", message.c_str());
      std::abort();
    }
    view_ = client_segment_->view();
    trace_ = std::getenv("RINGSERVE_SERVER_FUZZ_TRACE") != nullptr;
  }

  int run(const uint8_t* data, size_t size) {
    ensure_dead();
    Reader in(data, size);
    ++counters.inputs;
    dead_recovery_ = (in.u8() & 1) != 0;
    iterations_left_ = kIterationBudget;
    slept_ms_ = 0;
    completed_ = 0;
    while (!in.empty() && iterations_left_ > 0) {
      run_op(in);
      iterate();
    }
    recover();
    return completed_;
  }

 private:
  // ---- the daemon ----

  // One loop iteration, then everything that must hold after any iteration.
  bool iterate() {
    if (iterations_left_ <= 0) return false;
    --iterations_left_;
    step();
    return true;
  }

  void step() {
    shm::RequestRingHeader* ring = view_.request_ring();
    const uint64_t head_before = shm::load(ring->head);
    ++counters.iterations;
    server_->run_once(/*may_sleep=*/false);
    // The daemon stores its private head into the shared one whenever it advances; a hostile
    // write there changes only what producers see. Tracking it lets recovery rebuild the ring
    // around the head the daemon really has.
    const uint64_t head_after = shm::load(ring->head);
    if (head_after != head_before) daemon_head_ = head_after;
    const std::string broken = server_->check_invariants();
    if (!broken.empty()) fail("after a loop iteration: " + broken);
    const shm::SegmentHeader* h = view_.header();
    if (shm::load(h->sequences_held) > kSlots) fail("the daemon holds more requests than slots");
    if (shm::load(h->backend_rows_in_use) > kMaxConcurrent) {
      fail("the backend has more rows in use than max_concurrent");
    }
  }

  [[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "server_fuzz: %s\n%s", what.c_str(), describe().c_str());
    // An abort runs no destructors: unlink the segment here (the driver stops anyway).
    shm::Segment::remove(name_);
    std::abort();
  }

  std::string describe() const {
    const shm::SegmentHeader* h = view_.header();
    char line[160];
    std::snprintf(line, sizeof line, "  daemon: %u sequences held, %u backend rows in use\n",
                  shm::load(h->sequences_held), shm::load(h->backend_rows_in_use));
    std::string out = line;
    for (uint32_t i = 0; i < kSlots; ++i) {
      const shm::SlotHeader* s = view_.slot(i);
      const uint64_t word = shm::load(s->state_word);
      const shm::TokenRingHeader* r = view_.token_ring(i);
      std::snprintf(line, sizeof line,
                    "  slot %u: generation %u state %u pid %d, released %u, cancel %u, ring "
                    "head %u tail %u%s\n",
                    i, shm::word_generation(word), shm::word_state_raw(word), shm::word_pid(word),
                    shm::load(s->client_released), shm::load(s->cancel_requested),
                    shm::load(r->head), shm::load(r->tail), taint_[i] ? " (scribbled)" : "");
      out += line;
    }
    return out;
  }

  // The dead pid must stay dead: over a long run the kernel may hand it to a new process.
  void ensure_dead() {
    if (::kill(dead_.pid, 0) != 0 && errno == ESRCH) return;
    dead_ = fork_and_reap();
  }

  // ---- the clients ----

  // With RINGSERVE_SERVER_FUZZ_TRACE set, every op is printed with its bytes and the slots'
  // state words after it: how a saved input that failed is read.
  void run_op(Reader& in) {
    const uint8_t* start = in.position();
    run_op_unlogged(in);
    if (!trace_) return;
    static constexpr const char* kNames[] = {"submit",     "read",  "cancel", "release",
                                             "tick",       "write", "nudge",  "state_word",
                                             "dead_owner", "push",  "sleep"};
    std::string line = kNames[*start % ServerInput::kOpCount];
    for (const uint8_t* p = start; p < in.position(); ++p) {
      char hex[4];
      std::snprintf(hex, sizeof hex, " %02x", *p);
      line += hex;
    }
    std::fprintf(stderr, "op %s\n%s", line.c_str(), describe().c_str());
  }

  void run_op_unlogged(Reader& in) {
    const uint8_t op = in.u8() % ServerInput::kOpCount;
    if (op >= ServerInput::kWrite && op <= ServerInput::kPush) ++counters.hostile_ops;
    switch (op) {
      case ServerInput::kSubmit:
        submit(in);
        break;
      case ServerInput::kRead: {
        const uint32_t slot = in.u8() % kSlots;
        read(slot, in.u8() % 9);
        break;
      }
      case ServerInput::kCancel: {
        const uint32_t slot = in.u8() % kSlots;
        if (streams_[slot]) {
          shm::store(view_.slot(slot)->cancel_requested, shm::cancel_token(streams_[slot]->word));
        }
        break;
      }
      case ServerInput::kRelease: {
        const uint32_t slot = in.u8() % kSlots;
        release(slot, in.u8() % 3);
        break;
      }
      case ServerInput::kTick:
        for (int n = 1 + in.u8() % 8; n > 0 && iterate(); --n) {
        }
        break;
      case ServerInput::kWrite:
        scribble(in);
        break;
      case ServerInput::kNudge:
        nudge(in);
        break;
      case ServerInput::kStateWord:
        forge_state_word(in);
        break;
      case ServerInput::kDeadOwner:
        dead_owner(in.u8() % kSlots, in.u8() % 4);
        break;
      case ServerInput::kPush:
        push(in);
        break;
      case ServerInput::kSleep: {
        const uint32_t ms = std::min<uint32_t>(1 + in.u8() % 4, kSleepBudgetMs - slept_ms_);
        slept_ms_ += ms;
        if (ms > 0) {
          const timespec ts{0, static_cast<long>(ms) * 1'000'000};
          ::nanosleep(&ts, nullptr);
        }
        break;
      }
    }
  }

  // An honest submission, as the client library makes it (client-lib/submit.cc: claim, reset
  // the ring, shm::slot::fill, submit, push), of a request the input describes: valid or not,
  // raw or chat, with stop conditions and timeouts.
  void submit(Reader& in) {
    const uint32_t hint = in.u8();
    const uint8_t flags = in.u8();
    const uint32_t max_tokens = in.u8() % (kMaxTokensLimit + 8);  // 0 and > limit: invalid
    const int32_t priority = static_cast<int32_t>(in.u8() % (2 * kMaxPriority + 3)) -
                             static_cast<int32_t>(kMaxPriority + 1);  // +-11: invalid
    const uint8_t extra = in.u8();
    const size_t length = in.u8() % 48;
    std::string prompt;
    for (size_t i = 0; i < length; ++i) {
      const uint8_t b = in.u8();
      if (flags & ServerInput::kRawPrompt) {
        prompt.push_back(static_cast<char>(b));
      } else {
        prompt.append(kAlphabet[b % kAlphabet.size()]);
      }
    }
    std::string area;
    if (flags & ServerInput::kChat) {
      shm::append_chat_message(&area, static_cast<shm::ChatRole>((extra >> 5) % 3), prompt);
    } else {
      area = prompt;
    }
    const auto prompt_length = static_cast<uint32_t>(area.size());
    if (flags & ServerInput::kStopString) {
      shm::append_stop_string(&area, kAlphabet[extra % kAlphabet.size()]);
    }
    shm::GenerationParams params{};
    params.max_tokens = max_tokens;
    params.temperature = 1.0f;
    params.top_p = 1.0f;
    params.repetition_penalty = 1.0f;
    params.priority = priority;
    if (flags & ServerInput::kStopToken) {
      // A code point of the alphabet: the echo of a prompt that holds it stops there.
      const std::string_view c = kAlphabet[(extra + 1) % kAlphabet.size()];
      const std::vector<int32_t> cp = daemon::EchoBackend::code_points(c);
      params.stop_token_count = 1;
      params.stop_token_ids[0] = cp.empty() ? 0 : cp[0];
    }
    if (flags & ServerInput::kTimeouts) {
      params.queue_timeout_ms = 1 + ((extra >> 3) & 3);
      params.total_timeout_ms = 2 + ((extra >> 3) & 3);
    }
    if (flags & ServerInput::kChat) params.flags = shm::kRequestChat;
    // A tokenize request, or with raw bytes a detokenize one (the bytes as int32 ids, rarely
    // all valid): answered at intake (daemon/server_text_requests.cc).
    const bool text_request = (extra & ServerInput::kTextRequest) != 0;
    const bool detokenize = text_request && (flags & ServerInput::kRawPrompt) != 0;
    if (text_request) {
      params.flags |= detokenize ? shm::kRequestDetokenize
                                 : shm::kRequestTokenize |
                                       ((max_tokens & 1) != 0 ? shm::kRequestAddSpecial : 0u);
    }

    const bool owner_dead = (flags & ServerInput::kOwnerDead) != 0;
    const int32_t pid = owner_dead ? dead_.pid : own_pid_;
    uint32_t index = kSlots;
    uint64_t claimed = 0;
    for (uint32_t i = 0; i < kSlots && index == kSlots; ++i) {
      if (shm::slot::claim(view_.slot((hint + i) % kSlots), pid, &claimed)) {
        index = (hint + i) % kSlots;
      }
    }
    if (index == kSlots) return;  // every slot in use: the client would get "queue full"
    streams_[index].reset();      // the slot was FREE: whatever we had there is over
    shm::TokenRingReader reader(view_.token_ring(index), kRingEntries);
    reader.reset();
    shm::SlotHeader* s = view_.slot(index);
    // The client library's own fill (area <= 5 + 188 + 5 bytes, inside kPromptBytes).
    shm::slot::fill(s, view_.prompt(index),
                    {owner_dead ? dead_.start_time : own_start_time_, params, area, prompt_length});
    if (flags & ServerInput::kClaimOnly) return;
    uint64_t submitted = 0;
    if (!shm::slot::submit(s, claimed, &submitted)) return;
    if (!(flags & ServerInput::kNoPush)) {
      shm::RequestRingProducer(view_.request_ring(), view_.geometry().request_ring_capacity)
          .try_push(index);
      ring_doorbell();
    }
    if (owner_dead) return;  // nobody reads it: its client "died" right after the push
    ++counters.honest_submissions;
    Stream stream{submitted, reader, {}, max_tokens, {}, 0};
    // What the echo backend makes of it: the prompt's characters over and over. A chat
    // request has no raw prompt for it, and an invalid request gets no tokens either way.
    if (!(flags & ServerInput::kChat)) stream.echo = prompt;
    if (text_request) {
      // The answer's text, once: a tokenize answer's pieces join to the prompt (the echo
      // backend's tokens are its characters); a detokenize answer is the ids' characters when
      // all are Unicode scalar values. Any other request is refused: no text at all.
      stream.answer_once = true;
      stream.text_only = detokenize;
      stream.max_tokens = UINT32_MAX;
      if (detokenize) {
        const bool refused = (flags & (ServerInput::kChat | ServerInput::kStopString)) != 0;
        stream.echo = refused ? "" : echo_of_ids(area);
      }
    }
    streams_[index] = std::move(stream);
  }

  void ring_doorbell() {
    shm::SegmentHeader* h = view_.header();
    if (shm::exchange(h->daemon_sleeping, 0u, std::memory_order_seq_cst) != 0) {
      shm::fetch_add(h->doorbell_seq, 1u, std::memory_order_seq_cst);
    }
  }

  // Reads up to `count` entries (0: as many as the ring can hold) of the honest request in
  // `slot`, checking them unless someone scribbled on that slot or its ring in this input.
  void read(uint32_t slot, uint32_t count) {
    if (!streams_[slot]) return;
    Stream& st = *streams_[slot];
    const bool check = !taint_[slot];
    const uint32_t n = count == 0 ? kRingEntries : count;
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t available = st.reader.available();
      if (available == 0) break;
      if (check && available > kRingEntries) fail("the daemon published past the client's tail");
      shm::TokenEntry e;
      st.reader.pop(&e);
      ++counters.entries_read;
      if (st.reader.daemon_wants_room()) {
        shm::fetch_add(view_.header()->doorbell_seq, 1u, std::memory_order_seq_cst);
      }
      if (check) check_entry(slot, st, e);
      if (e.flags & shm::kTokenFinal) {
        ++completed_;
        ++counters.streams_completed;
        end_stream(slot);
        return;
      }
    }
    if (st.reader.available() != 0) return;
    // Nothing more to read and no final entry: is the request still there? The same test as
    // the client library's (Stream::check_while_waiting): a slot that no longer carries our
    // generation, pid and a state of a live request was taken away, and is left alone.
    const uint64_t word = shm::load(view_.slot(slot)->state_word);
    const shm::SlotState state = shm::word_state(word);
    const bool ours = shm::word_generation(word) == shm::word_generation(st.word) &&
                      shm::word_pid(word) == own_pid_ &&
                      (state == shm::SlotState::kSubmitted || state == shm::SlotState::kQueued ||
                       state == shm::SlotState::kRunning || state == shm::SlotState::kFinished);
    if (ours && state != shm::SlotState::kFinished) return;  // still running or waiting
    // The daemon stores FINISHED only after publishing the final entry, except when it cannot
    // reach the client (its ring is corrupt, or it let go): neither happens to a client that
    // reads and whose slot and ring nobody touched.
    if (check) {
      fail("slot " + std::to_string(slot) +
           (ours ? " is FINISHED without a final entry" : " was taken from its honest owner"));
    }
    if (ours) {
      end_stream(slot);  // finished without a final entry: read the finish fields, release
    } else {
      streams_[slot].reset();
    }
  }

  void check_entry(uint32_t slot, Stream& st, const shm::TokenEntry& e) {
    const std::string where = "slot " + std::to_string(slot) + ": ";
    if (e.text_length > shm::kTokenTextCapacity) fail(where + "an entry's text_length is too long");
    if (e.flags & shm::kTokenFinal) {
      if (e.token_id != -1 || e.text_length != 0) fail(where + "a final entry carries a token");
      const shm::SlotHeader* s = view_.slot(slot);
      const uint32_t reason = shm::load(s->finish_reason);
      const uint32_t error = shm::load(s->error_code);
      if (reason == 0 || reason > static_cast<uint32_t>(shm::FinishReason::kRejected) ||
          error > static_cast<uint32_t>(shm::RequestError::kClientStalled)) {
        fail(where + "the final entry came with finish reason " + std::to_string(reason) +
             ", error " + std::to_string(error));
      }
      return;
    }
    if (e.token_id >= 0 && ++st.tokens > st.max_tokens) {
      fail(where + "more tokens than max_tokens " + std::to_string(st.max_tokens));
    }
    if (st.text_only && e.token_id != -1) fail(where + "a detokenize answer carries a token");
    for (uint16_t k = 0; k < e.text_length; ++k) {
      const size_t at = st.text.size();
      if (st.answer_once && at >= st.echo.size()) {
        fail(where + "the answer goes past its text at byte " + std::to_string(at));
      }
      if (st.echo.empty() || e.text[k] != st.echo[at % st.echo.size()]) {
        fail(where + "the stream is not the echo of its prompt at byte " + std::to_string(at));
      }
      st.text.push_back(e.text[k]);
    }
  }

  void end_stream(uint32_t slot) {
    shm::slot::release(view_.slot(slot), streams_[slot]->word);
    streams_[slot].reset();
  }

  void release(uint32_t slot, uint32_t mode) {
    if (!streams_[slot]) return;
    Stream& st = *streams_[slot];
    shm::SlotHeader* s = view_.slot(slot);
    switch (mode) {
      case ServerInput::kCancelThenRelease:
        shm::store(s->cancel_requested, shm::cancel_token(st.word));
        shm::slot::release(s, st.word);
        break;
      case ServerInput::kReleaseOnly:
        shm::slot::release(s, st.word);
        break;
      default:
        // The hostile variant (issue 18's crash): the ring is full, and the client lets go of
        // it without a cancel and without the release's CAS.
        for (int i = 0; i < 32 && st.reader.available() < kRingEntries && iterate(); ++i) {
        }
        shm::store(s->client_released, 1u, std::memory_order_seq_cst);
        break;
    }
    streams_[slot].reset();
  }

  // ---- hostile clients ----

  // A region a client can write: its address and size. Writes there taint the slot they
  // belong to (its honest stream is no longer checked).
  char* region(uint8_t selector, size_t* size) {
    const uint32_t index = (selector / 3) % kSlots;
    const shm::SegmentGeometry& g = view_.geometry();
    switch (selector % 3) {
      case ServerInput::kRequestRing:
        *size = sizeof(shm::RequestRingHeader) + size_t{g.request_ring_capacity} * 8;
        return reinterpret_cast<char*>(view_.request_ring());
      case ServerInput::kSlot:
        taint_[index] = true;
        *size = g.slot_stride;
        return reinterpret_cast<char*>(view_.slot(index));
      default:
        taint_[index] = true;
        *size = g.token_ring_stride;
        return reinterpret_cast<char*>(view_.token_ring(index));
    }
  }

  void scribble(Reader& in) {
    size_t size = 0;
    char* base = region(in.u8(), &size);
    const size_t offset = in.u16() % size;
    const size_t length = std::min<size_t>(1 + in.u8() % 16, size - offset);
    const std::string bytes = in.bytes(length);
    std::memcpy(base + offset, bytes.data(), length);
  }

  // Adds a small delta to an aligned 32- or 64-bit word: counters a little off (a tail one
  // past the head, a position one lap ahead) reach checks that random bytes rarely do.
  void nudge(Reader& in) {
    size_t size = 0;
    char* base = region(in.u8(), &size);
    const size_t offset = in.u16() % size;
    const auto delta = static_cast<int8_t>(in.u8());
    if (in.u8() & 1) {
      uint64_t& word = *reinterpret_cast<uint64_t*>(base + (offset & ~size_t{7}));
      shm::store(word, shm::load(word) + static_cast<uint64_t>(int64_t{delta}));
    } else {
      uint32_t& word = *reinterpret_cast<uint32_t*>(base + (offset & ~size_t{3}));
      shm::store(word, shm::load(word) + static_cast<uint32_t>(int32_t{delta}));
    }
  }

  int32_t pid_of(uint8_t owner, Reader& in) {
    switch (owner % 4) {
      case ServerInput::kSelf:
        return own_pid_;
      case ServerInput::kDead:
        return dead_.pid;
      case ServerInput::kInit:
        return 1;  // alive, not ours: only its start time tells it apart
      default:
        return static_cast<int32_t>(in.u32());
    }
  }

  // Any state word, stored over whatever the slot holds (no CAS): a client skipping the state
  // machine, or reviving a slot the daemon already handed back.
  void forge_state_word(Reader& in) {
    const uint32_t slot = in.u8() % kSlots;
    const uint8_t state_byte = in.u8();
    const uint32_t state = state_byte < 0xF0 ? state_byte % 6u : state_byte;  // some garbage
    const uint8_t generation_delta = in.u8();
    const int32_t pid = pid_of(in.u8(), in);
    taint_[slot] = true;
    uint64_t& word = view_.slot(slot)->state_word;
    const uint32_t generation = shm::word_generation(shm::load(word)) + generation_delta;
    shm::store(word, (uint64_t{generation & 0xFFFFFFu} << 40) | (uint64_t{state} << 32) |
                         static_cast<uint32_t>(pid));
  }

  // The slot looks owned by a process that is gone: the dead child's pid, its start time, or
  // the owner's pid with another start time (the pid was reused).
  void dead_owner(uint32_t slot, uint32_t variant) {
    taint_[slot] = true;
    shm::SlotHeader* s = view_.slot(slot);
    const uint64_t word = shm::load(s->state_word);
    switch (variant) {
      case 0:
        shm::store(s->state_word, shm::make_state_word(shm::word_generation(word),
                                                       shm::word_state(word), dead_.pid));
        break;
      case 1:
        shm::store(s->owner_start_time, dead_.start_time);
        shm::store(s->state_word, shm::make_state_word(shm::word_generation(word),
                                                       shm::word_state(word), dead_.pid));
        break;
      case 2:
        shm::store(s->owner_start_time, shm::load(s->owner_start_time) + 1);
        break;
      default:
        shm::store(s->owner_start_time, uint64_t{0});  // matches whoever has the pid
        break;
    }
  }

  // The request ring used through its protocol with values no honest client pushes: another
  // client's slot, an index out of range, the empty marker, or a claimed position never
  // published (a hole the daemon skips after unpublished_timeout_ms).
  void push(Reader& in) {
    shm::RequestRingProducer ring(view_.request_ring(), view_.geometry().request_ring_capacity);
    const uint8_t choice = in.u8() % 8;
    uint32_t value = choice;  // 0..3: a slot, 4: one past the last
    if (choice == 5) value = shm::kEmptyValue;
    if (choice == 6) value = in.u32();
    if (choice == 7) {
      uint64_t position = 0;
      ring.try_claim(&position);
      return;
    }
    ring.try_push(value);
    ring_doorbell();
  }

  // ---- recovery ----

  // Ends the input: the clients stop (no more scribbles), every request is cancelled and let
  // go; once the daemon holds nothing, what is left is freed as its client would (or handed to
  // the dead pid, recovery mode 1), and the daemon's sweep frees the rest. The daemon must
  // come to hold nothing. Then the segment is put back as an honest history would leave it, so
  // the next input starts from a clean state.
  void recover() {
    // The clients that still read let go as the client library's ~Stream does: cancel, then
    // release (which stores client_released whether or not the slot is still theirs).
    for (uint32_t i = 0; i < kSlots; ++i) {
      if (streams_[i]) release(i, ServerInput::kCancelThenRelease);
    }
    rebuild_request_ring();
    const uint64_t start = shm::monotonic_ns();
    const uint64_t deadline = start + kRecoveryNs;
    bool triggered = false;
    for (int round = 0;; ++round) {
      const shm::SegmentHeader* h = view_.header();
      const bool daemon_idle =
          shm::load(h->sequences_held) == 0 && shm::load(h->backend_rows_in_use) == 0;
      bool all_free = true;
      bool needs_sweep = false;
      for (uint32_t i = 0; i < kSlots; ++i) {
        shm::SlotHeader* s = view_.slot(i);
        const uint64_t word = shm::load(s->state_word);
        if (shm::word_state(word) == shm::SlotState::kFree) continue;
        all_free = false;
        // Whatever request the daemon holds for this slot ends at its next iteration: a
        // client that let go is treated like a cancel (and the cancel names the request,
        // when the state word is still its own).
        shm::store(s->cancel_requested, shm::cancel_token(word));
        shm::store(s->client_released, 1u, std::memory_order_seq_cst);
        // Until the daemon holds nothing, a slot may still be one of its requests: it
        // hands those back itself.
        if (!daemon_idle) continue;
        needs_sweep |= free_slot(s, word);
      }
      if (all_free && daemon_idle) break;
      if (needs_sweep && !triggered) {
        trigger_sweep();
        triggered = true;
        ++counters.sweep_recoveries;
      }
      step();
      if (shm::monotonic_ns() > deadline) {
        fail(std::string("recovery: the daemon did not give everything back within 1 s") +
             (triggered ? " (a dead client's request was submitted to run its sweep)" : ""));
      }
      // Waiting for the sweep: no need to spin a shared core for it.
      if (round > 32) {
        const timespec ts{0, 200'000};
        ::nanosleep(&ts, nullptr);
      }
    }
    counters.slowest_recovery_ns =
        std::max(counters.slowest_recovery_ns, shm::monotonic_ns() - start);
    const shm::SegmentHeader* h = view_.header();
    if (shm::load(h->stats.running) != 0 || shm::load(h->stats.waiting) != 0) {
      fail("recovery: the daemon counts requests running or waiting after all ended");
    }
    counters.daemon_received = shm::load(h->stats.received);
    counters.daemon_completed = shm::load(h->stats.completed);
    counters.daemon_cancelled = shm::load(h->stats.cancelled);
    counters.daemon_failed = shm::load(h->stats.failed);
    counters.daemon_rejected = shm::load(h->stats.rejected);
    scrub();
  }

  // A slot the daemon does not hold (it holds nothing now): freed as its client would, or
  // given to the dead pid for the sweep. True when only the sweep can free it.
  bool free_slot(shm::SlotHeader* s, uint64_t word) {
    const shm::SlotState state = shm::word_state(word);
    if (!dead_recovery_) {
      uint64_t expected = word;
      switch (state) {
        case shm::SlotState::kFinished:
          shm::slot::release(s, word);
          return false;
        case shm::SlotState::kQueued:
        case shm::SlotState::kRunning:
          // Only the daemon's sweep ends a request it lost (its owner lives).
          return true;
        default:
          // CLAIMED or SUBMITTED: a client giving up before (or instead of) the push. A state
          // no client makes: whoever wrote it sets it right (the daemon holds nothing now, so
          // that cannot take a request from it; recovery mode 1 tests the sweep on these).
          shm::compare_exchange(s->state_word, expected,
                                shm::with_state(word, shm::SlotState::kFree));
          return false;
      }
    }
    if (shm::word_pid(word) != dead_.pid) {
      uint64_t expected = word;
      const uint64_t dead_word = (word & ~uint64_t{0xFFFFFFFFu}) | static_cast<uint32_t>(dead_.pid);
      shm::compare_exchange(s->state_word, expected, dead_word);
    }
    return true;
  }

  // The sweep runs on a 100 ms timer, and at once when the daemon learns that a client with a
  // request died. A request submitted for the dead pid is such a client: its death is noticed
  // at the daemon's next death check (5 ms), and the sweep then frees every dead owner's slot
  // and ends every request the daemon lost.
  void trigger_sweep() {
    uint32_t index = 0;
    for (uint32_t i = 0; i < kSlots; ++i) {
      if (shm::word_state(shm::load(view_.slot(i)->state_word)) == shm::SlotState::kFree) {
        index = i;
        break;
      }
    }
    shm::SlotHeader* s = view_.slot(index);
    const uint64_t word = shm::load(s->state_word);
    s->owner_start_time = dead_.start_time;
    s->params = shm::GenerationParams{};
    s->params.max_tokens = 1;
    s->params.temperature = 1.0f;
    s->params.top_p = 1.0f;
    s->params.repetition_penalty = 1.0f;
    s->prompt_length = 1;
    s->stop_strings_length = 0;
    view_.prompt(index)[0] = 'x';
    shm::TokenRingReader(view_.token_ring(index), kRingEntries).reset();
    shm::store(s->client_released, 1u);
    shm::store(s->state_word, shm::make_state_word(shm::word_generation(word) + 1,
                                                   shm::SlotState::kSubmitted, dead_.pid));
    shm::RequestRingProducer(view_.request_ring(), view_.geometry().request_ring_capacity)
        .try_push(index);
  }

  // Cells and counters as a consumer at the daemon's head would have left them: every cell
  // empty for its next lap, tail = head. Should the tracked head be off, the daemon skips the
  // cells whose tag disagrees with its own head and stores the right one.
  void rebuild_request_ring() {
    shm::RequestRingHeader* ring = view_.request_ring();
    const uint32_t capacity = view_.geometry().request_ring_capacity;
    auto* cells = reinterpret_cast<uint64_t*>(ring + 1);
    for (uint64_t p = daemon_head_; p < daemon_head_ + capacity; ++p) {
      shm::store(cells[p & (capacity - 1)], shm::make_cell(p, shm::kEmptyValue));
    }
    shm::store(ring->head, daemon_head_);
    shm::store(ring->tail, daemon_head_);
  }

  // Every slot FREE and the daemon idle: clear what the input left in client-written fields
  // (flags, prompts, rings) so that the next input's forged requests start from zeros. The
  // state words keep their generations.
  void scrub() {
    rebuild_request_ring();
    for (uint32_t i = 0; i < kSlots; ++i) {
      shm::SlotHeader* s = view_.slot(i);
      std::memset(reinterpret_cast<char*>(s) + sizeof(uint64_t), 0,
                  view_.geometry().slot_stride - sizeof(uint64_t));
      std::memset(view_.token_ring(i), 0, view_.geometry().token_ring_stride);
      taint_[i] = false;
    }
    step();  // the daemon sees the clean state once (and must still be fine)
  }

  DeadProcess dead_;
  int32_t own_pid_ = 0;
  uint64_t own_start_time_ = 0;
  std::string name_;
  std::unique_ptr<daemon::Server> server_;
  std::unique_ptr<shm::Segment> client_segment_;
  shm::SegmentView view_;
  uint64_t daemon_head_ = 0;
  std::array<std::optional<Stream>, kSlots> streams_;
  std::array<bool, kSlots> taint_{};
  bool dead_recovery_ = false;
  bool trace_ = false;
  int iterations_left_ = 0;
  uint32_t slept_ms_ = 0;
  int completed_ = 0;
};

}  // namespace

int run_server_input(const uint8_t* data, size_t size) {
  // The daemon logs every request; thousands per second would only slow the fuzzer down.
  const spdlog::level::level_enum level = spdlog::get_level();
  spdlog::set_level(spdlog::level::off);
  // One daemon for the whole process: created on first use, unlinked at exit.
  static Harness harness;
  const int completed = harness.run(data, size);
  spdlog::set_level(level);
  return completed;
}

ServerFuzzCounters server_fuzz_counters() { return counters; }

// ---- ServerInput ----

ServerInput& ServerInput::submit(uint8_t slot_hint, std::string_view prompt, uint8_t max_tokens,
                                 uint8_t flags, uint8_t priority, uint8_t extra) {
  // The prompt is given as text of the alphabet's characters (or raw bytes with kRawPrompt);
  // each character becomes the byte that selects it.
  std::vector<uint8_t> chars;
  if (flags & kRawPrompt) {
    chars.assign(prompt.begin(), prompt.end());
  } else {
    while (!prompt.empty()) {
      uint8_t k = 0;
      while (k < kAlphabet.size() && !prompt.starts_with(kAlphabet[k])) ++k;
      if (k == kAlphabet.size()) k = 0;  // not in the alphabet: 'a'
      chars.push_back(k);
      prompt.remove_prefix(std::min(prompt.size(), kAlphabet[k].size()));
    }
  }
  bytes_.insert(bytes_.end(), {kSubmit, slot_hint, flags, max_tokens, priority, extra,
                               static_cast<uint8_t>(std::min<size_t>(chars.size(), 47))});
  bytes_.insert(bytes_.end(), chars.begin(), chars.begin() + std::min<size_t>(chars.size(), 47));
  return *this;
}

ServerInput& ServerInput::read(uint8_t slot, uint8_t count) {
  bytes_.insert(bytes_.end(), {kRead, slot, count});
  return *this;
}

ServerInput& ServerInput::cancel(uint8_t slot) {
  bytes_.insert(bytes_.end(), {kCancel, slot});
  return *this;
}

ServerInput& ServerInput::release(uint8_t slot, ReleaseMode mode) {
  bytes_.insert(bytes_.end(), {kRelease, slot, mode});
  return *this;
}

ServerInput& ServerInput::tick(uint8_t iterations) {
  bytes_.insert(bytes_.end(), {kTick, static_cast<uint8_t>(iterations - 1)});
  return *this;
}

ServerInput& ServerInput::write(Region region, uint8_t index, uint16_t offset,
                                std::string_view bytes) {
  const size_t n = std::clamp<size_t>(bytes.size(), 1, 16);
  bytes_.insert(bytes_.end(),
                {kWrite, static_cast<uint8_t>(index * 3 + region), static_cast<uint8_t>(offset),
                 static_cast<uint8_t>(offset >> 8), static_cast<uint8_t>(n - 1)});
  for (size_t i = 0; i < n; ++i) bytes_.push_back(i < bytes.size() ? bytes[i] : 0);
  return *this;
}

ServerInput& ServerInput::nudge(Region region, uint8_t index, uint16_t offset, int8_t delta,
                                bool wide) {
  bytes_.insert(bytes_.end(), {kNudge, static_cast<uint8_t>(index * 3 + region),
                               static_cast<uint8_t>(offset), static_cast<uint8_t>(offset >> 8),
                               static_cast<uint8_t>(delta), static_cast<uint8_t>(wide ? 1 : 0)});
  return *this;
}

ServerInput& ServerInput::state_word(uint8_t slot, uint8_t state, Owner owner,
                                     uint8_t generation_delta) {
  bytes_.insert(bytes_.end(), {kStateWord, slot, state, generation_delta, owner});
  if (owner == kRawPid) bytes_.insert(bytes_.end(), {0, 0, 0, 0});
  return *this;
}

ServerInput& ServerInput::dead_owner(uint8_t slot, uint8_t variant) {
  bytes_.insert(bytes_.end(), {kDeadOwner, slot, variant});
  return *this;
}

ServerInput& ServerInput::push(uint8_t value) {
  bytes_.insert(bytes_.end(), {kPush, value});
  if (value % 8 == 6) bytes_.insert(bytes_.end(), {0xFF, 0xFF, 0xFF, 0x7F});
  return *this;
}

ServerInput& ServerInput::sleep_ms(uint8_t ms) {
  bytes_.insert(bytes_.end(), {kSleep, static_cast<uint8_t>(ms - 1)});
  return *this;
}

std::vector<std::vector<uint8_t>> server_seed_inputs() {
  using In = ServerInput;
  std::vector<std::vector<uint8_t>> seeds;
  // Two honest streams read to their end.
  seeds.push_back(In().submit(0, "hello", 5)
                      .submit(1, "caf\xC3\xA9 \xE2\x82\xAC", 12)
                      .tick(8)
                      .read(0)
                      .read(1)
                      .tick(8)
                      .read(1)
                      .read(0)
                      .bytes());
  // Tokenize (an answer longer than the ring) and detokenize (ids 'a' and U+1F600), answered
  // while the scheduler is full.
  seeds.push_back(In().submit(0, "abcd", 30)
                      .submit(1, "abcd", 30)
                      .submit(2, "abcd", 30)
                      .submit(3, "caf\xC3\xA9 \xF0\x9F\x98\x80 abcd", 5, 0, 11, In::kTextRequest)
                      .tick(1)
                      .read(3)
                      .tick(1)
                      .read(3)
                      .submit(3, std::string("a\0\0\0\x00\xF6\x01\0", 8), 5, In::kRawPrompt, 11,
                              In::kTextRequest)
                      .tick(2)
                      .read(3)
                      .bytes());
  // Backpressure and a stalled reader: a full ring, a pause longer than pause_timeout_ms.
  seeds.push_back(In().submit(0, "abcd", 30)
                      .tick(8)
                      .tick(8)
                      .sleep_ms(3)
                      .tick(4)
                      .read(0)
                      .read(0)
                      .read(0)
                      .read(0)
                      .read(0)
                      .bytes());
  // A full waiting line, a cancel, a timeout, invalid requests.
  seeds.push_back(In().submit(0, "a", 20)
                      .submit(1, "b", 20)
                      .submit(2, "c", 3, In::kTimeouts)
                      .submit(3, "d", 3)
                      .cancel(0)
                      .tick(4)
                      .submit(0, "", 3)
                      .submit(0, "x", 0)
                      .read(0)
                      .read(1)
                      .read(2)
                      .read(3)
                      .bytes());
  // Letting go of a full ring without a cancel; releasing early.
  seeds.push_back(In().submit(0, "abc", 30)
                      .release(0, In::kLetGoOfFullRing)
                      .submit(1, "d", 30)
                      .tick(2)
                      .release(1, In::kReleaseOnly)
                      .tick(4)
                      .bytes());
  // A client that dies after submitting; a forged SUBMITTED slot of the dead pid; a slot left
  // CLAIMED; a request whose owner's start time no longer matches.
  seeds.push_back(In(1)
                      .submit(0, "abc", 10, In::kOwnerDead)
                      .submit(1, "abc", 10, In::kClaimOnly)
                      .state_word(2, 2, In::kDead, 1)
                      .push(2)
                      .submit(3, "abc", 10)
                      .dead_owner(3, 2)
                      .tick(8)
                      .bytes());
  // Scribbles: a token ring tail one lap off while its ring is full, a request ring hole, a
  // state word overwritten while running.
  seeds.push_back(In().submit(0, "abc", 30)
                      .submit(1, "abc", 30)
                      .tick(8)
                      .nudge(In::kTokenRing, 0, 64, -16, false)
                      .push(7)
                      .state_word(1, 3, In::kSelf)
                      .tick(8)
                      .sleep_ms(2)
                      .tick(4)
                      .read(1)
                      .bytes());
  // Chat and stop conditions.
  seeds.push_back(In().submit(0, "abcabc", 10, In::kStopString, 11, 2)
                      .submit(1, "abcd", 10, In::kStopToken, 11, 2)
                      .submit(2, "hi", 4, In::kChat)
                      .tick(8)
                      .read(0)
                      .read(1)
                      .read(2)
                      .bytes());
  return seeds;
}

}  // namespace ringserve::fuzz
