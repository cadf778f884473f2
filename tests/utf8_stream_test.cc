// Utf8Stream: output always ends on a character boundary, whatever the split of the input;
// invalid bytes become U+FFFD as soon as they are known to be invalid.
#include "engine/text/utf8_stream.h"

#include <gtest/gtest.h>

#include "tests/tokenizer_test_support.h"
#include "utf8/utf8.h"

namespace ringserve::model {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

bool ends_on_boundary(const std::string& s) {
  if (s.empty()) return true;
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) --i;
  const auto lead = static_cast<uint8_t>(s[i]);
  const size_t want = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  return s.size() - i == want;
}

TEST(Utf8Stream, JapaneseSplitAtEveryBytePosition) {
  const std::string text = "日本語のテキスト、東京。";  // 3-byte characters only
  for (size_t a = 0; a <= text.size(); ++a) {
    for (size_t b = a; b <= text.size(); ++b) {
      Utf8Stream stream;
      std::string out;
      for (const std::string_view part :
           {std::string_view(text).substr(0, a), std::string_view(text).substr(a, b - a),
            std::string_view(text).substr(b)}) {
        const std::string chunk = stream.push(part);
        EXPECT_TRUE(ends_on_boundary(chunk)) << a << "," << b;
        EXPECT_LE(stream.pending_bytes(), 3u);
        out += chunk;
      }
      out += stream.finish();
      EXPECT_EQ(out, text) << a << "," << b;
    }
  }
}

TEST(Utf8Stream, ByteAtATimeHoldsOnlyTheIncompleteTail) {
  Utf8Stream stream;
  EXPECT_EQ(stream.push("\xE6"), "");
  EXPECT_EQ(stream.push("\x97"), "");
  EXPECT_EQ(stream.push("\xA5"), "日");
  EXPECT_EQ(stream.push("a\xF0\x9F"), "a");
  EXPECT_EQ(stream.pending_bytes(), 2u);
  EXPECT_EQ(stream.push("\x98\x80!"), "😀!");
  EXPECT_EQ(stream.finish(), "");
}

TEST(Utf8Stream, InvalidBytesAreReplacedAtOnce) {
  Utf8Stream stream;
  EXPECT_EQ(stream.push("\xFF"), kFffd);                          // never a lead byte
  EXPECT_EQ(stream.push("\x80"), kFffd);                          // lone continuation
  EXPECT_EQ(stream.push("\xC0\xAF"), kFffd + kFffd);              // overlong lead C0
  EXPECT_EQ(stream.push("\xE0\x80"), kFffd + kFffd);              // overlong 3-byte form
  EXPECT_EQ(stream.push("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // surrogate U+D800
  EXPECT_EQ(stream.push("\xF4\x90"), kFffd + kFffd);              // above U+10FFFF
  EXPECT_EQ(stream.push("\xE3\x81"), "");                         // could still be a character...
  EXPECT_EQ(stream.push("A"), kFffd + "A");  // ...until 'A' arrives: one U+FFFD
  EXPECT_EQ(stream.push("\xF0\x9F\x98"), "");
  EXPECT_EQ(stream.finish(), kFffd);   // incomplete at the end
  EXPECT_EQ(stream.push("ok"), "ok");  // finish() reset the stream
}

TEST(Utf8Stream, ByteFallbackTokensFromAMetaspaceTokenizer) {
  // A Llama 2 shaped tokenizer that knows only "▁": every other character falls back to bytes.
  const auto tok = testing::must_parse(testing::metaspace_tokenizer({"▁"}, {}));
  const std::string text = "東京 😀 é";
  const std::vector<int32_t> ids = tok->encode(text);
  ASSERT_EQ(ids.size(), 3u + 3u + 1u + 1u + 4u + 1u + 2u);  // ▁ + 東 + 京 + ▁ + 😀 + ▁ + é
  Utf8Stream stream;
  std::string out;
  std::vector<std::string> chunks;
  for (const int32_t id : ids) {
    chunks.push_back(stream.push(tok->token_bytes(id)));
    out += chunks.back();
  }
  out += stream.finish();
  EXPECT_EQ(out, " " + text);  // token by token: the Strip of decode() is not applied
  // The three bytes of 東 (after the ▁) come out together on the third.
  EXPECT_EQ(chunks[1], "");
  EXPECT_EQ(chunks[2], "");
  EXPECT_EQ(chunks[3], "東");
}

TEST(Utf8Stream, GemmasAddedSpaceRunsStreamAsSpaces) {
  // What the daemon streams (token_bytes of each generated token) is what HF decodes: Gemma 3's
  // non-special added token "▁▁" is two spaces, not two U+2581.
  const auto tok = testing::must_parse(testing::gemma_like({"a", "b"}, {}));
  Utf8Stream stream;
  std::string out;
  for (const int32_t id : tok->encode("a  b")) out += stream.push(tok->token_bytes(id));
  out += stream.finish();
  EXPECT_EQ(out, "a  b");
  EXPECT_EQ(out, tok->decode(tok->encode("a  b")));
}

TEST(Utf8Stream, AgreesWithTheWholeCharacterDecoder) {
  // utf8/utf8.h's decode and the stream share one table of lead bytes: for every two-byte
  // input, the stream passes exactly the text the decoder calls valid.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      const std::string input = {static_cast<char>(a), static_cast<char>(b)};
      Utf8Stream stream;
      const std::string out = stream.push(input) + stream.finish();
      EXPECT_EQ(out == input, utf8::is_valid(input)) << a << " " << b;
    }
  }
}

}  // namespace
}  // namespace ringserve::model
