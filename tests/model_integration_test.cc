// End-to-end tests of the model backend: a real ringserved running a real (small) model and
// real client connections. A scripted model (tests/scripted_model.h) makes the output exact,
// so streaming of split UTF-8 characters, stop strings across tokens and EOS are checked
// byte for byte; a random model checks that batching does not change anyone's output.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "daemon/instance_lock.h"
#include "engine/model/read_file.h"
#include "ringserve/client.h"
#include "tests/daemon_process.h"
#include "tests/model_test_support.h"
#include "tests/scripted_model.h"
#include "tools/model_making/random_model.h"

namespace ringserve::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Output {
  std::vector<Token> tokens;
  std::string text;
  FinishReason finish = FinishReason::kNone;
  Status status;
};

Output collect(Client& client, const std::string& prompt, const GenerateParams& params) {
  Output out;
  std::unique_ptr<Stream> stream;
  out.status = client.generate(prompt, params, &stream);
  if (!out.status.ok()) return out;
  Token t;
  while ((out.status = stream->next(&t, 10s)).ok()) {
    out.text += t.text;
    out.tokens.push_back(t);
  }
  out.finish = stream->finish_reason();
  return out;
}

class ScriptedModel : public ::testing::Test {
 protected:
  void start(const std::vector<int32_t>& script) {
    dir_ = test_temp_dir("scripted");
    std::string error;
    ASSERT_TRUE(write_scripted_model(dir_, script, &error)) << error;
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{
        "--set", "model.backend=torch", "--set", "model.path=" + dir_, "--set", "model.threads=1"});
    ASSERT_TRUE(daemon_->ready());
    ASSERT_TRUE(Client::connect(daemon_->name(), &client_).ok());
  }
  void TearDown() override {
    client_.reset();
    daemon_.reset();
    fs::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<Client> client_;
};

bool is_whole_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

TEST_F(ScriptedModel, JapaneseArrivesAsWholeCharacters) {
  const std::string japanese = "日本語のテキスト。";  // 9 characters, 27 bytes
  std::vector<int32_t> script = byte_tokens(japanese);
  script.push_back(kScriptEos);
  start(script);
  const Output out = collect(*client_, "a", greedy(60));
  ASSERT_TRUE(out.status.end_of_stream()) << out.status.to_string();
  EXPECT_EQ(out.text, japanese);
  EXPECT_EQ(out.finish, FinishReason::kStop);  // EOS
  ASSERT_EQ(out.tokens.size(), 27u);           // one token per byte, EOS not sent
  size_t with_text = 0;
  for (const Token& t : out.tokens) {
    EXPECT_TRUE(is_whole_utf8(t.text)) << "a piece split a character";
    if (!t.text.empty()) {
      ++with_text;
      EXPECT_EQ(t.text.size(), 3u);  // each character arrives whole, on its last byte
    }
  }
  EXPECT_EQ(with_text, 9u);
}

TEST_F(ScriptedModel, StopStringAcrossTokensIsCaughtAndNotSent) {
  start(byte_tokens("Hello, world! STOP and more"));
  GenerateParams p = greedy(60);
  p.stop = {"STOP", "zzz"};
  const Output out = collect(*client_, "a", p);
  ASSERT_TRUE(out.status.end_of_stream()) << out.status.to_string();
  EXPECT_EQ(out.text, "Hello, world! ");
  EXPECT_EQ(out.finish, FinishReason::kStop);
  // Without the stop string the whole script comes out (max_tokens ends it).
  const Output all = collect(*client_, "a", greedy(27));
  EXPECT_EQ(all.text, "Hello, world! STOP and more");
  EXPECT_EQ(all.finish, FinishReason::kLength);
}

TEST_F(ScriptedModel, HeldBackTextIsReleasedWhenTheStreamEnds) {
  std::vector<int32_t> script = byte_tokens("abc ST");
  script.push_back(kScriptEos);
  start(script);
  GenerateParams p = greedy(60);
  p.stop = {"STOP"};
  Output out = collect(*client_, "a", p);
  ASSERT_TRUE(out.status.end_of_stream()) << out.status.to_string();
  EXPECT_EQ(out.text, "abc ST");  // "ST" was held back, then released at EOS
  EXPECT_EQ(out.finish, FinishReason::kStop);
  ASSERT_FALSE(out.tokens.empty());
  EXPECT_EQ(out.tokens.back().id, -1);  // a text-only entry: EOS itself is not sent
  EXPECT_EQ(out.tokens.back().text, "ST");
  // Ending on max_tokens releases it with the last token.
  out = collect(*client_, "a", [&] {
    GenerateParams q = p;
    q.max_tokens = 5;
    return q;
  }());
  EXPECT_EQ(out.text, "abc S");
  EXPECT_EQ(out.finish, FinishReason::kLength);
}

TEST_F(ScriptedModel, StopTokenIdEndsWithoutSendingIt) {
  start(byte_tokens("one two"));
  GenerateParams p = greedy(60);
  p.stop_token_ids = {byte_tokens(" ")[0]};
  const Output out = collect(*client_, "a", p);
  EXPECT_EQ(out.text, "one");
  EXPECT_EQ(out.finish, FinishReason::kStop);
}

TEST_F(ScriptedModel, PromptLongerThanTheContextIsRejectedByName) {
  start(byte_tokens("x"));
  const Output out = collect(*client_, std::string(80, 'a'), greedy(4));
  EXPECT_EQ(out.status.code(), ErrorCode::kPromptTooLong) << out.status.to_string();
}

TEST_F(ScriptedModel, ChatRequestsAreRenderedAndRun) {
  start(byte_tokens("fine"));
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client_->chat({{"system", "s"}, {"user", "hi"}}, greedy(2), &stream).ok());
  // The rendered prompt is longer than the script, so what comes out is unscripted: only
  // the count is known.
  Token t;
  size_t tokens = 0;
  Status s;
  while ((s = stream->next(&t, 10s)).ok()) ++tokens;
  EXPECT_TRUE(s.end_of_stream()) << s.to_string();
  EXPECT_EQ(tokens, 2u);
  EXPECT_EQ(stream->finish_reason(), FinishReason::kLength);
  const Status bad = client_->chat({{"robot", "hi"}}, greedy(2), &stream);
  EXPECT_EQ(bad.code(), ErrorCode::kInvalidParams);
  EXPECT_NE(bad.message().find("messages[0].role 'robot'"), std::string::npos) << bad.message();
}

TEST(RandomModel, OutputIsTheSameAloneInABatchOf16AndInterleaved) {
  const std::string dir = test_temp_dir("random");
  model::RandomModelSpec spec;
  ASSERT_TRUE(model::random_model_preset("tiny-llama", &spec));
  spec.max_positions = 256;
  std::string error;
  ASSERT_TRUE(model::write_random_model(dir, spec, &error)) << error;
  Daemon daemon({"--set", "model.backend=torch", "--set", "model.path=" + dir, "--set",
                 "model.threads=1", "--set", "scheduler.max_batch_tokens=16"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());

  const std::vector<std::string> prompts = {"The quick brown fox", "Shared memory!", "日本語",
                                            "A much longer prompt that needs several "
                                            "prefill chunks at sixteen tokens per step."};
  GenerateParams sampled;
  sampled.max_tokens = 24;
  sampled.temperature = 0.9f;
  sampled.top_k = 50;
  sampled.seed = 1234;
  std::vector<Output> alone;
  for (const std::string& p : prompts) {
    alone.push_back(collect(*client, p, greedy(24)));
    alone.push_back(collect(*client, p, sampled));
  }
  // The same requests twice over, all 16 at once from 16 threads: batched decode, chunked
  // prefill interleaved with decoding. Then the same against a daemon in interleave mode.
  auto run_together = [&](Client& c) {
    std::vector<Output> together(2 * alone.size());
    std::vector<std::thread> threads;
    for (size_t r = 0; r < together.size(); ++r) {
      const size_t i = (r % alone.size()) / 2;
      const bool greedy_request = r % 2 == 0;
      threads.emplace_back([&, r, i, greedy_request] {
        together[r] = collect(c, prompts[i], greedy_request ? greedy(24) : sampled);
      });
    }
    for (auto& t : threads) t.join();
    return together;
  };
  auto expect_same = [&](const std::vector<Output>& together, const char* how) {
    for (size_t r = 0; r < together.size(); ++r) {
      const Output& want = alone[r % alone.size()];
      ASSERT_TRUE(want.status.end_of_stream()) << want.status.to_string();
      ASSERT_EQ(want.tokens.size(), 24u);
      ASSERT_EQ(together[r].tokens.size(), want.tokens.size()) << how << " request " << r;
      for (size_t k = 0; k < want.tokens.size(); ++k) {
        EXPECT_EQ(together[r].tokens[k].id, want.tokens[k].id)
            << how << " request " << r << " token " << k;
      }
    }
  };
  expect_same(run_together(*client), "batch of 16");
  {
    Daemon interleave({"--set", "model.backend=torch", "--set", "model.path=" + dir, "--set",
                       "model.threads=1", "--set", "scheduler.max_batch_tokens=16", "--set",
                       "scheduler.mode=interleave"});
    ASSERT_TRUE(interleave.ready());
    std::unique_ptr<Client> ic;
    ASSERT_TRUE(Client::connect(interleave.name(), &ic).ok());
    expect_same(run_together(*ic), "interleave");
  }
  // A different seed gives a different sample.
  sampled.seed = 99;
  const Output other = collect(*client, prompts[0], sampled);
  bool differs = false;
  for (size_t k = 0; k < other.tokens.size(); ++k) {
    differs |= other.tokens[k].id != alone[1].tokens[k].id;
  }
  EXPECT_TRUE(differs);
  // Seed 0 asks for a fresh sample each time.
  sampled.seed = 0;
  const Output first = collect(*client, prompts[0], sampled);
  const Output second = collect(*client, prompts[0], sampled);
  bool fresh = false;
  for (size_t k = 0; k < first.tokens.size() && k < second.tokens.size(); ++k) {
    fresh |= first.tokens[k].id != second.tokens[k].id;
  }
  EXPECT_TRUE(fresh);
  fs::remove_all(dir);
}

TEST(RandomModel, CancelDuringChunkedPrefillFreesTheCacheRowForTheNextRequest) {
  const std::string dir = test_temp_dir("cancel");
  model::RandomModelSpec spec;
  ASSERT_TRUE(model::random_model_preset("tiny-llama", &spec));
  spec.max_positions = 4096;
  std::string error;
  ASSERT_TRUE(model::write_random_model(dir, spec, &error)) << error;
  // One running sequence at a time, 4 prompt tokens per step: a 3000-byte prompt takes 750
  // steps to prefill, and the second request waits behind it.
  Daemon daemon({"--set", "model.backend=torch", "--set", "model.path=" + dir, "--set",
                 "model.threads=1", "--set", "scheduler.max_concurrent=1", "--set",
                 "scheduler.max_batch_tokens=4"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  std::unique_ptr<Stream> long_one, next_one;
  ASSERT_TRUE(client->generate(std::string(3000, 'x'), greedy(8), &long_one).ok());
  ASSERT_TRUE(client->generate("after", greedy(8), &next_one).ok());
  const auto admitted = [&] { return long_one->info().admitted_ns != 0; };
  for (int i = 0; i < 2000 && !admitted(); ++i) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(admitted());
  for (int i = 0; i < 1000 && next_one->info().queue_position != 1; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(next_one->info().queue_position, 1u);
  EXPECT_EQ(long_one->info().first_token_ns, 0u) << "prefill finished before the cancel";
  const auto t0 = std::chrono::steady_clock::now();
  long_one->cancel();
  Token t;
  Status s;
  while ((s = long_one->next(&t, 10s)).ok()) {
  }
  EXPECT_TRUE(s.end_of_stream()) << s.to_string();
  EXPECT_EQ(long_one->finish_reason(), FinishReason::kCancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  // The waiting request takes the only KV cache row and runs to its end.
  size_t tokens = 0;
  while ((s = next_one->next(&t, 10s)).ok()) ++tokens;
  EXPECT_TRUE(s.end_of_stream()) << s.to_string();
  EXPECT_EQ(tokens, 8u);
  EXPECT_EQ(next_one->finish_reason(), FinishReason::kLength);
  fs::remove_all(dir);
}

TEST(RingctlTokenize, PrintsTheIdsTheDaemonUses) {
  const std::string dir = test_temp_dir("tokenize");
  std::string error;
  ASSERT_TRUE(write_scripted_model(dir, byte_tokens("x"), &error)) << error;
  ProcessResult r = run({RINGCTL_PATH, "tokenize", "--model", dir, "Hé<s>"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(r.output, "75 198 172 1\n");  // bytes + 3; "<s>" is the added token 1
  r = run({RINGCTL_PATH, "tokenize", "--model", dir + "/nowhere", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.errors.rfind("ringctl: " + dir + "/nowhere/tokenizer.json", 0), 0u) << r.errors;
  fs::remove_all(dir);
}

TEST(BadModelDirectory, FailsAtStartWithOneClearLine) {
  const std::string dir = test_temp_dir("bad");
  model::RandomModelSpec spec;
  ASSERT_TRUE(model::random_model_preset("tiny-gpt2", &spec));
  std::string error;
  ASSERT_TRUE(model::write_random_model(dir, spec, &error)) << error;
  fs::resize_file(dir + "/model.safetensors", fs::file_size(dir + "/model.safetensors") / 2);
  const std::string good = test_temp_dir("good");
  ASSERT_TRUE(model::write_random_model(good, spec, &error)) << error;
  struct Case {
    std::string path;
    std::string expected;
    std::string extra = "daemon.log_level=info";
    std::string extra2 = "daemon.log_level=info";
  };
  const Case cases[] = {
      {dir + "/nowhere", "ringserved: model: " + dir + "/nowhere/config.json: cannot be read"},
      {dir, "ringserved: model: " + dir + "/model.safetensors: tensor '"},
      // The block formats' kernels are CPU kernels: refused at start, whatever the machine has.
      {good,
       "ringserved: model: model.dtype 'int8' runs on the CPU only (its kernels are CPU "
       "kernels); on 'cuda' use float32, bfloat16 or float16",
       "model.dtype=int8", "model.device=cuda"},
  };
  for (const Case& c : cases) {
    const ProcessResult r = run({RINGSERVED_PATH, "--name", unique_name("bad"), "--set",
                                 "model.path=" + c.path, "--set", c.extra, "--set", c.extra2});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.errors.rfind(c.expected, 0), 0u) << r.errors;
    EXPECT_EQ(std::count(r.errors.begin(), r.errors.end(), '\n'), 1) << r.errors;
  }
  fs::remove_all(dir);
  fs::remove_all(good);
}

TEST(Startup, StopSignalWhileTheModelLoadsExitsCleanly) {
  // The daemon reads config.json from a FIFO, so it is certain to be loading when the signal
  // comes: the test holds the file's bytes back until after the SIGTERM.
  const std::string dir = test_temp_dir("fifo");
  model::RandomModelSpec spec;
  ASSERT_TRUE(model::random_model_preset("tiny-gpt2", &spec));
  std::string error;
  ASSERT_TRUE(model::write_random_model(dir, spec, &error)) << error;
  const std::string config_path = dir + "/config.json";
  std::string config;
  ASSERT_EQ(model::read_file(config_path, &config), model::ReadFileResult::kOk);
  ASSERT_FALSE(config.empty());
  fs::remove(config_path);
  ASSERT_EQ(::mkfifo(config_path.c_str(), 0600), 0);

  const std::string name = unique_name("loading");
  int out = -1, err = -1;
  const pid_t pid = spawn({RINGSERVED_PATH, "--name", name, "--set", "model.backend=torch", "--set",
                           "model.path=" + dir},
                          &out, &err);
  ASSERT_GT(pid, 0);
  // A non-blocking open for writing succeeds only once the daemon has the FIFO open to read.
  int writer = -1;
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (writer < 0 && std::chrono::steady_clock::now() < give_up) {
    writer = ::open(config_path.c_str(), O_WRONLY | O_NONBLOCK);
    if (writer < 0) std::this_thread::sleep_for(5ms);
  }
  ASSERT_GE(writer, 0) << "the daemon never opened " << config_path;
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  std::this_thread::sleep_for(100ms);  // delivered while the daemon waits for the bytes
  // A daemon that the signal killed has closed its end: the write then fails (EPIPE) and the
  // exit code below says what happened, instead of SIGPIPE ending this test.
  const auto old_sigpipe = ::signal(SIGPIPE, SIG_IGN);
  const ssize_t written = ::write(writer, config.data(), config.size());
  ::signal(SIGPIPE, old_sigpipe);
  ::close(writer);
  EXPECT_EQ(written, static_cast<ssize_t>(config.size()));

  const ProcessResult r = testing::collect(pid, out, err);
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_NE(r.errors.find("stop signal during startup"), std::string::npos) << r.errors;
  // Nothing is left behind: no segment, no lock file; the name can serve again.
  EXPECT_NE(::access(("/dev/shm/ringserve." + name).c_str(), F_OK), 0);
  const std::string lock = daemon::InstanceLock::default_dir() + "/ringserve." + name + ".lock";
  EXPECT_NE(::access(lock.c_str(), F_OK), 0) << lock;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ringserve::testing
