// Pins the shared-memory contract: the layout version, the geometry function and the slot
// state word. Changing a struct in shm/layout.h changes a static_assert or a value here; the
// fix is to bump kLayoutVersion and update docs/PROTOCOL.md, then this test.
#include <gtest/gtest.h>

#include "shm/layout.h"
#include "shm/request_check.h"

namespace ringserve::shm {
namespace {

TEST(Layout, VersionIsPinned) {
  EXPECT_EQ(kLayoutVersion, 4u) << "layout changed: bump the version and update PROTOCOL.md";
  EXPECT_EQ(kMagic, 0x3156524553474E52ULL);
  EXPECT_EQ(sizeof(SegmentHeader), 320u);
  EXPECT_EQ(sizeof(SlotHeader), 256u);
  EXPECT_EQ(sizeof(TokenEntry), 64u);
  EXPECT_EQ(sizeof(GenerationParams), 88u);
}

TEST(Layout, GeometryOfTheDefaultShape) {
  const SegmentGeometry g = segment_geometry({64, 16384, 256});
  EXPECT_EQ(g.request_ring_capacity, 128u);
  EXPECT_EQ(g.request_ring_offset, 4096u);
  EXPECT_EQ(g.slot_table_offset, 4096u + 128 + 128 * 8);
  EXPECT_EQ(g.slot_stride, 256u + 16384);
  EXPECT_EQ(g.token_rings_offset, g.slot_table_offset + 64ull * (256 + 16384));
  EXPECT_EQ(g.token_ring_stride, 128u + 256 * 64);
  EXPECT_EQ(g.segment_bytes % 4096, 0u);
  EXPECT_GE(g.segment_bytes, g.token_rings_offset + 64ull * g.token_ring_stride);
  EXPECT_EQ(g.slot_table_offset % kCacheLine, 0u);
  EXPECT_EQ(g.token_rings_offset % kCacheLine, 0u);
}

TEST(Layout, ShapeLimits) {
  EXPECT_TRUE(shape_is_valid({1, 1, 4}));
  EXPECT_FALSE(shape_is_valid({0, 1, 4}));
  EXPECT_FALSE(shape_is_valid({1, 1, 6}));  // not a power of two
  EXPECT_FALSE(shape_is_valid({kMaxSlots + 1, 1, 4}));
  EXPECT_FALSE(shape_is_valid({1, kMaxPromptCapacity + 1, 4}));
}

TEST(SlotStateWord, PacksGenerationStateAndPid) {
  const uint64_t w = make_state_word(0x123456, SlotState::kRunning, 4242);
  EXPECT_EQ(word_generation(w), 0x123456u);
  EXPECT_EQ(word_state(w), SlotState::kRunning);
  EXPECT_EQ(word_pid(w), 4242);
  const uint64_t f = with_state(w, SlotState::kFinished);
  EXPECT_EQ(word_generation(f), 0x123456u);
  EXPECT_EQ(word_pid(f), 4242);
  EXPECT_EQ(word_state(f), SlotState::kFinished);
  // The generation wraps within its 24 bits instead of spilling into the state.
  EXPECT_EQ(word_state(make_state_word(0x1FFFFFF, SlotState::kFree, 1)), SlotState::kFree);
}

TEST(RequestCheck, Utf8) {
  EXPECT_TRUE(is_valid_utf8("hello"));
  EXPECT_TRUE(is_valid_utf8("\xE6\x97\xA5\xE6\x9C\xAC"));  // 日本
  size_t at = 0;
  EXPECT_FALSE(is_valid_utf8("ab\xE6\x97", &at));  // truncated
  EXPECT_EQ(at, 2u);
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xFF"));
}

TEST(RequestCheck, ParamsNameTheField) {
  GenerationParams p{};
  p.max_tokens = 10;
  p.temperature = 1;
  p.top_p = 1;
  p.repetition_penalty = 1;
  EXPECT_TRUE(check_params(p, 100).ok());
  GenerationParams bad = p;
  bad.max_tokens = 101;
  EXPECT_NE(check_params(bad, 100).message.find("max_tokens"), std::string::npos);
  bad = p;
  bad.top_p = 0;
  EXPECT_NE(check_params(bad, 100).message.find("top_p"), std::string::npos);
  bad = p;
  bad.temperature = -1;
  EXPECT_EQ(check_params(bad, 100).error, RequestError::kInvalidParams);
  EXPECT_NE(check_params(bad, 100).message.find("temperature"), std::string::npos);
  bad = p;
  bad.stop_token_count = 9;
  EXPECT_NE(check_params(bad, 100).message.find("stop_token_ids"), std::string::npos);
  EXPECT_EQ(check_prompt("", 10).error, RequestError::kEmptyPrompt);
  EXPECT_EQ(check_prompt("12345678901", 10).error, RequestError::kPromptTooLong);
  EXPECT_EQ(check_prompt("\xFF", 10).error, RequestError::kInvalidUtf8);
}

}  // namespace
}  // namespace ringserve::shm
