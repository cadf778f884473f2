// What a daemon says it serves (issues 20 and 22): the model's path, architecture, weight
// format, device and context, the weights' and the KV cache's bytes, and the process's resident
// size, as a real ringserved publishes them and Client::status(), `ringctl status` (text and
// --json) and `ringctl metrics` show them; and that texts an attacker wrote into the segment
// come out bounded and printable.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "ringserve/client.h"
#include "shm/layout.h"
#include "shm/segment.h"
#include "tests/daemon_process.h"
#include "tests/scripted_model.h"

namespace ringserve::testing {
namespace {

namespace fs = std::filesystem;

std::string mib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

// The kernel's count of a process's resident bytes, to compare the daemon's reading with.
uint64_t resident_of(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  uint64_t size = 0;
  uint64_t pages = 0;
  statm >> size >> pages;
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

nlohmann::json status_json(const std::string& name) {
  const ProcessResult r = run({RINGCTL_PATH, "--name", name, "status", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  nlohmann::json j = nlohmann::json::parse(r.output, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.output;
  return j;
}

TEST(ModelInfo, BuiltinModelIsNamedWithItsMemoryEverywhere) {
  Daemon daemon({"--set", "model.backend=torch", "--set", "model.threads=1", "--set",
                 "model.max_seq_len=256", "--set", "scheduler.max_concurrent=4"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  DaemonStatus st;
  ASSERT_TRUE(client->status(&st).ok());
  EXPECT_EQ(st.model.path, "built-in");
  EXPECT_EQ(st.model.architecture, "llama");
  EXPECT_EQ(st.model.format, "float32");
  EXPECT_EQ(st.model.device, "cpu");
  EXPECT_EQ(st.model.context_length, 256u);
  // About 3M parameters in float32; the KV cache of 4 sequences x 256 positions, 4 layers,
  // 4 kv heads of 32 dimensions, keys and values in float32: 4 * 256 * 4 * 2 * 128 * 4 bytes.
  EXPECT_GT(st.model.weight_bytes, 8u << 20);
  EXPECT_LT(st.model.weight_bytes, 16u << 20);
  EXPECT_EQ(st.model.kv_cache_bytes, 4u * 256 * 4 * 2 * 128 * 4);
  EXPECT_GT(st.resident_bytes, st.model.weight_bytes + st.model.kv_cache_bytes);
  const uint64_t kernel = resident_of(daemon.pid());
  EXPECT_NEAR(static_cast<double>(st.resident_bytes), static_cast<double>(kernel),
              static_cast<double>(kernel) / 4);

  const nlohmann::json j = status_json(daemon.name());
  ASSERT_TRUE(j.contains("model")) << j.dump();
  EXPECT_EQ(j["model"]["path"], "built-in");
  EXPECT_EQ(j["model"]["architecture"], "llama");
  EXPECT_EQ(j["model"]["format"], "float32");
  EXPECT_EQ(j["model"]["device"], "cpu");
  EXPECT_EQ(j["model"]["context_length"], 256);
  EXPECT_EQ(j["model"]["weight_bytes"], st.model.weight_bytes);
  EXPECT_EQ(j["model"]["kv_cache_bytes"], st.model.kv_cache_bytes);
  ASSERT_TRUE(j["resident_bytes"].is_number_unsigned()) << j.dump();
  EXPECT_GT(j["resident_bytes"].get<uint64_t>(), st.model.weight_bytes);

  ProcessResult r = run({RINGCTL_PATH, "--name", daemon.name(), "status"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_NE(r.output.find("model built-in: llama, float32 on cpu, context 256\n"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("memory: weights " + mib(st.model.weight_bytes) + ", KV cache " +
                          mib(st.model.kv_cache_bytes) + ", resident "),
            std::string::npos)
      << r.output;

  r = run({RINGCTL_PATH, "--name", daemon.name(), "metrics"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_NE(r.output.find("ringserve_model_info{name=\"" + daemon.name() +
                          "\",model=\"built-in\",architecture=\"llama\",format=\"float32\","
                          "device=\"cpu\"} 1\n"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("ringserve_model_weight_bytes{name=\"" + daemon.name() + "\"} " +
                          std::to_string(st.model.weight_bytes) + "\n"),
            std::string::npos);
  EXPECT_NE(r.output.find("ringserve_model_kv_cache_bytes{name=\"" + daemon.name() + "\"} " +
                          std::to_string(st.model.kv_cache_bytes) + "\n"),
            std::string::npos);
  EXPECT_NE(r.output.find("ringserve_model_context_length{name=\"" + daemon.name() + "\"} 256\n"),
            std::string::npos);
  EXPECT_NE(r.output.find("ringserve_resident_memory_bytes{name=\"" + daemon.name() + "\"} "),
            std::string::npos);

  // The log says the same, and the resident size after loading.
  client.reset();
  const ProcessResult stopped = daemon.stop();
  EXPECT_NE(stopped.errors.find("weights " + mib(st.model.weight_bytes) + ", KV cache " +
                                mib(st.model.kv_cache_bytes)),
            std::string::npos)
      << stopped.errors;
  EXPECT_NE(stopped.errors.find("positions), resident "), std::string::npos) << stopped.errors;
  EXPECT_NE(stopped.errors.find("backend torch (built-in float32)"), std::string::npos)
      << stopped.errors;
}

TEST(ModelInfo, ModelDirectoryIsShownAbsoluteWithItsArchitectureAndFormat) {
  const fs::path dir =
      fs::temp_directory_path() / ("ringserve-model-info-" + std::to_string(::getpid()));
  std::string error;
  ASSERT_TRUE(write_scripted_model(dir.string(), {kScriptEos}, &error)) << error;
  // Given relative to the daemon's working directory (this process's): status shows it whole.
  const std::string relative = fs::relative(dir, fs::current_path()).string();
  Daemon daemon({"--set", "model.backend=torch", "--set", "model.path=" + relative, "--set",
                 "model.threads=1", "--set", "model.dtype=bfloat16"});
  ASSERT_TRUE(daemon.ready());
  const nlohmann::json j = status_json(daemon.name());
  EXPECT_EQ(j["model"]["path"], dir.lexically_normal().string()) << relative;
  EXPECT_EQ(j["model"]["architecture"], "gpt2");
  EXPECT_EQ(j["model"]["format"], "bfloat16");
  EXPECT_GT(j["model"]["weight_bytes"].get<uint64_t>(), 0u);
  daemon.stop();
  fs::remove_all(dir);
}

TEST(ModelInfo, EchoBackendSaysItHasNoModel) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  const nlohmann::json j = status_json(daemon.name());
  ASSERT_TRUE(j.contains("model")) << j.dump();
  EXPECT_EQ(j["model"], nlohmann::json({{"path", "echo"},
                                        {"architecture", "none"},
                                        {"format", "none"},
                                        {"device", "none"},
                                        {"context_length", 0},
                                        {"weight_bytes", 0},
                                        {"kv_cache_bytes", 0}}));
  EXPECT_GT(j["resident_bytes"].get<uint64_t>(), 1u << 20);
  const ProcessResult r = run({RINGCTL_PATH, "--name", daemon.name(), "status"});
  EXPECT_NE(r.output.find("model echo (no model), resident "), std::string::npos) << r.output;
}

TEST(ModelInfo, ScribbledTextsAreReadBoundedAndPrintable) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<shm::Segment> raw;
  std::string message;
  ASSERT_EQ(shm::Segment::open(daemon.name(), 1'000'000'000, &raw, &message),
            shm::SegmentError::kOk)
      << message;
  shm::ModelInfo* m = raw->view().model_info();
  // What a process with access writes: no NUL anywhere, escapes, invalid UTF-8, quotes that
  // would break JSON or a Prometheus label, a newline that would forge a metric line.
  const std::string evil = "\x1B]0;pwn\x07\"\\\n\xFF\xFE";
  auto fill = [&evil](char* field, size_t size) {
    for (size_t i = 0; i < size; ++i) field[i] = evil[i % evil.size()];
  };
  fill(m->format, sizeof m->format);
  fill(m->architecture, sizeof m->architecture);
  fill(m->device, sizeof m->device);
  fill(m->path, sizeof m->path);
  // The field after `device` too: a reader running past the array would pick it up.
  std::memset(m->reserved1, 'X', sizeof m->reserved1);

  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  DaemonStatus st;
  ASSERT_TRUE(client->status(&st).ok());
  EXPECT_EQ(st.model.format.size(), sizeof m->format);
  EXPECT_EQ(st.model.device.size(), sizeof m->device);
  EXPECT_EQ(st.model.path.size(), sizeof m->path);
  EXPECT_EQ(st.model.device.find('X'), std::string::npos);
  for (const std::string* text :
       {&st.model.format, &st.model.architecture, &st.model.device, &st.model.path}) {
    for (const char c : *text) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7F) << "byte " << static_cast<int>(c) << " in " << *text;
    }
  }
  EXPECT_EQ(st.model.format.substr(0, 8), "?]0;pwn?");

  const nlohmann::json j = status_json(daemon.name());
  EXPECT_EQ(j["model"]["format"], st.model.format);
  EXPECT_EQ(j["model"]["path"], st.model.path);
  const ProcessResult text = run({RINGCTL_PATH, "--name", daemon.name(), "status"});
  EXPECT_EQ(text.exit_code, 0) << text.errors;
  EXPECT_EQ(text.output.find('\x1B'), std::string::npos);
  const ProcessResult metrics = run({RINGCTL_PATH, "--name", daemon.name(), "metrics"});
  EXPECT_EQ(metrics.exit_code, 0) << metrics.errors;
  std::istringstream lines(metrics.output);
  std::string line;
  while (std::getline(lines, line)) {
    EXPECT_TRUE(line.rfind("# ", 0) == 0 || line.rfind("ringserve_", 0) == 0) << line;
  }
}

}  // namespace
}  // namespace ringserve::testing
