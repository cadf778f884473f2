// Client: submitting requests.
//
// Submission: claim a FREE slot (shm::slot::claim: a CAS stamping our pid and a new
// generation), reset the slot's token ring, write the prompt and parameters (shm::slot::fill),
// store SUBMITTED (shm::slot::submit), push the slot index into the request ring, ring the
// doorbell. Every check that can fail comes before the claim, so a claimed slot is always
// submitted; a push that fails (only a scribbled ring is full) leaves the request SUBMITTED for
// the daemon's sweep to take from the slot table.
#include <unistd.h>

#include "client-lib/connection.h"
#include "shm/request_check.h"
#include "shm/request_ring.h"
#include "shm/slot.h"
#include "shm/token_ring.h"

namespace ringserve {
namespace {

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
  if (!check.ok()) return {error_code_from_request_error(check.error), check.message};
  return submit(area, static_cast<uint32_t>(prompt.size()), 0, params, out);
}

Status encode_chat_messages(const std::vector<ChatMessage>& messages, std::string* area) {
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
    shm::append_chat_message(area, r, messages[i].content);
  }
  return {};
}

Status Client::chat(const std::vector<ChatMessage>& messages, const GenerateParams& params,
                    std::unique_ptr<Stream>* out) {
  std::string area;
  if (Status s = encode_chat_messages(messages, &area); !s.ok()) return s;
  const auto body = static_cast<uint32_t>(area.size());
  shm::RequestCheck check = append_stops(params, &area);
  if (!check.ok()) return {error_code_from_request_error(check.error), check.message};
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
  if (!check.ok()) return {error_code_from_request_error(check.error), check.message};
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

  // The stream's reader, the one reader of this ring: reset here, read from in Stream::next.
  auto reader = std::make_unique<StreamReader>(StreamReader{
      shm::TokenRingReader(c.view.token_ring(slot), c.view.shape().token_ring_capacity), {}});
  reader->ring.reset();
  shm::SlotHeader* s = c.view.slot(slot);
  const uint64_t submit_ns =
      shm::slot::fill(s, c.view.prompt(slot), {c.own_start_time, wire, area, prompt_length});

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

}  // namespace ringserve
