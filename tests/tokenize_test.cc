// Tokenize and detokenize requests (issue 22): a real ringserved answers them through the
// segment, with its own tokenizer, at intake -- the same ids as the offline tokenizer for the
// same model, pieces that join to the text, detokenize(tokenize(x)) == x, a precise error for
// every bad input, and an answer at once while the scheduler is full. Through the C++ client,
// the C API (tests/c_tokenize_client.c) and `ringctl --name` / `--model`.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "engine/text/prompt_special_tokens.h"
#include "engine/text/tokenizer.h"
#include "ringserve/client.h"
#include "shm/request_check.h"
#include "tests/daemon_process.h"

namespace ringserve::testing {
namespace {

using namespace std::chrono_literals;

const std::string kBuiltinDir = std::string(RINGSERVE_SOURCE_DIR) + "/models/builtin";

// ASCII, multibyte UTF-8, emoji (4-byte characters the built-in byte tokenizer splits into 4
// tokens), special-token text, whitespace.
const std::vector<std::string> kTexts = {
    "Hello, world!",
    "h\xC3\xA9llo w\xC3\xB6rld \xC3\xB1",       // héllo wörld ñ
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",     // 日本語
    "emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89!",  // 😀🎉
    "<s>Hi</s> and <unk>",
    "tabs\tand\nnew lines  ",
};

class BuiltinTokenize : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new Daemon({"--set", "model.backend=torch", "--set", "model.threads=1", "--set",
                          "model.max_seq_len=256", "--set", "scheduler.max_concurrent=1"});
    std::string error;
    ASSERT_TRUE(model::Tokenizer::load(kBuiltinDir + "/tokenizer.json", &tokenizer_, &error))
        << error;
    ASSERT_TRUE(model::PromptSpecialTokens::load(kBuiltinDir, *tokenizer_, &specials_, &error))
        << error;
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
    tokenizer_.reset();
  }
  void SetUp() override {
    ASSERT_TRUE(daemon_->ready());
    ASSERT_TRUE(Client::connect(daemon_->name(), &client_).ok());
  }
  static Daemon* daemon_;
  static std::unique_ptr<model::Tokenizer> tokenizer_;
  static model::PromptSpecialTokens specials_;
  std::unique_ptr<Client> client_;
};
Daemon* BuiltinTokenize::daemon_ = nullptr;
std::unique_ptr<model::Tokenizer> BuiltinTokenize::tokenizer_;
model::PromptSpecialTokens BuiltinTokenize::specials_;

std::string joined(const std::vector<std::string>& pieces) {
  std::string s;
  for (const std::string& p : pieces) s += p;
  return s;
}

TEST_F(BuiltinTokenize, DaemonIdsEqualTheOfflineTokenizersAndPiecesJoinToTheText) {
  for (const std::string& text : kTexts) {
    std::vector<int32_t> ids;
    std::vector<std::string> pieces;
    Status s = client_->tokenize(text, {}, &ids, &pieces);
    ASSERT_TRUE(s.ok()) << text << ": " << s.to_string();
    EXPECT_EQ(ids, tokenizer_->encode(text)) << text;
    ASSERT_EQ(pieces.size(), ids.size()) << text;
    EXPECT_EQ(joined(pieces), text);
    // With the special tokens a raw prompt gets (the built-in model's BOS).
    TokenizeOptions special;
    special.add_special = true;
    s = client_->tokenize(text, special, &ids, &pieces);
    ASSERT_TRUE(s.ok()) << s.to_string();
    EXPECT_EQ(ids, specials_.encode_raw(*tokenizer_, text)) << text;
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), 1);  // <s>
    EXPECT_EQ(pieces.front(), "<s>");
  }
}

TEST_F(BuiltinTokenize, SpecialTokenTextIsParsedAsInAPrompt) {
  std::vector<int32_t> ids;
  std::vector<std::string> pieces;
  ASSERT_TRUE(client_->tokenize("<s>a</s>", {}, &ids, &pieces).ok());
  EXPECT_EQ(ids, (std::vector<int32_t>{1, tokenizer_->encode("a").at(0), 2}));
  EXPECT_EQ(pieces, (std::vector<std::string>{"<s>", "a", "</s>"}));
}

TEST_F(BuiltinTokenize, ACharacterSplitOverTokensComesWithItsLastToken) {
  std::vector<int32_t> ids;
  std::vector<std::string> pieces;
  ASSERT_TRUE(client_->tokenize("\xF0\x9F\x98\x80", {}, &ids, &pieces).ok());  // 😀: 4 bytes
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(pieces, (std::vector<std::string>{"", "", "", "\xF0\x9F\x98\x80"}));
}

TEST_F(BuiltinTokenize, DetokenizeOfTokenizeIsTheText) {
  for (const std::string& text : kTexts) {
    std::vector<int32_t> ids;
    ASSERT_TRUE(client_->tokenize(text, {}, &ids).ok());
    std::string back;
    const Status s = client_->detokenize(ids, &back);
    ASSERT_TRUE(s.ok()) << s.to_string();
    EXPECT_EQ(back, text);
    EXPECT_EQ(back, tokenizer_->decode(ids));
  }
}

TEST_F(BuiltinTokenize, ChatMessagesAreRenderedByTheDaemonsTemplate) {
  std::vector<int32_t> ids;
  std::vector<std::string> pieces;
  const std::vector<ChatMessage> messages = {{"system", "Be brief."}, {"user", "Hi"}};
  ASSERT_TRUE(client_->tokenize_chat(messages, {}, &ids, &pieces).ok());
  const std::string rendered = joined(pieces);
  EXPECT_NE(rendered.find("Be brief."), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("Hi"), std::string::npos) << rendered;
  EXPECT_EQ(ids, tokenizer_->encode(rendered));
  // The prompt a chat request gets is these ids (with its BOS).
  TokenizeOptions special;
  special.add_special = true;
  std::vector<int32_t> with_bos;
  ASSERT_TRUE(client_->tokenize_chat(messages, special, &with_bos).ok());
  EXPECT_EQ(with_bos, specials_.encode_chat(*tokenizer_, rendered));
  std::vector<int32_t> none;
  const Status bad = client_->tokenize_chat({{"robot", "x"}}, {}, &none);
  EXPECT_EQ(bad.code(), ErrorCode::kInvalidParams);
  EXPECT_NE(bad.message().find("messages[0].role 'robot'"), std::string::npos) << bad.message();
}

TEST_F(BuiltinTokenize, BadInputsGetSpecificErrors) {
  const int32_t vocab = tokenizer_->vocab_size();
  std::string text;
  Status s = client_->detokenize(std::vector<int32_t>{72, 105, vocab + 5, 3}, &text);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidParams);
  EXPECT_NE(s.message().find("token ids[2] is " + std::to_string(vocab + 5)), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("0.." + std::to_string(vocab - 1)), std::string::npos) << s.message();
  s = client_->detokenize(std::vector<int32_t>{72, -4}, &text);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidParams);
  EXPECT_NE(s.message().find("token ids[1] is -4"), std::string::npos) << s.message();
  s = client_->detokenize(std::vector<int32_t>{}, &text);
  EXPECT_EQ(s.code(), ErrorCode::kEmptyPrompt) << s.to_string();
  std::vector<int32_t> ids;
  s = client_->tokenize("", {}, &ids);
  EXPECT_EQ(s.code(), ErrorCode::kEmptyPrompt) << s.to_string();
  s = client_->tokenize("bad \xC3(", {}, &ids);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidUtf8) << s.to_string();
  s = client_->tokenize(std::string(client_->max_prompt_bytes() + 1, 'a'), {}, &ids);
  EXPECT_EQ(s.code(), ErrorCode::kPromptTooLong) << s.to_string();
  // The daemon still serves, and counted the requests it answered.
  ASSERT_TRUE(client_->tokenize("ok", {}, &ids).ok());
  DaemonStatus st;
  ASSERT_TRUE(client_->status(&st).ok());
  EXPECT_GE(st.completed, 1u);
  EXPECT_GE(st.failed, 1u);  // the out-of-vocabulary id reached the daemon
  EXPECT_EQ(st.tokens_generated, 0u);
}

TEST_F(BuiltinTokenize, RingctlAsksTheNamedDaemonOrTokenizesOffline) {
  const std::string text = "caf\xC3\xA9 <s>";
  std::vector<int32_t> ids;
  ASSERT_TRUE(client_->tokenize(text, {}, &ids).ok());
  std::string expected;
  for (size_t k = 0; k < ids.size(); ++k) expected += (k ? " " : "") + std::to_string(ids[k]);
  ProcessResult daemon = run({RINGCTL_PATH, "--name", daemon_->name(), "tokenize", text});
  EXPECT_EQ(daemon.exit_code, 0) << daemon.errors;
  EXPECT_EQ(daemon.output, expected + "\n");
  const ProcessResult offline = run({RINGCTL_PATH, "tokenize", "--model", kBuiltinDir, text});
  EXPECT_EQ(offline.exit_code, 0) << offline.errors;
  EXPECT_EQ(offline.output, expected + "\n");
  const ProcessResult builtin = run({RINGCTL_PATH, "tokenize", text});
  EXPECT_EQ(builtin.output, expected + "\n");
  // --name after the command too, and the pieces with --json.
  daemon = run({RINGCTL_PATH, "tokenize", "--json", "\xF0\x9F\x98\x80", "--name", daemon_->name()});
  EXPECT_EQ(daemon.exit_code, 0) << daemon.errors;
  EXPECT_NE(daemon.output.find("\"piece\":\"\xF0\x9F\x98\x80\""), std::string::npos)
      << daemon.output;
  // Detokenize, both ways; a bad id named by its index.
  std::vector<std::string> args = {RINGCTL_PATH, "--name", daemon_->name(), "detokenize"};
  for (const int32_t id : ids) args.push_back(std::to_string(id));
  const ProcessResult back = run(args);
  EXPECT_EQ(back.exit_code, 0) << back.errors;
  EXPECT_EQ(back.output, text + "\n");
  args.erase(args.begin() + 1, args.begin() + 3);  // offline
  EXPECT_EQ(run(args).output, text + "\n");
  const ProcessResult bad =
      run({RINGCTL_PATH, "--name", daemon_->name(), "detokenize", "72", "99999"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.errors.find("token ids[1] is 99999"), std::string::npos) << bad.errors;
  const ProcessResult both =
      run({RINGCTL_PATH, "--name", daemon_->name(), "tokenize", "--model", kBuiltinDir, "x"});
  EXPECT_EQ(both.exit_code, 2);
  // A name that no daemon has is an error, not a silent offline answer.
  const ProcessResult missing = run({RINGCTL_PATH, "--name", unique_name("none"), "tokenize", "x"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.errors.find("daemon not running"), std::string::npos) << missing.errors;
}

TEST_F(BuiltinTokenize, CClient) {
  const std::string text = "h\xC3\xA9 \xF0\x9F\x98\x80";
  std::vector<int32_t> ids;
  std::vector<std::string> pieces;
  ASSERT_TRUE(client_->tokenize(text, {}, &ids, &pieces).ok());
  const ProcessResult r = run({C_TOKENIZE_CLIENT_PATH, daemon_->name(), text});
  ASSERT_EQ(r.exit_code, 0) << r.output << r.errors;
  std::string expected = "ids";
  for (const int32_t id : ids) expected += " " + std::to_string(id);
  expected += "\npieces " + joined(pieces) + "\ntext " + text + "\n";
  EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nbad "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("token ids[1] is 1000000"), std::string::npos) << r.output;
}

// The echo backend: a token per character, its id the code point; no chat template.
TEST(EchoTokenize, CodePointsBothWaysAndChatRefused) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  std::vector<int32_t> ids;
  std::vector<std::string> pieces;
  ASSERT_TRUE(client->tokenize("a\xC3\xA9\xF0\x9F\x98\x80", {}, &ids, &pieces).ok());
  EXPECT_EQ(ids, (std::vector<int32_t>{'a', 0xE9, 0x1F600}));
  EXPECT_EQ(pieces, (std::vector<std::string>{"a", "\xC3\xA9", "\xF0\x9F\x98\x80"}));
  std::string text;
  ASSERT_TRUE(client->detokenize(ids, &text).ok());
  EXPECT_EQ(text, "a\xC3\xA9\xF0\x9F\x98\x80");
  Status s = client->detokenize(std::vector<int32_t>{'a', 0xD800}, &text);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidParams);
  EXPECT_NE(s.message().find("token ids[1] is 55296"), std::string::npos) << s.message();
  s = client->tokenize_chat({{"user", "hi"}}, {}, &ids);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidParams);
  EXPECT_NE(s.message().find("no chat template"), std::string::npos) << s.message();
  // A long text: more entries than the token ring holds (256), read as the client drains it.
  const std::string long_text(3000, 'x');
  ASSERT_TRUE(client->tokenize(long_text, {}, &ids).ok());
  EXPECT_EQ(ids.size(), 3000u);
  ASSERT_TRUE(client->detokenize(ids, &text).ok());
  EXPECT_EQ(text, long_text);
}

// The scheduler full (one running, one waiting, max_queue 1): a tokenize request is answered at
// once, and takes neither place.
TEST(EchoTokenize, AnsweredAtOnceWhileTheSchedulerIsFull) {
  Daemon daemon({"--set", "model.echo_step_delay_us=20000", "--set", "scheduler.max_concurrent=1",
                 "--set", "scheduler.max_queue=1"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  GenerateParams long_run;
  long_run.max_tokens = 1000;  // 20 s at 20 ms a step
  std::unique_ptr<Stream> running;
  std::unique_ptr<Stream> waiting;
  ASSERT_TRUE(client->generate("long", long_run, &running).ok());
  ASSERT_TRUE(client->generate("next", long_run, &waiting).ok());
  DaemonStatus st;
  ASSERT_TRUE(
      eventually([&] { return client->status(&st).ok() && st.running == 1 && st.waiting == 1; }));
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<int32_t> ids;
    const Status s = client->tokenize("quick", {}, &ids);
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(s.ok()) << s.to_string();
    EXPECT_EQ(ids.size(), 5u);
    // Answered within about one step of the loop, not after the 20 s generation.
    EXPECT_LT(took, 500ms);
  }
  ASSERT_TRUE(client->status(&st).ok());
  EXPECT_EQ(st.running, 1u);
  EXPECT_EQ(st.waiting, 1u);
  EXPECT_EQ(st.rejected, 0u);  // not "queue full": it never entered the line
  EXPECT_FALSE(running->done());
  running->cancel();
  waiting->cancel();
}

}  // namespace
}  // namespace ringserve::testing
