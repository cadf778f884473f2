// Pins the shared-memory contract: the layout version, the geometry function and the slot
// state word. Changing a struct in shm/layout.h changes a static_assert or a value here; the
// fix is to bump kLayoutVersion and update docs/PROTOCOL.md, then this test.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "shm/layout.h"
#include "shm/request_check.h"
#include "shm/text_field.h"

namespace ringserve::shm {
namespace {

TEST(Layout, VersionIsPinned) {
  EXPECT_EQ(kLayoutVersion, 6u) << "layout changed: bump the version and update PROTOCOL.md";
  EXPECT_EQ(kMagic, 0x3156524553474E52ULL);
  EXPECT_EQ(sizeof(SegmentHeader), 320u);
  EXPECT_EQ(sizeof(SlotHeader), 256u);
  EXPECT_EQ(offsetof(SlotHeader, prompt_tokens), 216u);
  EXPECT_EQ(kKvCacheOffset, 1600u);
  EXPECT_EQ(sizeof(KvCacheMetrics), 64u);
  EXPECT_EQ(sizeof(TokenEntry), 64u);
  EXPECT_EQ(sizeof(GenerationParams), 88u);
  EXPECT_EQ(sizeof(ModelInfo), 640u);
  EXPECT_EQ(kModelInfoOffset, 2048u);
  EXPECT_EQ(offsetof(SegmentHeader, resident_bytes), 176u);
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

TEST(TextField, WriterPadsWithNulAndCutsAtACharacterBoundary) {
  char field[16];
  write_text_field(field, "float32");
  EXPECT_EQ(std::string(field, 16), std::string("float32") + std::string(9, '\0'));
  // 15 bytes fit; "é" (2 bytes) across the 15th byte is left out whole.
  write_text_field(field, "abcdefghijklmn\xC3\xA9xyz");
  EXPECT_STREQ(field, "abcdefghijklmn");
  write_text_field(field, "/models/verylongname/\xC3\xA9tude", KeepEnd::kTail);
  EXPECT_STREQ(field, "...gname/\xC3\xA9tude");
  const std::string day = "\xE6\x97\xA5";  // 日
  write_text_field(field, "/m/ab" + day + day + day + day + "z", KeepEnd::kTail);
  EXPECT_EQ(std::string(field), "..." + day + day + day + "z");  // never half of one
  EXPECT_EQ(read_text_field(field), "..." + day + day + day + "z");
}

TEST(TextField, ReaderStopsAtTheArraysEndWithoutANul) {
  // A field and the bytes after it: the reader must not run into the neighbour.
  struct {
    char field[16];
    char after[16];
  } memory{};
  std::memset(memory.field, 'A', sizeof memory.field);
  std::memset(memory.after, 'B', sizeof memory.after);
  EXPECT_EQ(read_text_field(memory.field), std::string(16, 'A'));
}

TEST(TextField, ReaderReplacesWhatIsNotPrintableUtf8) {
  char field[32] = {};
  const std::string hostile =
      "a\x1B[31mb\n\xFF\xC3\"\\\x7F\xC2\x85\xE2\x80\xAE\xC3\xA9";  // ESC, LF, bad, DEL, NEL, RLO
  hostile.copy(field, hostile.size());  // the rest of the field stays NUL
  const std::string got = read_text_field(field);
  EXPECT_EQ(got, "a?[31mb???\"\\??????\xC3\xA9");
  EXPECT_TRUE(is_valid_utf8(got));
  EXPECT_LE(got.size(), sizeof field);
  // A field full of any one byte value: the result is valid UTF-8 and no longer than the field.
  for (int b = 0; b < 256; ++b) {
    char one[8];
    std::memset(one, b, sizeof one);
    const std::string text = read_text_field(one);
    EXPECT_TRUE(is_valid_utf8(text)) << b;
    EXPECT_LE(text.size(), sizeof one);
  }
}

}  // namespace
}  // namespace ringserve::shm
