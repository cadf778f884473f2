// Client: connecting to a daemon's segment and submitting requests.
//
// Submission: claim a FREE slot (shm::slot::claim: a CAS stamping our pid and a new
// generation), write the prompt and parameters, reset the slot's token ring, store SUBMITTED
// (shm::slot::submit), push the slot index into the request ring, ring the doorbell. Every
// check that can fail comes before the claim, so a claimed slot is always submitted; a push
// that fails (only a scribbled ring is full) leaves the request SUBMITTED for the daemon's
// sweep to take from the slot table.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "client-lib/connection.h"
#include "shm/membarrier.h"
#include "shm/process.h"
#include "shm/request_check.h"
#include "shm/request_ring.h"
#include "shm/slot.h"
#include "shm/token_ring.h"

namespace ringserve {
namespace {

static_assert(static_cast<int>(FinishReason::kRejected) ==
              static_cast<int>(shm::FinishReason::kRejected));
static_assert(static_cast<int>(FinishReason::kStop) == static_cast<int>(shm::FinishReason::kStop));

Status from_segment_error(shm::SegmentError e, const std::string& name, const std::string& msg) {
  switch (e) {
    case shm::SegmentError::kOk:
      return {};
    case shm::SegmentError::kNotFound:
      return {ErrorCode::kDaemonNotRunning, "no daemon named '" + name + "' is running"};
    case shm::SegmentError::kNotReady:
      return {ErrorCode::kDaemonNotRunning, msg};
    case shm::SegmentError::kPermissionDenied:
      return {ErrorCode::kPermissionDenied,
              "the segment of daemon '" + name + "' exists but this user may not open it"};
    case shm::SegmentError::kUntrustedOwner:
      return {ErrorCode::kPermissionDenied, "refusing daemon '" + name + "': " + msg};
    case shm::SegmentError::kVersionMismatch:
      return {ErrorCode::kVersionMismatch, msg};
    case shm::SegmentError::kBadMagic:
    case shm::SegmentError::kBadGeometry:
      return {ErrorCode::kProtocolError, msg};
    case shm::SegmentError::kSystem:
      return {ErrorCode::kInternal, msg};
  }
  return {ErrorCode::kInternal, msg};
}

ErrorCode from_request_error(shm::RequestError e) {
  switch (e) {
    case shm::RequestError::kNone:
      return ErrorCode::kOk;
    case shm::RequestError::kQueueFull:
      return ErrorCode::kQueueFull;
    case shm::RequestError::kPromptTooLong:
      return ErrorCode::kPromptTooLong;
    case shm::RequestError::kInvalidParams:
      return ErrorCode::kInvalidParams;
    case shm::RequestError::kEmptyPrompt:
      return ErrorCode::kEmptyPrompt;
    case shm::RequestError::kInvalidUtf8:
      return ErrorCode::kInvalidUtf8;
    case shm::RequestError::kShuttingDown:
      return ErrorCode::kShuttingDown;
    case shm::RequestError::kProtocolViolation:
      return ErrorCode::kProtocolError;
    case shm::RequestError::kInternal:
      return ErrorCode::kInternal;
    case shm::RequestError::kClientStalled:
      // The request gave up its place because we did not read: a deadline of ours passed.
      return ErrorCode::kTimeout;
  }
  return ErrorCode::kInternal;
}

shm::GenerationParams to_wire(const GenerateParams& p) {
  shm::GenerationParams w{};
  w.max_tokens = p.max_tokens;
  w.temperature = p.temperature;
  w.top_p = p.top_p;
  w.min_p = p.min_p;
  w.repetition_penalty = p.repetition_penalty;
  w.top_k = p.top_k;
  w.seed = p.seed;
  w.priority = p.priority;
  w.queue_timeout_ms = p.queue_timeout_ms;
  w.total_timeout_ms = p.total_timeout_ms;
  w.stop_token_count = static_cast<uint32_t>(p.stop_token_ids.size());
  for (size_t i = 0; i < p.stop_token_ids.size() && i < shm::kMaxStopTokens; ++i) {
    w.stop_token_ids[i] = p.stop_token_ids[i];
  }
  return w;
}

}  // namespace

// Shared with stream.cc through connection.h's declaration.
ErrorCode error_code_from_request_error(shm::RequestError e) { return from_request_error(e); }

bool Connection::daemon_alive() const {
  return shm::process_is_alive(daemon_pid, daemon_start_time);
}

void Connection::ring_doorbell() const {
  shm::SegmentHeader* h = view.header();
  // Dekker pair with the daemon's sleep: our publish was a seq_cst CAS, this exchange is
  // seq_cst. Clearing the flag means that of many clients submitting while the daemon sleeps,
  // only the first makes the wake system call.
  if (shm::exchange(h->daemon_sleeping, 0u, std::memory_order_seq_cst) != 0) {
    shm::fetch_add(h->doorbell_seq, 1u, std::memory_order_seq_cst);
    shm::futex_wake(&h->doorbell_seq, 1);
  }
}

uint64_t Connection::heartbeat_age_ns() const {
  const uint64_t beat = shm::load(view.header()->heartbeat_ns, std::memory_order_relaxed);
  const uint64_t now = shm::monotonic_ns();
  return now > beat ? now - beat : 0;
}

Status Connection::check_responding() const {
  if (daemon_timeout_ns == 0) return {};
  const uint64_t age = heartbeat_age_ns();
  if (age <= daemon_timeout_ns) return {};
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f", static_cast<double>(age) / 1e9);
  return {ErrorCode::kDaemonNotResponding, "daemon '" + name + "' (pid " +
                                               std::to_string(daemon_pid) +
                                               ") has not responded for " + seconds + " s"};
}

Status daemon_gone_status(const Connection& c) {
  return {ErrorCode::kDaemonGone,
          "daemon '" + c.name + "' (pid " + std::to_string(c.daemon_pid) + ") is gone"};
}

Client::Client(std::shared_ptr<Connection> connection) : connection_(std::move(connection)) {}
Client::~Client() = default;

namespace {

// The uid trusted to own the daemon's segment besides our own and root's: the option, else
// $RINGSERVE_DAEMON_UID (a number or a user name), else none.
Status trusted_daemon_uid(const ConnectOptions& options, int64_t* uid) {
  *uid = shm::SegmentTrust::kNone;
  if (options.daemon_uid != ConnectOptions::kUnsetUid) {
    if (options.daemon_uid < 0 || options.daemon_uid > UINT32_MAX - 1) {
      return {ErrorCode::kInvalidArgument,
              "daemon_uid " + std::to_string(options.daemon_uid) + " is not a uid"};
    }
    *uid = options.daemon_uid;
    return {};
  }
  const char* env = std::getenv("RINGSERVE_DAEMON_UID");
  if (env == nullptr || *env == '\0') return {};
  char* end = nullptr;
  errno = 0;
  const unsigned long long number = std::strtoull(env, &end, 10);
  if (*end == '\0' && errno == 0 && env[0] >= '0' && env[0] <= '9' && number <= UINT32_MAX - 1) {
    *uid = static_cast<int64_t>(number);
    return {};
  }
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwnam_r(env, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    *uid = found->pw_uid;
    return {};
  }
  return {ErrorCode::kInvalidArgument,
          "RINGSERVE_DAEMON_UID='" + std::string(env) + "' is neither a uid nor a user name"};
}

}  // namespace

Status Client::connect(const std::string& name, std::unique_ptr<Client>* out,
                       const ConnectOptions& options) {
  if (!shm::daemon_name_is_valid(name)) {
    return {ErrorCode::kInvalidArgument,
            "daemon name '" + name + "' must be 1-64 characters of [A-Za-z0-9_.-]"};
  }
  if (options.daemon_timeout.count() < 0) {
    return {ErrorCode::kInvalidArgument, "daemon_timeout must not be negative"};
  }
  shm::SegmentTrust trust;
  if (Status s = trusted_daemon_uid(options, &trust.daemon_uid); !s.ok()) return s;
  // Lets streams hand ring room back with a compiler barrier instead of a full fence
  // (shm/membarrier.h); without it they use the full fence.
  shm::register_for_heavy_fence();
  auto c = std::make_shared<Connection>();
  c->name = name;
  std::string message;
  const uint64_t timeout_ns = static_cast<uint64_t>(options.ready_timeout.count()) * 1'000'000;
  const shm::SegmentError e = shm::Segment::open(name, timeout_ns, &c->segment, &message, trust);
  if (e != shm::SegmentError::kOk) return from_segment_error(e, name, message);
  c->view = c->segment->view();
  // One copy of everything used later (Connection's comment says why); the geometry is in
  // view, which Segment::open built from the header it checked.
  const shm::SegmentHeader* h = c->view.header();
  c->daemon_pid = shm::load(h->daemon_pid);
  c->daemon_start_time = shm::load(h->daemon_start_time);
  c->max_tokens_limit = shm::load(h->max_tokens_limit);
  c->max_priority = shm::load(h->max_priority);
  const uint32_t daemon_mode = shm::load(h->wait_mode);
  c->daemon_wait_mode = static_cast<shm::WaitMode>(daemon_mode <= 2 ? daemon_mode : 2);
  const uint32_t spin_ns = shm::load(h->spin_ns);
  c->daemon_timeout_ns = static_cast<uint64_t>(options.daemon_timeout.count()) * 1'000'000;
  if (!c->daemon_alive()) {
    return {ErrorCode::kDaemonNotRunning, "daemon '" + name + "' (pid " +
                                              std::to_string(c->daemon_pid) +
                                              ") has exited; its segment is stale"};
  }
  c->own_start_time = shm::process_start_time(::getpid());
  const std::string& mode = options.wait_mode;
  if (mode.empty()) {
    c->wait_policy.mode = c->daemon_wait_mode;
  } else if (mode == "spin") {
    c->wait_policy.mode = shm::WaitMode::kSpin;
  } else if (mode == "futex") {
    c->wait_policy.mode = shm::WaitMode::kFutex;
  } else if (mode == "hybrid") {
    c->wait_policy.mode = shm::WaitMode::kHybrid;
  } else {
    return {ErrorCode::kInvalidArgument,
            "wait_mode '" + mode + "' must be spin, futex, hybrid or empty"};
  }
  c->wait_policy.spin_ns = spin_ns;
  out->reset(new Client(std::move(c)));
  return {};
}

uint32_t Client::max_prompt_bytes() const { return connection_->view.shape().prompt_capacity; }
uint32_t Client::max_tokens_limit() const { return connection_->max_tokens_limit; }
uint32_t Client::max_priority() const { return connection_->max_priority; }

namespace {

// Appends the stop strings to a prompt area; checks them as the daemon will.
shm::RequestCheck append_stops(const GenerateParams& params, std::string* area) {
  if (params.stop.size() > shm::kMaxStopStrings) {
    return {shm::RequestError::kInvalidParams,
            "stop_strings may hold at most " + std::to_string(shm::kMaxStopStrings) + " strings"};
  }
  for (size_t i = 0; i < params.stop.size(); ++i) {
    shm::RequestCheck c = shm::check_stop_string(params.stop[i], i);
    if (!c.ok()) return c;
    shm::append_stop_string(area, params.stop[i]);
  }
  return {};
}

}  // namespace

Status Client::generate(std::string_view prompt, const GenerateParams& params,
                        std::unique_ptr<Stream>* out) {
  std::string area(prompt);
  shm::RequestCheck check = append_stops(params, &area);
  if (!check.ok()) return {from_request_error(check.error), check.message};
  return submit(area, static_cast<uint32_t>(prompt.size()), 0, params, out);
}

Status Client::chat(const std::vector<ChatMessage>& messages, const GenerateParams& params,
                    std::unique_ptr<Stream>* out) {
  std::string area;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    shm::ChatRole r;
    if (role == "system")
      r = shm::ChatRole::kSystem;
    else if (role == "user")
      r = shm::ChatRole::kUser;
    else if (role == "assistant")
      r = shm::ChatRole::kAssistant;
    else {
      return {ErrorCode::kInvalidParams, "messages[" + std::to_string(i) + "].role '" + role +
                                             "' is not system, user or assistant"};
    }
    shm::append_chat_message(&area, r, messages[i].content);
  }
  const auto body = static_cast<uint32_t>(area.size());
  shm::RequestCheck check = append_stops(params, &area);
  if (!check.ok()) return {from_request_error(check.error), check.message};
  return submit(area, body, shm::kRequestChat, params, out);
}

Status Client::submit(std::string_view area, uint32_t prompt_length, uint32_t flags,
                      const GenerateParams& params, std::unique_ptr<Stream>* out) {
  Connection& c = *connection_;
  const shm::SegmentHeader* h = c.view.header();
  if (params.stop_token_ids.size() > shm::kMaxStopTokens) {
    return {ErrorCode::kInvalidParams,
            "stop_token_ids may hold at most " + std::to_string(shm::kMaxStopTokens) + " ids"};
  }
  shm::GenerationParams wire = to_wire(params);
  wire.flags = flags;
  const uint32_t capacity = c.view.shape().prompt_capacity;
  shm::RequestPayload parsed;
  shm::RequestCheck check =
      area.size() > capacity
          ? shm::RequestCheck{shm::RequestError::kPromptTooLong,
                              "prompt is " + std::to_string(area.size()) +
                                  " bytes with its stop strings, the limit is " +
                                  std::to_string(capacity)}
          : shm::parse_request_payload(area, prompt_length,
                                       static_cast<uint32_t>(area.size()) - prompt_length, flags,
                                       &parsed);
  if (check.ok()) check = shm::check_params(wire, c.max_tokens_limit);
  if (!check.ok()) return {from_request_error(check.error), check.message};
  const int64_t max_priority = c.max_priority;
  if (params.priority < -max_priority || params.priority > max_priority) {
    // The daemon's words (daemon/request_intake.cc), found before a slot is taken.
    return {ErrorCode::kInvalidParams, "priority " + std::to_string(params.priority) +
                                           " is outside " + std::to_string(-max_priority) + ".." +
                                           std::to_string(max_priority) +
                                           " (the daemon's scheduler.max_priority)"};
  }
  if (shm::load(h->state) != static_cast<uint32_t>(shm::SegmentState::kReady)) {
    return {ErrorCode::kShuttingDown, "daemon '" + c.name + "' is shutting down"};
  }
  if (!c.daemon_alive()) return daemon_gone_status(c);
  // A request handed to a daemon that does not loop would only wait: say so now.
  if (Status s = c.check_responding(); !s.ok()) return s;

  // Claim a free slot, starting from a rotating hint so concurrent claimers spread out.
  const uint32_t slots = c.view.shape().slot_count;
  const uint32_t start = c.next_slot_hint.fetch_add(1, std::memory_order_relaxed);
  const int32_t pid = static_cast<int32_t>(::getpid());
  uint32_t slot = slots;
  uint64_t claimed = 0;
  for (uint32_t i = 0; i < slots && slot == slots; ++i) {
    const uint32_t index = (start + i) % slots;
    if (shm::slot::claim(c.view.slot(index), pid, &claimed)) slot = index;
  }
  if (slot == slots) {
    return {ErrorCode::kQueueFull, "all " + std::to_string(slots) + " request slots of daemon '" +
                                       c.name + "' are in use"};
  }

  shm::SlotHeader* s = c.view.slot(slot);
  s->owner_start_time = c.own_start_time;
  shm::store(s->cancel_requested, 0u);
  shm::store(s->client_released, 0u);
  s->request_id = 0;
  s->finish_reason = 0;
  s->error_code = 0;
  s->detail_length = 0;
  s->queue_position = 0;
  s->wait_estimate_ms = 0;
  s->tokens_generated = 0;
  s->received_ns = s->admitted_ns = s->first_token_ns = s->finished_ns = 0;
  s->params = wire;
  s->prompt_length = prompt_length;
  s->stop_strings_length = static_cast<uint32_t>(area.size()) - prompt_length;
  std::memcpy(c.view.prompt(slot), area.data(), area.size());
  // The stream's reader, the one reader of this ring: reset here, read from in Stream::next.
  auto reader = std::make_unique<StreamReader>(StreamReader{
      shm::TokenRingReader(c.view.token_ring(slot), c.view.shape().token_ring_capacity), {}});
  reader->ring.reset();
  const uint64_t submit_ns = shm::monotonic_ns();
  s->submit_ns = submit_ns;

  // Release: everything above is visible to whoever sees SUBMITTED.
  uint64_t submitted = 0;
  if (!shm::slot::submit(s, claimed, &submitted)) {
    return {ErrorCode::kProtocolError,
            "request slot " + std::to_string(slot) + " was taken from us while we filled it"};
  }
  shm::RequestRingProducer ring(c.view.request_ring(), c.view.geometry().request_ring_capacity);
  // The ring has room for twice the slots, so an honest ring is never full; a push fails only
  // when another client scribbled on it. The request is SUBMITTED in the slot table either
  // way, and the daemon's sweep takes it from there within a few hundred ms (PROTOCOL.md).
  ring.try_push(slot);
  c.ring_doorbell();
  const uint64_t deadline =
      params.total_timeout_ms == 0
          ? shm::kNoDeadline
          : shm::deadline_after(submit_ns,
                                uint64_t{params.total_timeout_ms} * 1'000'000 + kDeadlineGraceNs);
  out->reset(new Stream(connection_, slot, submitted, std::move(reader), deadline));
  return {};
}

namespace {

// One relaxed read of a histogram the daemon keeps writing: each bucket is exact, the set of
// them a moment's snapshot.
LatencyHistogram read_histogram(const shm::LatencyHistogram& h) {
  static_assert(LatencyHistogram::kBuckets == shm::kHistogramBuckets);
  LatencyHistogram out;
  for (uint32_t i = 0; i < shm::kHistogramBuckets; ++i) {
    out.counts[i] = shm::load(h.buckets[i], std::memory_order_relaxed);
  }
  out.sum_ns = shm::load(h.sum_ns, std::memory_order_relaxed);
  return out;
}

LatencySummary summarize(const LatencyHistogram& h) {
  LatencySummary s;
  s.count = h.count();
  if (s.count == 0) return s;
  auto percentile = [&](double q) {
    const auto rank = static_cast<uint64_t>(q * static_cast<double>(s.count - 1)) + 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
      seen += h.counts[i];
      if (seen >= rank) return static_cast<double>(uint64_t{1} << i) / 1000.0;  // edge, in ms
    }
    return static_cast<double>(uint64_t{1} << (LatencyHistogram::kBuckets - 1)) / 1000.0;
  };
  s.p50_ms = percentile(0.50);
  s.p90_ms = percentile(0.90);
  s.p99_ms = percentile(0.99);
  return s;
}

}  // namespace

Status Client::metrics(DaemonMetrics* out) const {
  const Connection& c = *connection_;
  if (!c.daemon_alive()) return daemon_gone_status(c);
  const shm::SegmentHeader* h = c.view.header();
  DaemonMetrics m;
  m.steps = shm::load(h->steps, std::memory_order_relaxed);
  m.backend_step_ns = shm::load(h->backend_step_ns, std::memory_order_relaxed);
  m.daemon_step_ns = shm::load(h->daemon_step_ns, std::memory_order_relaxed);
  m.wake_thread_ns = shm::load(h->wake_thread_ns, std::memory_order_relaxed);
  const shm::SegmentMetrics* segment = c.view.metrics();
  m.queue_wait = read_histogram(segment->queue_wait);
  m.time_to_first_token = read_histogram(segment->first_token);
  m.inter_token = read_histogram(segment->inter_token);
  m.end_to_end = read_histogram(segment->end_to_end);
  *out = m;
  return {};
}

Status Client::requests(std::vector<RequestSummary>* out) const {
  const Connection& c = *connection_;
  if (!c.daemon_alive()) return daemon_gone_status(c);
  out->clear();
  const uint64_t now = shm::monotonic_ns();
  for (uint32_t i = 0; i < c.view.shape().slot_count; ++i) {
    const shm::SlotHeader* slot = c.view.slot(i);
    const uint64_t word = shm::load(slot->state_word);
    const shm::SlotState state = shm::word_state(word);
    if (state != shm::SlotState::kQueued && state != shm::SlotState::kRunning) continue;
    RequestSummary r;
    r.request_id = shm::load(slot->request_id, std::memory_order_relaxed);
    r.slot = i;
    r.owner_pid = shm::word_pid(word);
    r.running = state == shm::SlotState::kRunning;
    r.queue_position = r.running ? 0 : shm::load(slot->queue_position, std::memory_order_relaxed);
    r.wait_estimate_ms =
        r.running ? 0 : shm::load(slot->wait_estimate_ms, std::memory_order_relaxed);
    r.tokens_generated = shm::load(slot->tokens_generated, std::memory_order_relaxed);
    const uint64_t received = shm::load(slot->received_ns, std::memory_order_relaxed);
    r.age_ns = received != 0 && now > received ? now - received : 0;
    out->push_back(r);
  }
  std::sort(out->begin(), out->end(), [](const RequestSummary& a, const RequestSummary& b) {
    if (a.running != b.running) return a.running;
    return a.running ? a.request_id < b.request_id : a.queue_position < b.queue_position;
  });
  return {};
}

Status Client::status(DaemonStatus* out) const {
  const Connection& c = *connection_;
  if (!c.daemon_alive()) return daemon_gone_status(c);
  const shm::SegmentHeader* h = c.view.header();
  DaemonStatus st;
  // What connect checked, not the live header: a rewritten slot_count must not make us read
  // past the slot table.
  st.pid = c.daemon_pid;
  st.layout_version = shm::kLayoutVersion;
  st.wait_mode = shm::wait_mode_name(c.daemon_wait_mode);
  st.slots = c.view.shape().slot_count;
  for (uint32_t i = 0; i < st.slots; ++i) {
    if (shm::word_state(shm::load(c.view.slot(i)->state_word)) != shm::SlotState::kFree) {
      ++st.slots_in_use;
    }
  }
  st.max_concurrent = h->max_concurrent;
  st.max_queue = h->max_queue;
  st.running = shm::load(h->stats.running);
  st.waiting = shm::load(h->stats.waiting);
  st.received = shm::load(h->stats.received);
  st.admitted = shm::load(h->stats.admitted);
  st.rejected = shm::load(h->stats.rejected);
  st.completed = shm::load(h->stats.completed);
  st.cancelled = shm::load(h->stats.cancelled);
  st.failed = shm::load(h->stats.failed);
  st.tokens_generated = shm::load(h->stats.tokens_generated);
  st.heartbeat_age_ns = c.heartbeat_age_ns();
  st.steps = shm::load(h->steps, std::memory_order_relaxed);
  if (st.steps != 0) {
    st.backend_ms_per_step =
        static_cast<double>(shm::load(h->backend_step_ns, std::memory_order_relaxed)) / 1e6 /
        static_cast<double>(st.steps);
    st.daemon_us_per_step =
        static_cast<double>(shm::load(h->daemon_step_ns, std::memory_order_relaxed)) / 1e3 /
        static_cast<double>(st.steps);
    st.wake_thread_us_per_step =
        static_cast<double>(shm::load(h->wake_thread_ns, std::memory_order_relaxed)) / 1e3 /
        static_cast<double>(st.steps);
  }
  const shm::SegmentMetrics* m = c.view.metrics();
  st.queue_wait = summarize(read_histogram(m->queue_wait));
  st.time_to_first_token = summarize(read_histogram(m->first_token));
  st.inter_token = summarize(read_histogram(m->inter_token));
  st.end_to_end = summarize(read_histogram(m->end_to_end));
  *out = st;
  return {};
}

}  // namespace ringserve
