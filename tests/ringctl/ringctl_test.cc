// ringctl end to end: a real ringserved and the real ringctl binary. `metrics` output is parsed
// as the Prometheus text format and its numbers checked against requests made here; the
// textfile mode is followed through a daemon stop and restart; `chat` gets piped stdin and
// its answers are compared with the same conversations sent through the client library
// (seeded sampling, so the same history gives the same answer), and Ctrl-C is sent to it
// during an answer and at the prompt.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ringserve/client.h"
#include "tests/daemon_process.h"

namespace ringserve::testing {
namespace {

using namespace std::chrono_literals;

// ---- A ringctl process with all three standard streams piped ----

class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    pid_ = spawn(argv, &out_fd_, &err_fd_, &in_);
    if (pid_ < 0) std::abort();
    ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
    ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
  }
  ~Child() {
    close_stdin();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void write(const std::string& text) {
    ASSERT_EQ(::write(in_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  void close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }
  void signal(int sig) const { ::kill(pid_, sig); }

  // Reads stdout and stderr until done() holds or the time is up; returns done().
  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline || (out_fd_ < 0 && err_fd_ < 0)) {
        return done();
      }
      pump(10);
    }
    return true;
  }

  // Closes stdin, reads to the end and reaps; SIGKILL after `timeout` (exit code 137).
  ProcessResult finish(std::chrono::milliseconds timeout = 60s) {
    close_stdin();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out_fd_ >= 0 || err_fd_ >= 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        break;
      }
      pump(10);
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    while (out_fd_ >= 0 || err_fd_ >= 0) pump(10);
    ProcessResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.output = out_;
    r.errors = err_;
    return r;
  }

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  pid_t pid() const { return pid_; }
  // The caller reaped the process itself: nothing left to kill or wait for.
  void forget_pid() { pid_ = -1; }

 private:
  void pump(int timeout_ms) {
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    if (::poll(fds, 2, timeout_ms) <= 0) return;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? out_ : err_).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EAGAIN) {
        ::close(fds[i].fd);
        (i == 0 ? out_fd_ : err_fd_) = -1;
      }
    }
  }

  pid_t pid_ = -1;
  int in_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
};

// ---- The Prometheus text format (0.0.4), as a scraper reads it ----

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string value_text;
  double value = 0;
};

struct Scrape {
  std::map<std::string, std::string> help;
  std::map<std::string, std::string> type;
  std::vector<Sample> samples;
  std::vector<std::string> errors;  // empty: the text is well-formed by the checks below

  // The one sample named `name` (any labels); NaN and an error when there is not exactly one.
  double value(const std::string& name) {
    const Sample* found = nullptr;
    int n = 0;
    for (const Sample& s : samples) {
      if (s.name == name) {
        found = &s;
        ++n;
      }
    }
    if (n != 1) {
      ADD_FAILURE() << name << " appears " << n << " times";
      return std::nan("");
    }
    return found->value;
  }
};

// The family a sample belongs to: its own name, or a histogram's for _bucket/_sum/_count.
std::string family_of(const Scrape& p, const std::string& sample) {
  if (p.type.count(sample) != 0) return sample;
  for (const char* name : {"_bucket", "_sum", "_count"}) {
    const std::string suffix = name;
    if (sample.size() > suffix.size() &&
        sample.compare(sample.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::string base = sample.substr(0, sample.size() - suffix.size());
      const auto t = p.type.find(base);
      if (t != p.type.end() && t->second == "histogram") return base;
    }
  }
  return {};
}

Scrape parse_exposition(const std::string& text) {
  Scrape p;
  static const std::regex kSample(R"re(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+))re");
  static const std::regex kLabel(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$))re");
  static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                               "untyped"};
  std::set<std::string> finished;  // families whose lines ended: each family's lines are adjacent
  std::string current;
  if (text.empty() || text.back() != '\n') p.errors.push_back("text does not end in a newline");
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    std::string family;
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      const size_t space = line.find(' ', 7);
      family = line.substr(7, space == std::string::npos ? std::string::npos : space - 7);
      const std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
      const bool is_help = line[2] == 'H';
      auto& table = is_help ? p.help : p.type;
      if (table.count(family) != 0) p.errors.push_back("second HELP/TYPE: " + line);
      if (!is_help && kTypes.count(rest) == 0) p.errors.push_back("bad type: " + line);
      if (!is_help && p.help.count(family) == 0) p.errors.push_back("TYPE before HELP: " + line);
      table[family] = rest;
    } else if (!line.empty() && line[0] == '#') {
      continue;  // a comment
    } else {
      std::smatch m;
      if (!std::regex_match(line, m, kSample)) {
        p.errors.push_back("not a sample: '" + line + "'");
        continue;
      }
      Sample s;
      s.name = m[1];
      const std::string labels = m[3];
      auto it = std::sregex_iterator(labels.begin(), labels.end(), kLabel);
      size_t covered = 0;
      for (; it != std::sregex_iterator(); ++it) {
        if (static_cast<size_t>(it->position()) != covered) break;
        s.labels[(*it)[1]] = (*it)[2];
        covered += static_cast<size_t>(it->length());
      }
      if (covered != labels.size()) p.errors.push_back("bad labels: " + line);
      s.value_text = m[4];
      char* stop = nullptr;
      s.value = std::strtod(s.value_text.c_str(), &stop);
      if (*stop != '\0') p.errors.push_back("bad value: " + line);
      family = family_of(p, s.name);
      if (family.empty()) p.errors.push_back("no TYPE for " + s.name);
      if (p.help.count(family) == 0) p.errors.push_back("no HELP for " + s.name);
      const auto t = p.type.find(family);
      if (t != p.type.end() && t->second == "counter" &&
          (s.name.size() < 6 || s.name.compare(s.name.size() - 6, 6, "_total") != 0)) {
        p.errors.push_back("counter without _total: " + s.name);
      }
      p.samples.push_back(s);
    }
    if (family != current) {
      if (finished.count(family) != 0) p.errors.push_back("family split up: " + family);
      if (!current.empty()) finished.insert(current);
      current = family;
    }
  }
  // Histograms: per label set (without le), buckets in increasing le, cumulative, ending with
  // +Inf equal to _count, and a _sum.
  for (const auto& [family, type] : p.type) {
    if (type != "histogram") continue;
    double last_le = -1;
    double last_count = -1;
    std::string last_le_text;
    bool have_sum = false;
    double count = -1;
    for (const Sample& s : p.samples) {
      if (s.name == family + "_bucket") {
        const auto le = s.labels.find("le");
        if (le == s.labels.end()) {
          p.errors.push_back(family + " bucket without le");
          continue;
        }
        const double bound =
            le->second == "+Inf" ? HUGE_VAL : std::strtod(le->second.c_str(), nullptr);
        if (bound <= last_le) p.errors.push_back(family + " le not increasing at " + le->second);
        if (s.value < last_count) p.errors.push_back(family + " not cumulative at " + le->second);
        last_le = bound;
        last_count = s.value;
        last_le_text = le->second;
      } else if (s.name == family + "_sum") {
        have_sum = s.value >= 0;
      } else if (s.name == family + "_count") {
        count = s.value;
      }
    }
    if (last_le_text != "+Inf") p.errors.push_back(family + " does not end with le=\"+Inf\"");
    if (last_count != count) p.errors.push_back(family + ": +Inf bucket != _count");
    if (!have_sum) p.errors.push_back(family + " has no _sum >= 0");
  }
  return p;
}

std::string errors_of(const Scrape& p) {
  std::string all;
  for (const std::string& e : p.errors) all += e + "\n";
  return all;
}

// ---- Helpers ----

std::unique_ptr<Client> connect_to(const std::string& name) {
  std::unique_ptr<Client> client;
  const Status s = Client::connect(name, &client);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return client;
}

// True once the daemon counts `completed` requests, and no more. The counters trail a finished
// stream by up to one loop iteration (docs/PROTOCOL.md), so a test that reads them right after
// its last stream waits here first.
bool counted(Client& client, uint64_t completed) {
  DaemonStatus st;
  return eventually([&] { return client.status(&st).ok() && st.completed >= completed; }) &&
         st.completed == completed;
}

// The text of a request that `started` (generate's or chat's status) to its end.
std::string text_to_end(const Status& started, Stream* stream) {
  EXPECT_TRUE(started.ok()) << started.to_string();
  if (!started.ok()) return {};
  std::string text;
  Token t;
  Status s;
  while ((s = stream->next(&t)).ok()) text += t.text;
  EXPECT_TRUE(s.end_of_stream()) << s.to_string();
  return text;
}

// One request through the library, read to its end.
std::string generate(Client& client, const std::string& prompt, uint32_t max_tokens) {
  GenerateParams params;
  params.max_tokens = max_tokens;
  std::unique_ptr<Stream> stream;
  const Status s = client.generate(prompt, params, &stream);
  return text_to_end(s, stream.get());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
  }
  return names;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/ringctl-test-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    for (const std::string& n : list_dir(path_)) ::unlink((path_ + "/" + n).c_str());
    ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class RingctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }
};

// ---- metrics ----

using RingctlMetrics = RingctlTest;

TEST_F(RingctlMetrics, PrometheusTextParsesAndCountsMatch) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon.name());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(generate(*client, "abcd", 4), "abcd");
  ASSERT_TRUE(counted(*client, 3));

  const ProcessResult r = run({RINGCTL_PATH, "--name", daemon.name(), "metrics"});
  ASSERT_EQ(r.exit_code, 0) << r.errors;
  Scrape p = parse_exposition(r.output);
  EXPECT_TRUE(p.errors.empty()) << errors_of(p) << r.output;
  for (const Sample& s : p.samples) {
    EXPECT_EQ(s.labels.count("name"), 1u) << s.name;
    if (s.labels.count("name") != 0) {
      EXPECT_EQ(s.labels.at("name"), daemon.name());
    }
    EXPECT_EQ(s.name.rfind("ringserve_", 0), 0u) << s.name;
  }
  EXPECT_EQ(p.type["ringserve_up"], "gauge");
  EXPECT_EQ(p.type["ringserve_requests_completed_total"], "counter");
  EXPECT_EQ(p.type["ringserve_end_to_end_seconds"], "histogram");
  EXPECT_EQ(p.value("ringserve_up"), 1);
  EXPECT_EQ(p.value("ringserve_requests_received_total"), 3);
  EXPECT_EQ(p.value("ringserve_requests_admitted_total"), 3);
  EXPECT_EQ(p.value("ringserve_requests_completed_total"), 3);
  EXPECT_EQ(p.value("ringserve_requests_rejected_total"), 0);
  EXPECT_EQ(p.value("ringserve_requests_cancelled_total"), 0);
  EXPECT_EQ(p.value("ringserve_requests_failed_total"), 0);
  EXPECT_EQ(p.value("ringserve_tokens_generated_total"), 12);
  EXPECT_GE(p.value("ringserve_steps_total"), 4);
  EXPECT_GE(p.value("ringserve_backend_step_seconds_total"), 0);
  EXPECT_GT(p.value("ringserve_daemon_step_seconds_total"), 0);
  EXPECT_GE(p.value("ringserve_wake_thread_seconds_total"), 0);
  EXPECT_EQ(p.value("ringserve_requests_running"), 0);
  EXPECT_EQ(p.value("ringserve_requests_waiting"), 0);
  EXPECT_EQ(p.value("ringserve_slots_in_use"), 0);
  EXPECT_EQ(p.value("ringserve_info"), 1);
  EXPECT_LT(p.value("ringserve_heartbeat_age_seconds"), 5);
  DaemonStatus st;
  ASSERT_TRUE(client->status(&st).ok());
  EXPECT_EQ(p.value("ringserve_slots"), st.slots);
  EXPECT_EQ(p.value("ringserve_max_concurrent"), st.max_concurrent);
  EXPECT_EQ(p.value("ringserve_max_queue"), st.max_queue);
  // Every request has a queue wait, a first token and an end; 4 tokens make 3 gaps each.
  EXPECT_EQ(p.value("ringserve_queue_wait_seconds_count"), 3);
  EXPECT_EQ(p.value("ringserve_time_to_first_token_seconds_count"), 3);
  EXPECT_EQ(p.value("ringserve_inter_token_seconds_count"), 9);
  EXPECT_EQ(p.value("ringserve_end_to_end_seconds_count"), 3);
  // Buckets in seconds: the first edge is 1 us, each next one twice that, 32 lines in all.
  std::vector<std::string> edges;
  for (const Sample& s : p.samples) {
    if (s.name == "ringserve_end_to_end_seconds_bucket") edges.push_back(s.labels.at("le"));
  }
  ASSERT_EQ(edges.size(), 32u);
  EXPECT_EQ(edges[0], "1e-06");
  EXPECT_EQ(edges[20], "1.048576");
  // A request of 4 echo tokens takes well under a second, end to end.
  for (const Sample& s : p.samples) {
    if (s.name == "ringserve_end_to_end_seconds_bucket" && s.labels.at("le") == "1.048576") {
      EXPECT_EQ(s.value, 3);
    }
  }
  const double sum = p.value("ringserve_end_to_end_seconds_sum");
  EXPECT_GT(sum, 0);
  EXPECT_LT(sum, 3.0);
  // _sum is the daemon's exact total, not an estimate from the buckets.
  DaemonMetrics m;
  ASSERT_TRUE(client->metrics(&m).ok());
  EXPECT_NEAR(sum, static_cast<double>(m.end_to_end.sum_ns) / 1e9, 1e-6 * sum);
  EXPECT_NEAR(p.value("ringserve_inter_token_seconds_sum"),
              static_cast<double>(m.inter_token.sum_ns) / 1e9, 1e-6);
  // The KV cache's families are there even without a paged cache (echo), at 0: a dashboard's
  // queries find them on every daemon.
  for (const char* gauge :
       {"ringserve_kv_cache_block_positions", "ringserve_kv_cache_blocks",
        "ringserve_kv_cache_blocks_in_use", "ringserve_kv_cache_blocks_cached"}) {
    EXPECT_EQ(p.type[gauge], "gauge") << gauge;
    EXPECT_EQ(p.value(gauge), 0) << gauge;
  }
  for (const char* counter :
       {"ringserve_prompt_tokens_total", "ringserve_prompt_tokens_cached_total",
        "ringserve_kv_cache_preemptions_total"}) {
    EXPECT_EQ(p.type[counter], "counter") << counter;
    EXPECT_EQ(p.value(counter), 0) << counter;
  }
}

// The built-in model's paged KV cache: the same prompt twice, the second served from the
// prefix cache; the scrape parses and agrees with Client::status() (tests/model_info_test.cc
// checks the numbers themselves).
TEST_F(RingctlMetrics, KvCacheGaugesAndPromptCountersMatchTheStatus) {
  Daemon daemon({"--set", "model.backend=torch", "--set", "model.threads=1", "--set",
                 "model.max_seq_len=128", "--set", "scheduler.max_concurrent=2"});
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon.name());
  const std::string prompt = "A prompt of some fifty bytes, sent twice over here.";
  generate(*client, prompt, 3);  // sampled: the texts may differ, the prompts' blocks do not
  generate(*client, prompt, 3);
  ASSERT_TRUE(counted(*client, 2));
  DaemonStatus st;
  ASSERT_TRUE(
      eventually([&] { return client->status(&st).ok() && st.kv_cache.blocks_in_use == 0; }));

  const ProcessResult r = run({RINGCTL_PATH, "--name", daemon.name(), "metrics"});
  ASSERT_EQ(r.exit_code, 0) << r.errors;
  Scrape p = parse_exposition(r.output);
  EXPECT_TRUE(p.errors.empty()) << errors_of(p) << r.output;
  const KvCacheStatus& kv = st.kv_cache;
  EXPECT_EQ(kv.blocks_total, 2u * 128 / 16);
  EXPECT_EQ(p.value("ringserve_kv_cache_block_positions"), 16);
  EXPECT_EQ(p.value("ringserve_kv_cache_blocks"), kv.blocks_total);
  EXPECT_EQ(p.value("ringserve_kv_cache_blocks_in_use"), 0);
  EXPECT_EQ(p.value("ringserve_kv_cache_blocks_cached"), kv.blocks_cached);
  EXPECT_GT(kv.blocks_cached, 0u);
  // 52 tokens each (BOS and one id per byte); the second took its first 3 blocks from the cache.
  EXPECT_EQ(p.value("ringserve_prompt_tokens_total"), 2 * 52);
  EXPECT_EQ(p.value("ringserve_prompt_tokens_cached_total"), 48);
  EXPECT_EQ(p.value("ringserve_kv_cache_preemptions_total"), 0);
  EXPECT_EQ(kv.prompt_tokens, 2u * 52);
  EXPECT_EQ(kv.prompt_tokens_cached, 48u);
}

TEST_F(RingctlMetrics, DaemonNotRunning) {
  const std::string name = unique_name("nobody");
  ProcessResult r = run({RINGCTL_PATH, "--name", name, "metrics"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.output, "");
  EXPECT_NE(r.errors.find("daemon not running"), std::string::npos) << r.errors;

  // The textfile still says so, replacing whatever an earlier run wrote.
  TempDir dir;
  const std::string file = dir.path() + "/ringserve_" + name + ".prom";
  {
    std::ofstream old(file);
    old << "ringserve_up{name=\"" << name << "\"} 1\n";
  }
  r = run({RINGCTL_PATH, "--name", name, "metrics", "--textfile", dir.path()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.errors.find("daemon not running"), std::string::npos) << r.errors;
  Scrape p = parse_exposition(read_file(file));
  EXPECT_TRUE(p.errors.empty()) << errors_of(p);
  EXPECT_EQ(p.value("ringserve_up"), 0);
  EXPECT_EQ(p.samples.size(), 1u);
  EXPECT_EQ(list_dir(dir.path()).size(), 1u);

  // A name the library refuses writes nothing (it could lead out of DIR).
  r = run({RINGCTL_PATH, "--name", "../escape", "metrics", "--textfile", dir.path()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(list_dir(dir.path()).size(), 1u);
  r = run({RINGCTL_PATH, "--name", name, "metrics", "--interval-ms", "10"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.errors.find("--textfile"), std::string::npos) << r.errors;
}

TEST_F(RingctlMetrics, TextfileOnceWritesOneFileAtomically) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon.name());
  EXPECT_EQ(generate(*client, "xy", 2), "xy");
  ASSERT_TRUE(counted(*client, 1));
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const ProcessResult r =
      run({RINGCTL_PATH, "--name", daemon.name(), "metrics", "--textfile", dir.path()});
  ASSERT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(r.output, "");
  const std::string file = "ringserve_" + daemon.name() + ".prom";
  EXPECT_EQ(list_dir(dir.path()), std::vector<std::string>{file});  // no temporary file left
  Scrape p = parse_exposition(read_file(dir.path() + "/" + file));
  EXPECT_TRUE(p.errors.empty()) << errors_of(p);
  EXPECT_EQ(p.value("ringserve_up"), 1);
  EXPECT_EQ(p.value("ringserve_requests_completed_total"), 1);
  EXPECT_EQ(p.value("ringserve_tokens_generated_total"), 2);
}

TEST_F(RingctlMetrics, TextfileLoopFollowsTheDaemonThroughARestart) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  TempDir dir;
  const std::string file = dir.path() + "/ringserve_" + daemon.name() + ".prom";
  Child ringctl({RINGCTL_PATH, "--name", daemon.name(), "metrics", "--textfile", dir.path(),
                 "--interval-ms", "20"});
  // Every read of the file, at any moment, is a whole exposition.
  int reads = 0;
  auto file_says = [&](const std::string& metric, double value) {
    return [&, metric, value] {
      const std::string text = read_file(file);
      if (text.empty()) return false;  // not written yet
      ++reads;
      Scrape p = parse_exposition(text);
      EXPECT_TRUE(p.errors.empty()) << errors_of(p) << text;
      for (const Sample& s : p.samples) {
        if (s.name == metric) return s.value == value;
      }
      return false;
    };
  };
  ASSERT_TRUE(ringctl.wait_for(file_says("ringserve_up", 1), 10s)) << ringctl.err();
  {
    auto client = connect_to(daemon.name());
    EXPECT_EQ(generate(*client, "ab", 3), "aba");
    EXPECT_EQ(generate(*client, "ab", 3), "aba");
  }
  EXPECT_TRUE(ringctl.wait_for(file_says("ringserve_requests_completed_total", 2), 10s));
  EXPECT_EQ(daemon.stop().exit_code, 0);
  EXPECT_TRUE(ringctl.wait_for(file_says("ringserve_up", 0), 10s)) << read_file(file);
  ASSERT_TRUE(daemon.restart());
  EXPECT_TRUE(ringctl.wait_for(file_says("ringserve_up", 1), 10s)) << read_file(file);
  // A new daemon, new counters.
  EXPECT_TRUE(ringctl.wait_for(file_says("ringserve_requests_completed_total", 0), 10s));
  ringctl.signal(SIGTERM);
  const ProcessResult r = ringctl.finish(10s);
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  // The daemon's absence was reported, once (the file said so many times meanwhile).
  const size_t first = r.errors.find("ringctl: ");
  EXPECT_NE(first, std::string::npos) << r.errors;
  EXPECT_EQ(r.errors.find("ringctl: ", first + 1), std::string::npos) << r.errors;
  EXPECT_EQ(list_dir(dir.path()).size(), 1u);  // no temporary file left
  EXPECT_GT(reads, 4);
}

// ---- chat ----

// One daemon with the built-in model for all chat tests. Sampling is seeded, so a conversation
// sent again gives the same answer; seed 2 with these prompts gives different answers with and
// without the history (checked, so a changed model cannot make the tests vacuous).
class RingctlChat : public RingctlTest {
 protected:
  static void SetUpTestSuite() {
    RingctlTest::SetUpTestSuite();
    daemon_ = new Daemon({"--set", "model.backend=torch", "--set", "model.threads=1"});
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(daemon_->ready()); }

  static GenerateParams params(uint32_t max_tokens) {
    GenerateParams p;
    p.seed = 2;
    p.temperature = 1;
    p.max_tokens = max_tokens;
    return p;
  }
  static std::vector<std::string> command(uint32_t max_tokens) {
    return {RINGCTL_PATH,    "--name",
            daemon_->name(), "chat",
            "--seed",        "2",
            "--temperature", "1",
            "--max-tokens",  std::to_string(max_tokens)};
  }
  // What the daemon answers to `history`, through the library.
  static std::string answer(const std::vector<ChatMessage>& history, uint32_t max_tokens) {
    auto client = connect_to(daemon_->name());
    std::unique_ptr<Stream> stream;
    const Status s = client->chat(history, params(max_tokens), &stream);
    return text_to_end(s, stream.get());
  }
  static DaemonStatus status() {
    DaemonStatus st;
    EXPECT_TRUE(connect_to(daemon_->name())->status(&st).ok());
    return st;
  }

  static Daemon* daemon_;
  const std::string u1_ = "Hello, who are you?";
  const std::string u2_ = "What did you say?";
};

Daemon* RingctlChat::daemon_ = nullptr;

TEST_F(RingctlChat, SecondRequestCarriesTheHistory) {
  const uint32_t n = 32;
  const std::string a1 = answer({{"user", u1_}}, n);
  const std::string a2 = answer({{"user", u1_}, {"assistant", a1}, {"user", u2_}}, n);
  ASSERT_NE(a2, answer({{"user", u2_}}, n)) << "these prompts no longer tell history apart";
  ASSERT_FALSE(a1.empty());

  Child ringctl(command(n));
  ringctl.write(u1_ + "\n" + u2_ + "\n");
  const ProcessResult r = ringctl.finish();
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(r.output, a1 + "\n" + a2 + "\n");  // no "> " prompt: stdin is no terminal
}

TEST_F(RingctlChat, ResetForgetsAllButTheSystemPrompt) {
  const uint32_t n = 32;
  const std::string system = "You answer in riddles.";
  const std::string a1 = answer({{"system", system}, {"user", u1_}}, n);
  const std::string a2 = answer({{"system", system}, {"user", u2_}}, n);
  ASSERT_NE(a2, answer({{"system", system}, {"user", u1_}, {"assistant", a1}, {"user", u2_}}, n));
  ASSERT_NE(a2, answer({{"user", u2_}}, n)) << "the system prompt no longer changes the answer";

  std::vector<std::string> argv = command(n);
  argv.insert(argv.end(), {"--system", system});
  Child ringctl(argv);
  ringctl.write(u1_ + "\n\n/reset\n" + u2_);  // an empty line is skipped; no final newline
  const ProcessResult r = ringctl.finish();
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(r.output, a1 + "\n" + a2 + "\n");
}

TEST_F(RingctlChat, CtrlCCancelsTheAnswerKeepsWhatWasShownAndChatGoesOn) {
  const uint32_t n = 160;
  const uint64_t cancelled_before = status().cancelled;
  Child ringctl(command(n));
  ringctl.write(u1_ + "\n");
  ASSERT_TRUE(ringctl.wait_for([&] { return !ringctl.out().empty(); }, 60s)) << ringctl.err();
  // Freeze the daemon so the answer cannot end on its own before Ctrl-C reaches ringctl.
  ::kill(daemon_->pid(), SIGSTOP);
  ringctl.signal(SIGINT);
  std::this_thread::sleep_for(200ms);
  ::kill(daemon_->pid(), SIGCONT);
  ASSERT_TRUE(ringctl.wait_for(
      [&] { return ringctl.err().find("answer cancelled") != std::string::npos; }, 30s))
      << ringctl.err();
  // stdout was flushed before the notice: what was shown, then the newline ending it.
  ringctl.wait_for([] { return false; }, 100ms);
  const std::string shown = ringctl.out();
  ASSERT_GE(shown.size(), 2u);
  ASSERT_EQ(shown.back(), '\n');
  const std::string partial = shown.substr(0, shown.size() - 1);
  EXPECT_LT(partial.size(), answer({{"user", u1_}}, n).size());
  EXPECT_EQ(status().cancelled, cancelled_before + 1);

  ringctl.write(u2_ + "\n");
  const ProcessResult r = ringctl.finish();
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  const std::string a2 = answer({{"user", u1_}, {"assistant", partial}, {"user", u2_}}, n);
  EXPECT_EQ(r.output, shown + a2 + "\n");
}

TEST_F(RingctlChat, CtrlCAtThePromptExitsZero) {
  const uint32_t n = 8;
  const std::string a1 = answer({{"user", u1_}}, n);
  Child ringctl(command(n));
  ringctl.write(u1_ + "\n");
  // ringctl prints the newline after the answer ended and before it waits at the prompt.
  ASSERT_TRUE(ringctl.wait_for([&] { return ringctl.out() == a1 + "\n"; }, 60s)) << ringctl.out();
  ringctl.signal(SIGINT);  // stdin stays open: ringctl is waiting at the prompt
  const ProcessResult r = ringctl.finish(10s);
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(r.output, a1 + "\n");
}

// Lines starting with '/' are ringctl's commands, never the model's messages: /help lists them,
// an unknown one is an error naming it, /quit and /exit end the chat at once (stdin still
// open, lines after them unread), and "//" sends a message that starts with '/'.
TEST_F(RingctlChat, SlashCommandsAreNotSentToTheModel) {
  const uint32_t n = 16;
  const std::string a1 = answer({{"user", "/etc is a directory"}}, n);
  const uint64_t received_before = status().received;
  Child ringctl(command(n));
  ringctl.write("/help\n/bogus now\n//etc is a directory\n/quit\nnever sent\n");
  // Exits on /quit with stdin open: finish() closing it must not be what ends the chat.
  ASSERT_TRUE(ringctl.wait_for([&] { return ringctl.out().ends_with(a1 + "\n"); }, 60s))
      << ringctl.out() << ringctl.err();
  const ProcessResult r = ringctl.finish(10s);
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  const std::string help = r.output.substr(0, r.output.size() - a1.size() - 1);
  for (const char* listed : {"/help", "/reset", "/quit", "/exit", "//"}) {
    EXPECT_NE(help.find(listed), std::string::npos) << listed << " not in /help's\n" << help;
  }
  EXPECT_EQ(r.output, help + a1 + "\n");
  EXPECT_NE(r.errors.find("ringctl: unknown command '/bogus' (/help lists the commands"),
            std::string::npos)
      << r.errors;
  EXPECT_EQ(status().received, received_before + 1);  // "//etc ..." only
}

TEST_F(RingctlChat, ExitEndsTheChatWithoutWaitingForEndOfInput) {
  const uint64_t received_before = status().received;
  Child ringctl(command(8));
  ringctl.write("/exit\nnever sent\n");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  int status_code = 0;
  pid_t reaped = 0;
  while (reaped == 0 && std::chrono::steady_clock::now() < deadline) {
    reaped = ::waitpid(ringctl.pid(), &status_code, WNOHANG);
    if (reaped == 0) std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(reaped, ringctl.pid()) << "ringctl did not exit on /exit with stdin open";
  ringctl.forget_pid();
  EXPECT_TRUE(WIFEXITED(status_code) && WEXITSTATUS(status_code) == 0) << status_code;
  EXPECT_EQ(status().received, received_before);
}

// A daemon of the built-in model (one id per byte) whose conversations outgrow it within a few
// turns: by default a context of 192 positions; `limit` can make it the request's bytes instead.
class SmallContext {
 public:
  explicit SmallContext(const std::string& limit = "model.max_seq_len=192")
      : daemon_({"--set", "model.backend=torch", "--set", "model.threads=1", "--set", limit}) {}
  const Daemon& daemon() const { return daemon_; }

  static GenerateParams params() {
    GenerateParams p;
    p.seed = 2;
    p.temperature = 1;
    p.max_tokens = 24;
    p.stop = {"\n"};  // one line per answer
    return p;
  }
  std::vector<std::string> command(const std::string& system) const {
    return {RINGCTL_PATH,    "--name", daemon_.name(), "chat", "--system", system, "--seed", "2",
            "--temperature", "1",      "--max-tokens", "24",   "--stop",   "\n"};
  }
  // `history` through the library; false when the daemon finds the prompt too long.
  bool answer(const std::vector<ChatMessage>& history, std::string* text) const {
    auto client = connect_to(daemon_.name());
    std::unique_ptr<Stream> stream;
    Status s = client->chat(history, params(), &stream);
    text->clear();
    Token t;
    while (s.ok() && (s = stream->next(&t)).ok()) *text += t.text;
    EXPECT_TRUE(s.end_of_stream() || s.code() == ErrorCode::kPromptTooLong) << s.to_string();
    return s.end_of_stream();
  }

 private:
  Daemon daemon_;
};

// The turns to drop before `history` + `question` fits, and the answer then, through the
// library: what ringctl is to do by itself.
size_t answer_dropping_oldest_turns(const SmallContext& small, std::vector<ChatMessage>* history,
                                    const std::string& question, std::string* text) {
  std::vector<ChatMessage> sent = *history;
  sent.push_back({"user", question});
  size_t dropped = 0;
  while (!small.answer(sent, text)) {
    EXPECT_GT(sent.size(), 2u) << "the question alone does not fit";
    if (sent.size() <= 2) return dropped;
    sent.erase(sent.begin() + 1, sent.begin() + 3);  // after the system prompt: a user turn and
    ++dropped;                                       // its answer
  }
  *history = std::move(sent);
  history->push_back({"assistant", *text});
  return dropped;
}

TEST_F(RingctlChat, ConversationOutgrowingTheContextDropsTheOldestTurnsAndGoesOn) {
  SmallContext small;
  ASSERT_TRUE(small.daemon().ready());
  const std::string system = "Be brief.";
  // Short questions pile up turns; the long one needs several of them dropped at once.
  const std::string long_question =
      "Tell me the whole story of the old ship that sailed from the harbour at dawn, and of its "
      "crew.";
  const std::vector<std::string> questions = {"Why?",        "And then?", "Who said so?", "Where?",
                                              long_question, "Why?",      "Really?"};
  std::vector<ChatMessage> history = {{"system", system}};
  std::string expected_output;
  std::vector<std::string> dropped;  // the count in each expected notice, in order
  for (const std::string& q : questions) {
    std::string a;
    const size_t k = answer_dropping_oldest_turns(small, &history, q, &a);
    expected_output += a + "\n";
    if (k > 0) dropped.push_back(std::to_string(k));
  }
  // Checked, so a changed model cannot make the test vacuous: several overflows, one of them
  // dropping more than one turn.
  ASSERT_GE(dropped.size(), 2u);
  size_t several = 0;
  for (const std::string& k : dropped) several += k != "1" ? 1 : 0;
  ASSERT_GE(several, 1u);

  std::string input;
  for (const std::string& q : questions) input += q + "\n";
  Child ringctl(small.command(system));
  ringctl.write(input);
  const ProcessResult r = ringctl.finish();
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(r.output, expected_output);  // every question answered, with the history trimmed
  // One notice per overflow, with the daemon's numbers, and nothing else on stderr.
  const std::regex notice(
      R"(ringctl: the conversation outgrew the context \((\d+) tokens, context 192\): )"
      R"(dropped the oldest (turn|(\d+) turns)\n)");
  std::vector<std::string> noticed;
  std::string rest = r.errors;
  std::smatch m;
  while (std::regex_search(rest, m, notice)) {
    EXPECT_EQ(m.position(), 0) << r.errors;
    EXPECT_GT(std::stoul(m[1]), 192u);
    EXPECT_NE(m[3], "1");  // "the oldest turn"
    noticed.push_back(m[2] == "turn" ? "1" : m[3].str());
    rest = m.suffix();
  }
  EXPECT_EQ(rest, "");
  EXPECT_EQ(noticed, dropped) << r.errors;
}

TEST_F(RingctlChat, QuestionTooLongEvenAloneIsDroppedAndTheConversationKept) {
  SmallContext small;
  ASSERT_TRUE(small.daemon().ready());
  const std::string system = "Be brief.";
  const std::string too_long(200, 'x');
  std::vector<ChatMessage> history = {{"system", system}};
  std::string a1;
  std::string a2;
  ASSERT_EQ(answer_dropping_oldest_turns(small, &history, "Why?", &a1), 0u);
  ASSERT_EQ(answer_dropping_oldest_turns(small, &history, "And then?", &a2), 0u);

  Child ringctl(small.command(system));
  ringctl.write("Why?\n" + too_long + "\nAnd then?\n");
  const ProcessResult r = ringctl.finish();
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  // The second answer saw the first turn: dropping it did not help the long question, so it
  // was given back.
  EXPECT_EQ(r.output, a1 + "\n" + a2 + "\n");
  // The daemon's words for the question with the system prompt alone; no notice of dropped turns.
  EXPECT_TRUE(std::regex_match(
      r.errors,
      std::regex(R"(ringctl: prompt too long: prompt is 2\d\d tokens; the context holds 192 )"
                 R"(\(prompt and output\)\n)"
                 R"(ringctl: too long even without the earlier turns: the question is dropped, )"
                 R"(the conversation kept\n)")))
      << r.errors;
}

// The client refuses a conversation larger than a request slot before the daemon sees it; the
// same trimming applies, with the client's numbers.
TEST_F(RingctlChat, ConversationOutgrowingTheRequestBytesDropsTheOldestTurns) {
  SmallContext small("transport.prompt_bytes=256");
  ASSERT_TRUE(small.daemon().ready());
  const std::string system = "Be brief.";
  const std::vector<std::string> questions = {
      "Tell me the whole story of the old ship that sailed from the harbour.",
      "And then what happened to the crew of that old ship, tell me please?",
      "Who said so, and where did they go after the storm had passed by?"};
  std::vector<ChatMessage> history = {{"system", system}};
  std::string expected_output;
  size_t overflows = 0;
  std::string input;
  for (const std::string& q : questions) {
    std::string a;
    overflows += answer_dropping_oldest_turns(small, &history, q, &a) > 0 ? 1 : 0;
    expected_output += a + "\n";
    input += q + "\n";
  }
  ASSERT_GE(overflows, 1u);

  Child ringctl(small.command(system));
  ringctl.write(input);
  const ProcessResult r = ringctl.finish();
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(r.output, expected_output);
  const std::regex notice(
      R"((ringctl: the conversation outgrew the context \(\d+ bytes, limit 256\): )"
      R"(dropped the oldest (turn|\d+ turns)\n)+)");
  EXPECT_TRUE(std::regex_match(r.errors, notice)) << r.errors;
}

// ---- numeric flags ----

// Each number ringctl once wrapped, cast or let through, with the message it gets now. Every
// one exits 2 (a usage error) before anything is sent.
struct BadFlag {
  std::vector<std::string> args;  // after "--name NAME"
  std::string message;
};

const std::vector<BadFlag>& bad_flags() {
  static const std::vector<BadFlag> cases = {
      {{"generate", "hi", "--max-tokens", "4294967297"},
       "ringctl: --max-tokens: 4294967297 is out of range 1..4294967295\n"},
      {{"generate", "hi", "--max-tokens", "-1"},
       "ringctl: --max-tokens: -1 is out of range 1..4294967295\n"},
      {{"generate", "hi", "--max-tokens", "0"},
       "ringctl: --max-tokens: 0 is out of range 1..4294967295\n"},
      {{"generate", "hi", "--max-tokens", "3.5"},
       "ringctl: --max-tokens: expected an integer in 1..4294967295, got '3.5'\n"},
      {{"generate", "hi", "--max-tokens", "4x"},
       "ringctl: --max-tokens: expected an integer in 1..4294967295, got '4x'\n"},
      {{"generate", "hi", "--timeout-ms", "-5"},
       "ringctl: --timeout-ms: -5 is out of range 0..4294967295\n"},
      {{"generate", "hi", "--queue-timeout-ms", "4294967296"},
       "ringctl: --queue-timeout-ms: 4294967296 is out of range 0..4294967295\n"},
      {{"generate", "hi", "--priority", "1e12"},
       "ringctl: --priority: expected an integer in -2147483648..2147483647, got '1e12'\n"},
      {{"generate", "hi", "--priority", "2147483648"},
       "ringctl: --priority: 2147483648 is out of range -2147483648..2147483647\n"},
      {{"generate", "hi", "--priority", "+1"},
       "ringctl: --priority: expected an integer in -2147483648..2147483647, got '+1'\n"},
      {{"generate", "hi", "--seed", "-1"},
       "ringctl: --seed: -1 is out of range 0..18446744073709551615\n"},
      {{"generate", "hi", "--seed", "18446744073709551616"},
       "ringctl: --seed: 18446744073709551616 is out of range 0..18446744073709551615\n"},
      {{"generate", "hi", "--top-k", "-1"}, "ringctl: --top-k: -1 is out of range 0..2147483647\n"},
      {{"generate", "hi", "--stop-token", "-1"},
       "ringctl: --stop-token: -1 is out of range 0..2147483647\n"},
      {{"generate", "hi", "--stop-token", "4294967296"},
       "ringctl: --stop-token: 4294967296 is out of range 0..2147483647\n"},
      {{"generate", "hi", "--temperature", "nan"},
       "ringctl: --temperature: expected a number in [0, 100], got 'nan'\n"},
      {{"generate", "hi", "--temperature", "inf"},
       "ringctl: --temperature: expected a number in [0, 100], got 'inf'\n"},
      {{"generate", "hi", "--temperature", "-inf"},
       "ringctl: --temperature: expected a number in [0, 100], got '-inf'\n"},
      {{"generate", "hi", "--temperature", "-1"},
       "ringctl: --temperature: -1 is out of range [0, 100]\n"},
      {{"generate", "hi", "--temperature", "1e400"},
       "ringctl: --temperature: 1e400 is out of range [0, 100]\n"},
      {{"generate", "hi", "--temperature", "0x1p3"},
       "ringctl: --temperature: expected a number in [0, 100], got '0x1p3'\n"},
      {{"generate", "hi", "--top-p", "0"}, "ringctl: --top-p: 0 is out of range (0, 1]\n"},
      {{"generate", "hi", "--min-p", "1"}, "ringctl: --min-p: 1 is out of range [0, 1)\n"},
      {{"generate", "hi", "--repetition-penalty", "nan"},
       "ringctl: --repetition-penalty: expected a number in (0, 100], got 'nan'\n"},
      {{"chat", "--max-tokens", "4294967297"},
       "ringctl: --max-tokens: 4294967297 is out of range 1..4294967295\n"},
      {{"chat", "--temperature", "nan"},
       "ringctl: --temperature: expected a number in [0, 100], got 'nan'\n"},
      {{"metrics", "--textfile", "DIR", "--interval-ms", "0"},
       "ringctl: --interval-ms: 0 is out of range 1..86400000\n"},
      {{"metrics", "--textfile", "DIR", "--interval-ms", "1.5"},
       "ringctl: --interval-ms: expected an integer in 1..86400000, got '1.5'\n"},
      {{"metrics", "--textfile", "DIR", "--interval-ms", "-20"},
       "ringctl: --interval-ms: -20 is out of range 1..86400000\n"},
  };
  return cases;
}

TEST_F(RingctlTest, NumericFlagsOutOfRangeOrMalformedAreUsageErrors) {
  // A running daemon, so a value that got through would run (and exit 0) rather than fail
  // to connect; it must have received nothing.
  Daemon daemon({"--set", "model.backend=echo"});
  ASSERT_TRUE(daemon.ready());
  TempDir dir;  // for --textfile: stays empty
  for (const BadFlag& c : bad_flags()) {
    std::vector<std::string> argv = {RINGCTL_PATH, "--name", daemon.name()};
    for (const std::string& a : c.args) argv.push_back(a == "DIR" ? dir.path() : a);
    // Killed after a while: a value that got through could start a chat or a textfile loop.
    Child ringctl(argv);
    const ProcessResult r = ringctl.finish(10s);
    const std::string what = c.args[c.args.size() - 2] + " " + c.args.back();
    EXPECT_EQ(r.exit_code, 2) << what << ": " << r.errors;
    EXPECT_EQ(r.errors, c.message) << what;
    EXPECT_EQ(r.output, "") << what;
  }
  EXPECT_EQ(list_dir(dir.path()).size(), 0u);
  DaemonStatus st;
  ASSERT_TRUE(connect_to(daemon.name())->status(&st).ok());
  EXPECT_EQ(st.received, 0u);
}

TEST_F(RingctlTest, NumericFlagsAreCheckedBeforeConnecting) {
  // The flag's message, not "daemon not running": the value is wrong either way.
  const ProcessResult r =
      run({RINGCTL_PATH, "--name", unique_name("nobody"), "generate", "hi", "--max-tokens", "-1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.errors, "ringctl: --max-tokens: -1 is out of range 1..4294967295\n");
}

TEST_F(RingctlTest, NumericFlagsAtTheEndsOfTheirRangesAreTaken) {
  Daemon daemon({"--set", "model.backend=echo"});
  ASSERT_TRUE(daemon.ready());
  const ProcessResult r = run({RINGCTL_PATH,
                               "--name",
                               daemon.name(),
                               "generate",
                               "abcdef",
                               "--max-tokens",
                               "3",
                               "--seed",
                               "18446744073709551615",
                               "--timeout-ms",
                               "4294967295",
                               "--queue-timeout-ms",
                               "0",
                               "--temperature",
                               "0",
                               "--top-p",
                               "1",
                               "--min-p",
                               "0",
                               "--repetition-penalty",
                               "100",
                               "--top-k",
                               "2147483647",
                               "--stop-token",
                               "2147483647",
                               "--priority",
                               "-0"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(r.output, "abc\n");
}

TEST_F(RingctlTest, TokenizeAddsTheBosOnlyWithSpecial) {
  // The built-in model's tokenizer_config.json says add_bos_token: its raw prompts start with
  // <s> (id 1), as the daemon gives them to the model; plain tokenize prints the text's ids.
  ProcessResult r = run({RINGCTL_PATH, "tokenize", "Hi"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(r.output, "75 108\n");  // bytes + 3
  r = run({RINGCTL_PATH, "tokenize", "--special", "Hi"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(r.output, "1 75 108\n");
}

TEST_F(RingctlTest, ChatWithoutDaemonFails) {
  const ProcessResult r = run({RINGCTL_PATH, "--name", unique_name("nobody"), "chat"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.errors.find("daemon not running"), std::string::npos) << r.errors;
}

}  // namespace
}  // namespace ringserve::testing
