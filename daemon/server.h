// Server: the daemon's one loop. It owns the segment, takes requests off the request ring,
// runs them through the scheduler and the backend one step at a time, writes their tokens
// into their token rings, and cleans up after clients that went away.
//
// One class, its jobs in one file each: the loop (server.cc), intake and admission
// (server_admission.cc), tokenize and detokenize requests (server_text_requests.cc), the step
// and its output (server_step.cc), every way a request ends (server_request_end.cc) and the
// slot sweep (server_slot_sweep.cc). Which running sequences step is the Scheduler's choice;
// counters, histograms and wait estimates are Metrics'.
//
// Thread-safety: run() is the only thread touching the segment on the daemon side;
// request_stop() is async-signal-safe and may be called from a signal handler.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "daemon/backend.h"
#include "daemon/client_watch.h"
#include "daemon/heartbeat.h"
#include "daemon/metrics.h"
#include "daemon/scheduler.h"
#include "shm/request_ring.h"
#include "shm/segment.h"
#include "shm/wait.h"

namespace ringserve::daemon {

class WakeNotifier;

class Server {
 public:
  Server(const config::Config& config, std::unique_ptr<Backend> backend);
  ~Server();

  // Creates and initializes the segment, then marks it ready. False with *error on failure.
  bool start(std::string* error);

  // Serves until request_stop(); then drains running requests (up to the drain timeout),
  // rejects waiting ones, and removes the segment.
  void run();

  void request_stop();

  // One iteration of run()'s loop; false once a stop has drained. For tests and the fuzzer,
  // which drive the loop themselves (with a Server that start()ed; run() is not called then):
  // with may_sleep false an iteration with nothing to do returns instead of waiting.
  bool run_once(bool may_sleep = true);

  // The daemon's bookkeeping agrees with itself: every sequence in the scheduler is held for
  // its slot, every held sequence with backend state is running, the backend's row count is
  // the number of such sequences, held_ counts by_slot_. Empty when it holds, else what broke.
  std::string check_invariants() const;

 private:
  // How retire() hands a request's slot back.
  enum class SlotHandback {
    kFinalPublished,     // its final entry is in the ring: FINISHED, freed if the client let go
    kWithoutFinalEntry,  // no entry can reach the client (its ring is corrupt, or it let go of
                         // a full ring): finish fields, FINISHED, freed if the client let go
    kReclaim,            // its owner is dead: FREE
    kLeave,              // the slot no longer holds our request: left untouched
  };

  // The loop (server.cc).
  void begin_shutdown(uint64_t now);
  // The drain ran out: every running request ends with `shutting down`, published if it can be.
  void end_undrained();
  void idle_wait(uint64_t now);

  // Intake and admission (server_admission.cc): requests off the ring into the scheduler's
  // waiting line, and from there into the running set and the backend.
  void intake(uint64_t now);
  void accept(uint32_t slot_index, uint64_t now);
  // A tokenize or detokenize request, answered here and now (server_text_requests.cc): its
  // entries and final entry queued, never a place in the scheduler or a model step.
  void answer_text_request(Sequence& seq, uint64_t now);
  void admit(uint64_t now);

  // The step (server_step.cc): one backend step for the sequences the scheduler picks, their
  // output into the rings.
  bool step();
  void flush_all(uint64_t now);

  // How a request ends (server_request_end.cc).
  // Ends the cancelled and the late among the running (`running`) or the waiting requests.
  void check_cancels_and_deadlines(uint64_t now, bool running);
  // A paused sequence (its output does not fit in its unread ring) that has been paused for
  // scheduler.pause_timeout_ms while still running gives up its place and its backend state.
  void end_if_stalled(Sequence& seq, uint64_t now);
  // Ends a request: gives up its running or waiting place and its backend state, and queues its
  // final entry (with `detail`, the words behind an error). Idempotent. The Sequence and its
  // slot stay ours until retire().
  void finish(Sequence& seq, shm::FinishReason reason, shm::RequestError error,
              std::string detail = {});
  // Every request's end goes through here, whatever ended it: finish() if it had not ended
  // (so nothing keeps a place or a KV row), the slot handed back as `handback` says, the
  // counters, the client watch, and the Sequence freed.
  void retire(Sequence& seq, SlotHandback handback,
              shm::FinishReason reason = shm::FinishReason::kCancelled,
              shm::RequestError error = shm::RequestError::kNone, std::string detail = {});

  // The slot sweep (server_slot_sweep.cc). Every 100 ms (and at once when a client dies):
  // reclaims the slots of dead clients, lets go of held requests whose slot was overwritten,
  // finishes slots the daemon lost, and takes requests that sit SUBMITTED in the slot table
  // without having come off the ring.
  void sweep_slots(uint64_t now);

  config::Config config_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<shm::Segment> segment_;
  std::unique_ptr<WakeNotifier> notifier_;  // after segment_: destroyed before it
  std::unique_ptr<Heartbeat> heartbeat_;    // likewise
  ClientWatch client_watch_;
  shm::SegmentView view_;
  std::unique_ptr<shm::RequestRingConsumer> requests_;
  Scheduler scheduler_;
  Metrics metrics_;
  shm::WaitPolicy wait_policy_;

  std::vector<std::unique_ptr<Sequence>> by_slot_;  // index = slot; null when not ours
  uint32_t held_ = 0;                               // non-null entries of by_slot_
  // Per slot: the SUBMITTED state word a sweep last found there without the request having
  // arrived, and since when (sweep_slots adopts it after kOrphanSubmitNs).
  std::vector<uint64_t> submitted_word_;
  std::vector<uint64_t> submitted_since_ns_;
  // Scratch vectors, kept so that the loop allocates nothing in the steady state.
  std::vector<Sequence*> blocked_;   // idle_wait(): sequences waiting for ring room
  std::vector<Sequence*> batch_;     // step(): the sequences stepped
  std::vector<StepOutput> outputs_;  // step(): what the backend made for each
  std::vector<Sequence*> to_check_;  // check_cancels_and_deadlines(): a copy of a line
  uint64_t next_request_id_ = 1;
  uint64_t next_reap_ns_ = 0;
  uint64_t next_death_check_ns_ = 0;  // ClientWatch::check() is due
  bool stopping_ = false;
  uint64_t drain_deadline_ns_ = 0;
  std::atomic<bool> stop_requested_{false};
};

}  // namespace ringserve::daemon
