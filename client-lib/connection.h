// Connection: the client's mapping of one daemon's segment plus what it needs to talk to it.
// Internal to client-lib; shared (shared_ptr) by the Client and every Stream it made.
//
// Trust: everything the client needs to address memory or check a request (the geometry in
// `view`, the limits, the daemon's identity and wait mode) is copied here once, at connect,
// after Segment::open checked it. The live header is read afterwards only for numbers that
// are reported (counters, the heartbeat) or protocol words (state, doorbell): a process that
// rewrites the header later cannot make the client index memory with its values.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ringserve/client.h"
#include "shm/segment.h"
#include "shm/token_ring.h"
#include "shm/wait.h"

namespace ringserve {

class Connection {
 public:
  std::string name;
  std::unique_ptr<shm::Segment> segment;
  shm::SegmentView view;  // the geometry checked at connect
  shm::WaitPolicy wait_policy;
  shm::WaitMode daemon_wait_mode = shm::WaitMode::kHybrid;
  pid_t daemon_pid = 0;
  uint64_t daemon_start_time = 0;
  uint32_t max_tokens_limit = 0;
  uint32_t max_priority = 0;
  uint64_t daemon_timeout_ns = 0;  // 0: never report the daemon as not responding
  uint64_t own_start_time = 0;
  std::atomic<uint32_t> next_slot_hint{0};

  // False once the daemon that created the segment has exited (or its pid was reused).
  bool daemon_alive() const;

  // How long ago the daemon last refreshed its heartbeat (0 if the stamp is in the future).
  uint64_t heartbeat_age_ns() const;

  // OK, or kDaemonNotResponding when the heartbeat is older than daemon_timeout: the daemon's
  // process lives but its loop does not (stopped, or hung).
  Status check_responding() const;

  // Rings the daemon's doorbell after a publish, with a system call only if it sleeps.
  void ring_doorbell() const;
};

// How often a blocked client checks that the daemon still lives and still responds, and that
// its request still holds its slot.
inline constexpr uint64_t kLivenessCheckIntervalNs = 100'000'000;

// How long past a request's total_timeout_ms a stream waits before ending it itself: the
// daemon's own timeout, which reports what it generated, normally comes first.
inline constexpr uint64_t kDeadlineGraceNs = 50'000'000;

// A Stream's private state: the request's token ring reader (made and reset when the slot was
// claimed; the one reader of that ring) and the text of a token whose entries are not all
// published yet.
struct StreamReader {
  shm::TokenRingReader ring;
  std::string partial;
  // When next() looks at the daemon and the slot again (check_while_waiting): after every wait
  // slice, but a caller that polls (timeout 0) pays for it at most once per slice, not a /proc
  // read per poll.
  uint64_t next_check_ns = 0;
};

// No honest token's text comes near this (a token is a few bytes, held-back stop-string text
// at most 64); a ring whose entries keep saying "continued" is scribbled on.
inline constexpr size_t kMaxTokenTextBytes = 1 << 16;

// kDaemonGone, naming the daemon (connection.cc).
Status daemon_gone_status(const Connection& c);
// The client's code for a request error the daemon or a request check reported (status.cc).
ErrorCode error_code_from_request_error(shm::RequestError e);
// Chat messages in the prompt area's encoding (shm/request_check.h), appended to *area;
// kInvalidParams for an unknown role (submit.cc).
Status encode_chat_messages(const std::vector<ChatMessage>& messages, std::string* area);

}  // namespace ringserve
