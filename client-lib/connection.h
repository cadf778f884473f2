// Connection: the client's mapping of one daemon's segment plus what it needs to talk to it.
// Internal to client-lib; shared (shared_ptr) by the Client and every Stream it made.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "ringserve/client.h"
#include "shm/segment.h"
#include "shm/wait.h"

namespace ringserve {

class Connection {
 public:
  std::string name;
  std::unique_ptr<shm::Segment> segment;
  shm::SegmentView view;
  shm::WaitPolicy wait_policy;
  pid_t daemon_pid = 0;
  uint64_t daemon_start_time = 0;
  uint64_t own_start_time = 0;
  std::atomic<uint32_t> next_slot_hint{0};

  // False once the daemon that created the segment has exited (or its pid was reused).
  bool daemon_alive() const;

  // Rings the daemon's doorbell after a publish, with a system call only if it sleeps.
  void ring_doorbell() const;
};

// How often a blocked client checks that the daemon still lives.
inline constexpr uint64_t kLivenessCheckIntervalNs = 100'000'000;

Status daemon_gone_status(const Connection& c);
ErrorCode error_code_from_request_error(shm::RequestError e);

}  // namespace ringserve
