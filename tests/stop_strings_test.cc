// StopStringMatcher: nothing of a stop string (or after it) is ever sent, however the text is
// split across pushes, and text that cannot start a stop string is not held back.
#include "engine/text/stop_strings.h"

#include <gtest/gtest.h>

namespace ringserve::model {
namespace {

StopStringMatcher make(std::vector<std::string> stops) {
  std::string error;
  auto matcher = StopStringMatcher::create(stops, &error);
  EXPECT_TRUE(matcher.has_value()) << error;
  return std::move(*matcher);
}

TEST(StopStrings, MatchInOnePush) {
  StopStringMatcher m = make({"STOP"});
  const auto r = m.push("hello STOP world");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "hello ");
  EXPECT_EQ(m.matched_index(), 0);
  EXPECT_EQ(m.push("more").text, "");
  EXPECT_TRUE(m.push("more").stopped == false && m.stopped());
  EXPECT_EQ(m.finish(), "");
}

TEST(StopStrings, SplitAcrossPushesIsCaughtAndHeldBack) {
  StopStringMatcher m = make({"</answer>"});
  auto r = m.push("the result </an");
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.text, "the result ");
  r = m.push("sw");
  EXPECT_EQ(r.text, "");
  r = m.push("er> trailing");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
}

TEST(StopStrings, HeldTextIsReleasedWhenItCannotMatch) {
  StopStringMatcher m = make({"</answer>"});
  EXPECT_EQ(m.push("a </a").text, "a ");
  EXPECT_EQ(m.push("b> c").text, "</ab> c");
  EXPECT_EQ(m.push("<").text, "");
  EXPECT_EQ(m.finish(), "<");  // the sequence ended for another reason
}

TEST(StopStrings, OverlappingPrefixes) {
  // "aab" against "ab": the match starts at the second 'a', so the first 'a' is sent.
  StopStringMatcher m = make({"ab"});
  auto r = m.push("aab");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "a");
  StopStringMatcher byte_wise = make({"ab"});
  EXPECT_EQ(byte_wise.push("a").text, "");
  EXPECT_EQ(byte_wise.push("a").text, "a");
  r = byte_wise.push("b");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
  // Self-overlapping stop string: "aab" inside "aaab".
  StopStringMatcher self = make({"aab"});
  EXPECT_EQ(self.push("aa").text, "");
  EXPECT_EQ(self.push("a").text, "a");
  r = self.push("b");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
}

TEST(StopStrings, StopAtTheVeryFirstByte) {
  StopStringMatcher m = make({"\n", "###"});
  const auto r = m.push("\nrest");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(m.matched_index(), 0);
}

TEST(StopStrings, EarliestOfSeveralWins) {
  StopStringMatcher m = make({"World", "lo W", "xyz"});
  const auto r = m.push("Hello World");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "Hel");
  EXPECT_EQ(m.matched_index(), 1);
}

TEST(StopStrings, MultiByteCharactersAreNeverSplit) {
  StopStringMatcher m = make({"。終"});
  EXPECT_EQ(m.push("東京。").text, "東京");  // "。" held: it starts the stop string
  EXPECT_EQ(m.push("晴").text, "。晴");
  EXPECT_EQ(m.push("れ。").text, "れ");
  const auto r = m.push("終わり");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
}

TEST(StopStrings, NoStopStringsPassesEverything) {
  StopStringMatcher m = make({});
  EXPECT_EQ(m.push("anything").text, "anything");
  EXPECT_EQ(m.finish(), "");
}

TEST(StopStrings, ChecksItsArguments) {
  std::string error;
  std::vector<std::string> nine(9, "x");
  EXPECT_FALSE(StopStringMatcher::create(nine, &error).has_value());
  EXPECT_NE(error.find("at most 8 stop strings, got 9"), std::string::npos) << error;
  std::vector<std::string> empty = {"a", ""};
  EXPECT_FALSE(StopStringMatcher::create(empty, &error).has_value());
  EXPECT_NE(error.find("stop string 1 is empty"), std::string::npos) << error;
  std::vector<std::string> long_one = {std::string(65, 'x')};
  EXPECT_FALSE(StopStringMatcher::create(long_one, &error).has_value());
  EXPECT_NE(error.find("65 bytes, more than 64"), std::string::npos) << error;
  std::vector<std::string> max_one = {std::string(64, 'x')};
  EXPECT_TRUE(StopStringMatcher::create(max_one, &error).has_value());
}

}  // namespace
}  // namespace ringserve::model
