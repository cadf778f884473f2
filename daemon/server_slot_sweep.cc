// Server, the slot sweep. The request ring only makes requests arrive fast; the slot table is
// the truth. Every 100 ms, and at once when a client dies, the sweep walks the table: it lets go
// of held requests whose slot someone overwrote, retires those whose client died, reclaims
// slots whose owner died before handing them on, finishes QUEUED or RUNNING slots the daemon
// holds no request for, and takes requests left SUBMITTED without coming off the ring.
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "daemon/server.h"
#include "daemon/token_output.h"
#include "shm/atomics.h"
#include "shm/process.h"
#include "shm/slot.h"

namespace ringserve::daemon {
namespace {

// The request ring is how a request arrives fast; the slot table is the truth. A request left
// SUBMITTED this long without arriving lost its ring position (a client scribbled on the ring,
// or its push failed) and is taken from the table.
constexpr uint64_t kOrphanSubmitNs = 200'000'000;

}  // namespace

void Server::sweep_slots(uint64_t now) {
  // Clients with requests here are known from their pidfds, without a system call; others (a
  // slot claimed but not yet submitted) take one /proc lookup per distinct (pid, start time).
  std::unordered_map<uint64_t, bool> alive_cache;
  auto alive = [&](int32_t pid, uint64_t start_time) {
    const ClientWatch::Liveness known = client_watch_.liveness({pid, start_time});
    if (known != ClientWatch::Liveness::kUnknown) return known == ClientWatch::Liveness::kAlive;
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(pid)) << 32) ^ start_time;
    auto it = alive_cache.find(key);
    if (it != alive_cache.end()) return it->second;
    const bool a = shm::process_is_alive(pid, start_time);
    alive_cache.emplace(key, a);
    return a;
  };
  for (uint32_t i = 0; i < by_slot_.size(); ++i) {
    shm::SlotHeader* slot = view_.slot(i);
    if (by_slot_[i] != nullptr) {
      Sequence& seq = *by_slot_[i];
      if (shm::load(slot->state_word) != seq.state_word) {
        // Only the daemon moves a slot it holds, so someone overwrote this one: its owner has
        // been told (or will find the slot taken) and will not read or free it; holding the
        // request would keep the slot from every later request.
        spdlog::warn("request {}: slot {} was overwritten while the daemon held it; letting go",
                     seq.request_id, i);
        retire(seq, SlotHandback::kLeave, shm::FinishReason::kError,
               shm::RequestError::kProtocolViolation);
        continue;
      }
      if (alive(seq.owner_pid, seq.owner_start_time)) continue;
      spdlog::info("request {}: client pid {} died; freeing slot {}", seq.request_id, seq.owner_pid,
                   i);
      retire(seq, SlotHandback::kReclaim);
      continue;
    }
    // Slots we do not hold: claimed, submitted or finished by a client that died before
    // handing them on (or states only a scribbling client produces). Reclaim when the owner
    // is gone; a SUBMITTED slot freed here and popped later reads as not SUBMITTED and is
    // ignored.
    uint64_t word = shm::load(slot->state_word);
    const shm::SlotState state = shm::word_state(word);
    if (state == shm::SlotState::kFree) continue;
    // A fresh claimer writes owner_start_time only after its claim CAS, so for CLAIMED the
    // field may still be the previous owner's: check the pid alone then.
    const uint64_t start_time =
        state == shm::SlotState::kClaimed ? 0 : shm::load(slot->owner_start_time);
    if (alive(shm::word_pid(word), start_time)) {
      if (state == shm::SlotState::kQueued || state == shm::SlotState::kRunning) {
        // Only the daemon makes these states, and it holds every request it made them for: a
        // slot in one without a request here was lost (its state word or ring overwritten).
        // Its owner lives and waits on it: it is told, and frees the slot as after any end.
        spdlog::warn("slot {} is {} but the daemon holds no request for it; finishing it", i,
                     state == shm::SlotState::kQueued ? "QUEUED" : "RUNNING");
        store_finish_fields(
            view_, i, shm::FinishReason::kError, shm::RequestError::kProtocolViolation,
            "the daemon lost this request: its slot or token ring was overwritten", now);
        if (shm::slot::finish(slot, &word)) shm::slot::free_if_released(slot, word);
        continue;
      }
      if (state != shm::SlotState::kSubmitted) continue;
      if (submitted_word_[i] != word) {
        submitted_word_[i] = word;
        submitted_since_ns_[i] = now;
      } else if (now - submitted_since_ns_[i] >= kOrphanSubmitNs) {
        spdlog::warn(
            "slot {} was submitted {} ms ago but never came off the request ring; "
            "taking it from the slot table",
            i, (now - submitted_since_ns_[i]) / 1'000'000);
        submitted_word_[i] = 0;
        accept(i, now);
      }
      continue;
    }
    shm::slot::reclaim(slot, word);
  }
}

}  // namespace ringserve::daemon
