// take_request, the daemon's validation path: every field a client controls is checked, and
// random bytes anywhere in a slot never make it read out of bounds or accept garbage.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>

#include "daemon/request_intake.h"
#include "daemon/token_output.h"
#include "shm/atomics.h"
#include "shm/segment.h"
#include "shm/slot.h"
#include "shm/token_ring.h"

namespace ringserve::daemon {
namespace {

class Intake : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "intake-test-" + std::to_string(::getpid());
    std::string message;
    ASSERT_EQ(shm::Segment::create(name_, {4, 64, 8}, {}, &segment_, &message),
              shm::SegmentError::kOk)
        << message;
    view_ = segment_->view();
  }

  // Fills slot 0 the way an honest client does, in state SUBMITTED.
  void submit(std::string_view prompt, uint32_t max_tokens = 10) {
    shm::SlotHeader* s = view_.slot(0);
    s->state_word = shm::make_state_word(1, shm::SlotState::kSubmitted, ::getpid());
    s->params = shm::GenerationParams{};
    s->params.max_tokens = max_tokens;
    s->params.temperature = 1;
    s->params.top_p = 1;
    s->params.repetition_penalty = 1;
    s->prompt_length = static_cast<uint32_t>(prompt.size());
    std::memcpy(view_.prompt(0), prompt.data(), prompt.size());
  }

  IntakeOutcome take(uint32_t index, std::unique_ptr<Sequence>* seq, shm::RequestCheck* check) {
    return take_request(view_, index, {100, 10}, 1000, seq, check);
  }

  std::string name_;
  std::unique_ptr<shm::Segment> segment_;
  shm::SegmentView view_;
};

TEST_F(Intake, AcceptsAValidRequestAndMovesItToQueued) {
  submit("hello");
  std::unique_ptr<Sequence> seq;
  shm::RequestCheck check;
  ASSERT_EQ(take(0, &seq, &check), IntakeOutcome::kAccepted) << check.message;
  EXPECT_EQ(seq->prompt, "hello");
  EXPECT_EQ(seq->params.max_tokens, 10u);
  EXPECT_EQ(shm::word_state(shm::load(view_.slot(0)->state_word)), shm::SlotState::kQueued);
}

// A client that has let go of its stream frees the slot the moment it sees FINISHED, and the
// slot's next owner resets the ring: so when FINISHED becomes visible, the final entry must
// already be published. A second thread plays that client, watching the state word and reading
// the ring's head the instant FINISHED appears; with FINISHED stored before the publish it sees
// an old head within a few hundred rounds.
TEST_F(Intake, FinishedBecomesVisibleOnlyAfterTheFinalEntryIsPublished) {
  constexpr int kRounds = 3000;
  constexpr uint32_t kEntries = 7;  // 6 tokens + the final entry, in a ring of 8
  std::atomic<int> go{-1};
  std::atomic<int> seen{-1};
  std::atomic<int> early{0};
  shm::SlotHeader* slot = view_.slot(0);
  shm::TokenRingHeader* ring = view_.token_ring(0);
  std::thread client([&] {
    for (int r = 0; r < kRounds; ++r) {
      while (go.load() < r) std::this_thread::yield();
      while (shm::word_state(shm::load(slot->state_word)) != shm::SlotState::kFinished) {
      }
      if (shm::load(ring->head) != kEntries) early.fetch_add(1);
      seen.store(r);
    }
  });
  for (int r = 0; r < kRounds; ++r) {
    submit("abcdef");
    shm::TokenRingReader(ring, view_.shape().token_ring_capacity).reset();
    std::unique_ptr<Sequence> seq;
    shm::RequestCheck check;
    ASSERT_EQ(take(0, &seq, &check), IntakeOutcome::kAccepted) << check.message;
    for (int t = 0; t < 6; ++t) {
      queue_token(*seq, 'a' + t, std::string(1, static_cast<char>('a' + t)));
    }
    queue_finish(*seq, shm::FinishReason::kLength, shm::RequestError::kNone);
    go.store(r);
    bool wake = false;
    // What Server::retire does after a flush that published the final entry.
    EXPECT_EQ(flush(view_, *seq, 1000, &wake), FlushResult::kFinal);
    EXPECT_TRUE(shm::slot::finish(slot, &seq->state_word));
    while (seen.load() != r) std::this_thread::yield();
  }
  client.join();
  EXPECT_EQ(early.load(), 0) << "FINISHED was visible before the final entry, in " << early
                             << " of " << kRounds << " rounds";
}

TEST_F(Intake, EmittedTokensGoStraightIntoTheRingAndQueueOnlyBehindABacklog) {
  submit("abc");
  shm::TokenRingHeader* ring = view_.token_ring(0);
  shm::TokenRingReader reader(ring, view_.shape().token_ring_capacity);  // 8 entries
  reader.reset();
  std::unique_ptr<Sequence> seq;
  shm::RequestCheck check;
  ASSERT_EQ(take(0, &seq, &check), IntakeOutcome::kAccepted) << check.message;
  emit_token(*seq, 'a', "a", 1000);
  emit_token(*seq, 'b', std::string(60, 'b'), 1000);  // two entries
  EXPECT_TRUE(seq->pending.empty()) << "written into the ring, not queued";
  EXPECT_EQ(reader.available(), 0u) << "visible only once flushed";
  bool wake = false;
  EXPECT_EQ(flush(view_, *seq, 2000, &wake), FlushResult::kOpen);
  ASSERT_EQ(reader.available(), 3u);
  shm::TokenEntry e{};
  reader.pop(&e);
  EXPECT_EQ(e.token_id, 'a');
  EXPECT_EQ(e.published_ns, 1000u);
  reader.pop(&e);
  EXPECT_EQ(e.flags, shm::kTokenContinued);
  reader.pop(&e);
  EXPECT_EQ(e.text_length, 12);
  // The reader has made all 8 entries free. Eight tokens fit; the ninth waits in the backlog,
  // and the tenth queues behind it even when the ring has room again: the order holds.
  for (int t = 0; t < 9; ++t) emit_token(*seq, 'c' + t, "c", 3000);
  EXPECT_EQ(seq->pending.size(), 1u);
  EXPECT_EQ(flush(view_, *seq, 4000, &wake), FlushResult::kBlocked);  // 8 published, 1 waits
  std::string order;
  const auto drain = [&] {
    while (reader.available() > 0) {
      reader.pop(&e);
      order += static_cast<char>(e.token_id);
    }
  };
  drain();
  emit_token(*seq, 'l', "l", 5000);  // the ring has room again, but 'k' is still queued
  EXPECT_EQ(seq->pending.size(), 2u);
  EXPECT_EQ(flush(view_, *seq, 6000, &wake), FlushResult::kOpen);
  drain();
  EXPECT_EQ(order, "cdefghijkl");
}

TEST_F(Intake, IgnoresIndicesOutOfRangeAndSlotsNotSubmitted) {
  std::unique_ptr<Sequence> seq;
  shm::RequestCheck check;
  EXPECT_EQ(take(4, &seq, &check), IntakeOutcome::kIgnored);
  EXPECT_EQ(take(0xFFFFFFFEu, &seq, &check), IntakeOutcome::kIgnored);
  EXPECT_EQ(take(1, &seq, &check), IntakeOutcome::kIgnored);  // FREE
  submit("x");
  view_.slot(0)->state_word = shm::make_state_word(1, shm::SlotState::kRunning, 1);
  EXPECT_EQ(take(0, &seq, &check), IntakeOutcome::kIgnored);
}

TEST_F(Intake, RejectsEachBadFieldWithItsOwnError) {
  std::unique_ptr<Sequence> seq;
  shm::RequestCheck check;
  submit("");
  EXPECT_EQ(take(0, &seq, &check), IntakeOutcome::kRejected);
  EXPECT_EQ(check.error, shm::RequestError::kEmptyPrompt);

  submit("ok");
  view_.slot(0)->prompt_length = 65;  // beyond the slot's 64 bytes
  EXPECT_EQ(take(0, &seq, &check), IntakeOutcome::kRejected);
  EXPECT_EQ(check.error, shm::RequestError::kPromptTooLong);

  submit("bad \xFF byte");
  EXPECT_EQ(take(0, &seq, &check), IntakeOutcome::kRejected);
  EXPECT_EQ(check.error, shm::RequestError::kInvalidUtf8);

  submit("ok", 101);
  EXPECT_EQ(take(0, &seq, &check), IntakeOutcome::kRejected);
  EXPECT_EQ(check.error, shm::RequestError::kInvalidParams);
  EXPECT_NE(check.message.find("max_tokens"), std::string::npos);

  submit("ok");
  view_.slot(0)->params.top_p = std::nanf("");
  EXPECT_EQ(take(0, &seq, &check), IntakeOutcome::kRejected);
  EXPECT_NE(check.message.find("top_p"), std::string::npos);

  submit("ok");
  shm::store(view_.token_ring(0)->tail, 1000u);  // ring counters a client scribbled on
  EXPECT_EQ(take(0, &seq, &check), IntakeOutcome::kRejected);
  EXPECT_EQ(check.error, shm::RequestError::kProtocolViolation);
}

TEST_F(Intake, RandomBytesInTheSlotNeverCrashOrPassUnchecked) {
  std::mt19937_64 rng(42);
  const size_t slot_bytes = sizeof(shm::SlotHeader) + 64;
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    auto* bytes = reinterpret_cast<unsigned char*>(view_.slot(0));
    for (size_t i = 0; i < slot_bytes; ++i) bytes[i] = static_cast<unsigned char>(rng());
    shm::TokenRingHeader* ring = view_.token_ring(0);
    ring->head = static_cast<uint32_t>(rng());
    ring->tail = static_cast<uint32_t>(rng());
    // Half the rounds get a plausible state, so validation past the state check is exercised.
    if (round % 2 == 0) {
      view_.slot(0)->state_word =
          shm::make_state_word(static_cast<uint32_t>(rng()), shm::SlotState::kSubmitted, 1);
    }
    std::unique_ptr<Sequence> seq;
    shm::RequestCheck check;
    const IntakeOutcome r = take(static_cast<uint32_t>(rng() % 8), &seq, &check);
    if (r == IntakeOutcome::kAccepted) {
      ++accepted;
      EXPECT_LE(seq->prompt.size(), 64u);
      EXPECT_TRUE(shm::check_params(seq->params, 100).ok());
    }
  }
  // Random bytes essentially never form a valid request.
  EXPECT_LT(accepted, 5);
}

// What each step touches per sequence shares the object's first two cache lines
// (sequence.h): with hundreds of sequences every further line is a cache miss per step.
TEST(SequenceLayout, WhatAStepTouchesIsInTheFirstTwoCacheLines) {
  const Sequence seq(0, shm::TokenRingWriter(nullptr, 8));
  const auto* base = reinterpret_cast<const char*>(&seq);
  const auto begin = [&](const auto& field) {
    return reinterpret_cast<const char*>(&field) - base;
  };
  const auto end = [&](const auto& field) { return begin(field) + sizeof(field); };
  EXPECT_EQ(alignof(Sequence), 64u);
  EXPECT_LE(end(seq.slot), 64);
  EXPECT_LE(end(seq.generated), 64);
  EXPECT_LE(end(seq.state_word), 64);
  EXPECT_LE(end(seq.received_ns), 64);
  EXPECT_LE(end(seq.admitted_ns), 64);
  EXPECT_LE(end(seq.last_token_ns), 64);
  EXPECT_LE(end(seq.queue_deadline_ns), 64);
  EXPECT_LE(end(seq.total_deadline_ns), 64);
  EXPECT_LE(end(seq.finishing), 64);
  EXPECT_GE(begin(seq.writer), 64);
  EXPECT_LE(end(seq.writer), 128);
  EXPECT_LE(end(seq.pending), 128);
}

}  // namespace
}  // namespace ringserve::daemon
