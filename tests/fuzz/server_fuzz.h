// The whole daemon loop driven by arbitrary bytes: a real daemon::Server with the echo backend,
// in this process, stepped one iteration at a time (Server::run_once) while the input plays
// every client a process with access to the segment can be, honest or hostile. One function
// that both the libFuzzer target (server_fuzz_libfuzzer.cc, clang) and a plain randomized test
// (tests/server_fuzz_test.cc, any compiler, in the default ctest run) call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace ringserve::fuzz {

// Decodes `data` into client operations (the encoding is ServerInput's, below) run between
// iterations of one Server that lives for the whole process (4 slots of 256 prompt bytes,
// token rings of 8 entries, 2 running, 1 waiting). After every iteration it checks the
// daemon's bookkeeping (Server::check_invariants) and what honest clients read from rings no
// one scribbled on (a prefix of the echo of their prompt, no more tokens than asked, a final
// entry before FINISHED). At the end it recovers: the hostile writes stop, every request is
// cancelled and let go, and once the daemon holds nothing the slots left over are freed as
// their clients would, or (first input byte odd) handed to a dead pid; lost QUEUED/RUNNING
// slots and dead owners' slots are the daemon's sweep to free. Within 1 s the daemon must hold
// nothing: no sequence, no backend row, every slot FREE. A failed check prints what broke and
// aborts (libFuzzer keeps the input). Returns the number of honest streams read to their
// final entry. With RINGSERVE_SERVER_FUZZ_TRACE set it prints every op and the slots after it.
int run_server_input(const uint8_t* data, size_t size);

// What the inputs run so far in this process made happen: tests check that the harness
// reaches what it should (streams served to the end, recoveries that needed the daemon's
// sweep), and the fuzzer's user can see it.
struct ServerFuzzCounters {
  uint64_t inputs = 0;
  uint64_t iterations = 0;          // daemon loop iterations, recoveries included
  uint64_t honest_submissions = 0;  // pushed (or left for the sweep) by a client that reads
  uint64_t entries_read = 0;        // by honest clients
  uint64_t streams_completed = 0;   // honest streams read to their final entry
  uint64_t hostile_ops = 0;         // scribbles, forged words, dead owners, odd pushes
  uint64_t sweep_recoveries = 0;    // recoveries that had to wait for the daemon's sweep
  uint64_t slowest_recovery_ns = 0;
  uint64_t daemon_received = 0;  // the daemon's own counters (SegmentHeader::stats)
  uint64_t daemon_completed = 0;
  uint64_t daemon_cancelled = 0;
  uint64_t daemon_failed = 0;
  uint64_t daemon_rejected = 0;
};
ServerFuzzCounters server_fuzz_counters();

// Builds inputs for run_server_input: the seeds of the fuzzer's corpus and the unit test's
// hand-written scenarios. Every byte sequence is a valid input; this only spells the useful
// ones. Slots are chosen by the input: a submission takes the first FREE slot from its hint,
// so on a fresh input (every slot FREE) submit(k, ...) lands in slot k.
class ServerInput {
 public:
  enum Op : uint8_t {
    kSubmit = 0,
    kRead,
    kCancel,
    kRelease,
    kTick,
    kWrite,
    kNudge,
    kStateWord,
    kDeadOwner,
    kPush,
    kSleep,
    kOpCount,
  };
  // Submission flags.
  static constexpr uint8_t kOwnerDead = 1u << 0;   // claimed for the dead pid: died after submit
  static constexpr uint8_t kRawPrompt = 1u << 1;   // prompt bytes as given (maybe not UTF-8)
  static constexpr uint8_t kChat = 1u << 2;        // one chat message instead of a raw prompt
  static constexpr uint8_t kStopString = 1u << 3;  // a stop string after the prompt
  static constexpr uint8_t kStopToken = 1u << 4;   // a stop token id
  static constexpr uint8_t kTimeouts = 1u << 5;    // queue and total timeouts of 1..4 ms
  static constexpr uint8_t kNoPush = 1u << 6;      // SUBMITTED but never pushed (ring lost it)
  static constexpr uint8_t kClaimOnly = 1u << 7;   // CLAIMED and left so
  // In `extra` (bit 7): a tokenize request instead of a generation, or with kRawPrompt a
  // detokenize request whose ids are the raw bytes (the max_tokens byte's bit 0 asks for
  // add_special; kChat and kStopString make invalid combinations).
  static constexpr uint8_t kTextRequest = 1u << 7;
  // How a client lets go (kRelease).
  enum ReleaseMode : uint8_t {
    kCancelThenRelease = 0,  // what ~Stream does
    kReleaseOnly,            // release without cancelling
    kLetGoOfFullRing,        // wait until the ring is full, then set client_released only
  };
  // Where a hostile write lands (kWrite, kNudge).
  enum Region : uint8_t { kRequestRing = 0, kSlot, kTokenRing };
  // Whose pid a forged state word carries (kStateWord).
  enum Owner : uint8_t { kSelf = 0, kDead, kInit, kRawPid };

  // First byte: 0 = honest recovery (cancel and release what can be), 1 = the dead pid takes
  // over every slot that is not FREE at the end.
  explicit ServerInput(uint8_t recovery = 0) { bytes_.push_back(recovery); }

  // max_tokens 0 or above the limit (32) is an invalid request; priority is taken mod 23
  // minus 11 by the decoder, so 11 here means 0. `extra`: bits 0-2 pick the stop string's (and,
  // plus one, the stop token's) character, bits 3-4 the timeouts, bits 5-6 a chat role, bit 7
  // a tokenize or detokenize request (kTextRequest).
  ServerInput& submit(uint8_t slot_hint, std::string_view prompt, uint8_t max_tokens,
                      uint8_t flags = 0, uint8_t priority = 11, uint8_t extra = 0);
  ServerInput& read(uint8_t slot, uint8_t count = 0);  // 0: all there is
  ServerInput& cancel(uint8_t slot);
  ServerInput& release(uint8_t slot, ReleaseMode mode);
  ServerInput& tick(uint8_t iterations);  // 1..8 more loop iterations
  ServerInput& write(Region region, uint8_t index, uint16_t offset, std::string_view bytes);
  ServerInput& nudge(Region region, uint8_t index, uint16_t offset, int8_t delta, bool wide);
  ServerInput& state_word(uint8_t slot, uint8_t state, Owner owner, uint8_t generation_delta = 0);
  ServerInput& dead_owner(uint8_t slot, uint8_t variant);
  ServerInput& push(uint8_t value);  // see the decoder: slot index, garbage, or a hole
  ServerInput& sleep_ms(uint8_t ms);

  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

// A few inputs that reach deep: honest streams read to the end, backpressure, cancels,
// letting go of a full ring, a dead submitter, forged state words. The fuzzer's seeds.
std::vector<std::vector<uint8_t>> server_seed_inputs();

}  // namespace ringserve::fuzz
