// Connection: the client's view of one daemon (connection.h): is it alive, does its loop
// respond, and its doorbell.
#include "client-lib/connection.h"

#include <cstdio>

#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/futex.h"
#include "shm/process.h"

namespace ringserve {

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

}  // namespace ringserve
