// ringctl: command-line client of a ringserve daemon.
//   ringctl [--name NAME] generate "PROMPT" [--max-tokens N] [--temperature T] [--seed S]
//           [--top-p P] [--top-k K] [--stop-token ID]... [--timeout-ms MS] [--json]
//   ringctl [--name NAME] chat [--system TEXT] [generate's sampling flags]
//   ringctl [--name NAME] status [--json]
//   ringctl [--name NAME] metrics [--textfile DIR [--interval-ms MS]]
//   ringctl [--name NAME | --model DIR] tokenize [--special] [--chat [--system TEXT]] [--json] TEXT
//   ringctl [--name NAME | --model DIR] detokenize ID...
//   ringctl list [--json]
// generate streams text to stdout as it arrives (with --json: one JSON object per token per
// line) and exits non-zero with the error's message on failure. chat (ringctl_chat.cc) is an
// interactive conversation on stdin/stdout; metrics (ringctl_metrics.cc) prints the daemon's
// counters and histograms in the Prometheus text format, or keeps a node_exporter textfile
// up to date.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model/builtin_model.h"
#include "engine/text/prompt_special_tokens.h"
#include "engine/text/tokenizer.h"
#include "engine/text/utf8_stream.h"
#include "ringserve/client.h"
#include "tools/ringctl.h"

namespace ringctl {

int usage(int rc) {
  std::fputs(
      "usage: ringctl [--name NAME] generate PROMPT [--max-tokens N] [--temperature T]\n"
      "               [--seed S] [--top-p P] [--top-k K] [--min-p P] [--repetition-penalty R]\n"
      "               [--stop-token ID]... [--stop TEXT]... [--timeout-ms MS]\n"
      "               [--priority P] [--queue-timeout-ms MS]\n"
      "               [--chat [--system TEXT]] [--json]\n"
      "       ringctl [--name NAME] chat [--system TEXT] [generate's sampling flags]\n"
      "       ringctl [--name NAME] status [--json]\n"
      "       ringctl [--name NAME] metrics [--textfile DIR [--interval-ms MS]]\n"
      "       ringctl [--name NAME | --model DIR] tokenize [--special] [--json] TEXT\n"
      "       ringctl --name NAME tokenize --chat [--system TEXT] [--special] [--json] TEXT\n"
      "       ringctl [--name NAME | --model DIR] detokenize ID...\n"
      "       ringctl list [--json]\n"
      "generate --chat sends PROMPT as a user message (after --system's), rendered with the\n"
      "daemon's chat template; --temperature 0 is greedy.\n"
      "--max-tokens N is the most tokens one answer gets (default 128, for generate and each\n"
      "chat answer); the daemon refuses more than its scheduler.max_tokens_limit (default\n"
      "4096), and the model's context ends an answer sooner.\n"
      "chat reads one user message per line of stdin and streams each answer, sending the\n"
      "whole conversation every time; Ctrl-C cancels an answer (the part shown stays in the\n"
      "history), Ctrl-C at the prompt or end of input exits. Lines starting with / are\n"
      "commands, never sent: /help, /reset (forget the conversation, keep --system's),\n"
      "/quit or /exit; //TEXT sends /TEXT.\n"
      "metrics prints the daemon's metrics in the Prometheus text format; --textfile writes\n"
      "them to DIR/ringserve_NAME.prom for node_exporter instead (atomically, once, or every\n"
      "MS milliseconds until SIGINT or SIGTERM, with ringserve_up 0 while the daemon is down).\n"
      "list shows the daemons running on this machine (their /dev/shm segments): name, pid,\n"
      "owner, state (ready, stale, no access, ...), running and waiting requests, model.\n"
      "tokenize prints the token ids of TEXT (--json: with each token's text); with --name\n"
      "that daemon answers with its tokenizer (--chat: TEXT as a user message rendered by its\n"
      "chat template), else the tokenizer of --model DIR (default: the built-in model) offline.\n"
      "Text spelling a special token becomes its id, as in a prompt; --special adds the special\n"
      "tokens (BOS) the daemon puts around a prompt. detokenize prints the text of the ids.\n",
      rc == 0 ? stdout : stderr);
  return rc;
}

int fail(const ringserve::Status& s) {
  std::fprintf(stderr, "ringctl: %s\n", s.to_string().c_str());
  return 1;
}

bool flag_value(const std::vector<std::string>& args, size_t* i, std::string* out) {
  if (*i + 1 >= args.size()) {
    std::fprintf(stderr, "ringctl: %s needs a value\n", args[*i].c_str());
    return false;
  }
  *out = args[++*i];
  return true;
}

FlagResult parse_generate_flag(const std::vector<std::string>& args, size_t* i,
                               ringserve::GenerateParams* params) {
  using ringserve::GenerateParams;
  const std::string& a = args[*i];
  std::string text;
  if (a == "--stop") {
    if (!flag_value(args, i, &text)) return FlagResult::kError;
    params->stop.push_back(text);
    return FlagResult::kOk;
  }
  // The number flags, each parsed whole into its field's type and range (tools/ringctl_args.h):
  // the type's range, narrowed where every daemon refuses more (the ranges of
  // shm/request_check.h). Limits that depend on the daemon's config (max_tokens_limit,
  // max_priority) are the daemon's to check; it names them when it rejects the request.
  using Parse = std::string (*)(const std::string&, const std::string&, GenerateParams*);
  static const std::pair<const char*, Parse> kNumbers[] = {
      {"--max-tokens",
       [](const std::string& f, const std::string& t, GenerateParams* p) {
         return parse_integer(f, t, range_of<uint32_t>(1), &p->max_tokens);
       }},
      {"--temperature",
       [](const std::string& f, const std::string& t, GenerateParams* p) {
         return parse_real(f, t, RealRange{0, 100}, &p->temperature);
       }},
      {"--seed",
       [](const std::string& f, const std::string& t, GenerateParams* p) {
         return parse_integer(f, t, range_of<uint64_t>(), &p->seed);
       }},
      {"--top-p",
       [](const std::string& f, const std::string& t, GenerateParams* p) {
         return parse_real(f, t, RealRange{0, 1, /*lo_open=*/true}, &p->top_p);
       }},
      {"--top-k",
       [](const std::string& f, const std::string& t, GenerateParams* p) {
         return parse_integer(f, t, range_of<int32_t>(0), &p->top_k);
       }},
      {"--min-p",
       [](const std::string& f, const std::string& t, GenerateParams* p) {
         return parse_real(f, t, RealRange{0, 1, false, /*hi_open=*/true}, &p->min_p);
       }},
      {"--repetition-penalty",
       [](const std::string& f, const std::string& t, GenerateParams* p) {
         return parse_real(f, t, RealRange{0, 100, /*lo_open=*/true}, &p->repetition_penalty);
       }},
      {"--priority",
       [](const std::string& f, const std::string& t, GenerateParams* p) {
         return parse_integer(f, t, range_of<int32_t>(), &p->priority);
       }},
      {"--queue-timeout-ms",
       [](const std::string& f, const std::string& t, GenerateParams* p) {
         return parse_integer(f, t, range_of<uint32_t>(), &p->queue_timeout_ms);
       }},
      {"--timeout-ms",
       [](const std::string& f, const std::string& t, GenerateParams* p) {
         return parse_integer(f, t, range_of<uint32_t>(), &p->total_timeout_ms);
       }},
      {"--stop-token",
       [](const std::string& f, const std::string& t, GenerateParams* p) {
         int32_t id = 0;
         std::string error = parse_integer(f, t, range_of<int32_t>(0), &id);
         if (error.empty()) p->stop_token_ids.push_back(id);
         return error;
       }},
  };
  for (const auto& [flag, parse] : kNumbers) {
    if (a != flag) continue;
    if (!flag_value(args, i, &text)) return FlagResult::kError;
    const std::string error = parse(a, text, params);
    if (!error.empty()) {
      std::fprintf(stderr, "ringctl: %s\n", error.c_str());
      return FlagResult::kError;
    }
    return FlagResult::kOk;
  }
  return FlagResult::kNotMine;
}

// Signals as events (see ringctl.h). The handler only stores a number and writes one byte,
// both async-signal-safe.
namespace {
std::atomic<int> g_signal{0};
int g_signal_pipe[2] = {-1, -1};

void on_signal(int sig) {
  const int saved_errno = errno;
  g_signal.store(sig);
  const char byte = 1;
  // A full pipe already holds a wake-up, so a failed write loses nothing.
  [[maybe_unused]] const ssize_t written = ::write(g_signal_pipe[1], &byte, 1);
  errno = saved_errno;
}
}  // namespace

void catch_signals(const std::vector<int>& signals) {
  if (g_signal_pipe[0] < 0 && ::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::perror("ringctl: pipe2");
    std::exit(1);
  }
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESTART: stdout writes interrupted by Ctrl-C resume instead of failing; poll() is never
  // restarted, and the pipe wakes it anyway.
  action.sa_flags = SA_RESTART;
  for (const int sig : signals) ::sigaction(sig, &action, nullptr);
}

int signal_fd() { return g_signal_pipe[0]; }

int pending_signal() { return g_signal.load(); }

int take_signal() {
  // Drain first, then take the number: a signal landing in between leaves its byte behind (a
  // spurious wake-up later, which callers tolerate) instead of being lost.
  char buf[64];
  while (::read(g_signal_pipe[0], buf, sizeof(buf)) > 0) {
  }
  return g_signal.exchange(0);
}

}  // namespace ringctl

namespace {

using ringctl::fail;
using ringctl::usage;

int generate(const std::string& name, const std::vector<std::string>& args) {
  ringserve::GenerateParams params;
  std::string prompt;
  bool have_prompt = false;
  bool json = false;
  bool chat = false;
  std::string system_prompt;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") {
      json = true;
    } else if (a == "--chat") {
      chat = true;
    } else if (a == "--system") {
      if (!ringctl::flag_value(args, &i, &system_prompt)) return 2;
      chat = true;
    } else if (const ringctl::FlagResult r = ringctl::parse_generate_flag(args, &i, &params);
               r != ringctl::FlagResult::kNotMine) {
      if (r == ringctl::FlagResult::kError) return 2;
    } else if (!have_prompt && (a.empty() || a[0] != '-')) {
      prompt = a;
      have_prompt = true;
    } else {
      std::fprintf(stderr, "ringctl: unknown generate argument '%s'\n", a.c_str());
      return usage(2);
    }
  }
  if (!have_prompt) return usage(2);
  // Connected only now, so a bad flag is reported as such whether a daemon runs or not.
  std::unique_ptr<ringserve::Client> connected;
  ringserve::Status s = ringserve::Client::connect(name, &connected);
  if (!s.ok()) return fail(s);
  ringserve::Client& client = *connected;
  std::unique_ptr<ringserve::Stream> stream;
  if (chat) {
    std::vector<ringserve::ChatMessage> messages;
    if (!system_prompt.empty()) messages.push_back({"system", system_prompt});
    messages.push_back({"user", prompt});
    s = client.chat(messages, params, &stream);
  } else {
    s = client.generate(prompt, params, &stream);
  }
  if (!s.ok()) return fail(s);
  ringserve::Token token;
  while ((s = stream->next(&token)).ok()) {
    if (json) {
      nlohmann::json j = {{"id", token.id}, {"text", token.text}};
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      std::cout << token.text;
    }
    std::cout.flush();
  }
  if (!json) std::cout << "\n";
  if (!s.end_of_stream()) return fail(s);
  if (json) {
    std::cout << nlohmann::json{{"finish_reason", ringserve::to_string(stream->finish_reason())}}
              << "\n";
  }
  return 0;
}

double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

// "model built-in: llama, float32 on cpu, context 512" and the memory line after it.
void print_model(const ringserve::DaemonStatus& st) {
  const ringserve::ModelInfo& m = st.model;
  if (m.weight_bytes == 0 && m.format == "none") {
    std::printf("model %s (no model), resident %.1f MiB\n", m.path.c_str(), mib(st.resident_bytes));
    return;
  }
  std::printf(
      "model %s: %s, %s on %s, context %u\n"
      "memory: weights %.1f MiB, KV cache %.1f MiB, resident %.1f MiB\n",
      m.path.c_str(), m.architecture.c_str(), m.format.c_str(), m.device.c_str(), m.context_length,
      mib(m.weight_bytes), mib(m.kv_cache_bytes), mib(st.resident_bytes));
}

// The paged KV cache and the prefix cache: status --json's "kv_cache" object, named as
// KvCacheStatus's fields (zeros from a daemon without a model).
nlohmann::json kv_cache_json(const ringserve::KvCacheStatus& kv) {
  return {{"block_positions", kv.block_positions},
          {"blocks_total", kv.blocks_total},
          {"blocks_in_use", kv.blocks_in_use},
          {"blocks_cached", kv.blocks_cached},
          {"prompt_tokens", kv.prompt_tokens},
          {"prompt_tokens_cached", kv.prompt_tokens_cached},
          {"hit_rate", kv.hit_rate()},
          {"preemptions", kv.preemptions}};
}

// "kv cache  64 blocks of 16 positions: ..." and the prompts' line after it; nothing from a
// daemon without a paged cache (echo), whose model line already says it has no model.
void print_kv_cache(const ringserve::KvCacheStatus& kv) {
  if (kv.blocks_total == 0) return;
  // The three counts are separate loads of numbers the daemon stores every iteration: two
  // iterations' values can meet, so the free count saturates rather than wraps.
  const uint64_t held = uint64_t{kv.blocks_in_use} + kv.blocks_cached;
  const uint64_t free_blocks = held < kv.blocks_total ? kv.blocks_total - held : 0;
  std::printf(
      "kv cache  %u blocks of %u positions: %u in use, %u cached, %llu free; %llu preemptions\n"
      "prompts   %llu tokens, %llu from the prefix cache (hit rate %.1f%%)\n",
      kv.blocks_total, kv.block_positions, kv.blocks_in_use, kv.blocks_cached,
      static_cast<unsigned long long>(free_blocks), static_cast<unsigned long long>(kv.preemptions),
      static_cast<unsigned long long>(kv.prompt_tokens),
      static_cast<unsigned long long>(kv.prompt_tokens_cached), 100.0 * kv.hit_rate());
}

int status(ringserve::Client& client, const std::vector<std::string>& args) {
  bool json = false;
  for (const std::string& a : args) {
    if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr, "ringctl: unknown status argument '%s'\n", a.c_str());
      return usage(2);
    }
  }
  ringserve::DaemonStatus st;
  const ringserve::Status s = client.status(&st);
  if (!s.ok()) return fail(s);
  if (json) {
    nlohmann::json j = {{"pid", st.pid},
                        {"layout_version", st.layout_version},
                        {"wait_mode", st.wait_mode},
                        {"slots", st.slots},
                        {"slots_in_use", st.slots_in_use},
                        {"max_concurrent", st.max_concurrent},
                        {"max_queue", st.max_queue},
                        {"running", st.running},
                        {"waiting", st.waiting},
                        {"received", st.received},
                        {"admitted", st.admitted},
                        {"rejected", st.rejected},
                        {"completed", st.completed},
                        {"cancelled", st.cancelled},
                        {"failed", st.failed},
                        {"tokens_generated", st.tokens_generated},
                        {"heartbeat_age_ms", st.heartbeat_age_ns / 1'000'000}};
    // The texts are the daemon's word, but sanitized by the library: valid UTF-8.
    j["model"] = {{"path", st.model.path},
                  {"architecture", st.model.architecture},
                  {"format", st.model.format},
                  {"device", st.model.device},
                  {"context_length", st.model.context_length},
                  {"weight_bytes", st.model.weight_bytes},
                  {"kv_cache_bytes", st.model.kv_cache_bytes}};
    j["resident_bytes"] = st.resident_bytes;
    j["kv_cache"] = kv_cache_json(st.kv_cache);
    auto latency = [](const ringserve::LatencySummary& l) {
      return nlohmann::json{
          {"count", l.count}, {"p50_ms", l.p50_ms}, {"p90_ms", l.p90_ms}, {"p99_ms", l.p99_ms}};
    };
    j["queue_wait"] = latency(st.queue_wait);
    j["time_to_first_token"] = latency(st.time_to_first_token);
    j["inter_token"] = latency(st.inter_token);
    j["end_to_end"] = latency(st.end_to_end);
    j["steps"] = st.steps;
    j["backend_ms_per_step"] = st.backend_ms_per_step;
    j["daemon_us_per_step"] = st.daemon_us_per_step;
    j["wake_thread_us_per_step"] = st.wake_thread_us_per_step;
    std::vector<ringserve::RequestSummary> requests;
    if (client.requests(&requests).ok()) {
      j["requests"] = nlohmann::json::array();
      for (const auto& r : requests) {
        j["requests"].push_back({{"request_id", r.request_id},
                                 {"slot", r.slot},
                                 {"pid", r.owner_pid},
                                 {"state", r.running ? "running" : "waiting"},
                                 {"queue_position", r.queue_position},
                                 {"wait_estimate_ms", r.wait_estimate_ms},
                                 {"tokens_generated", r.tokens_generated},
                                 {"age_ms", r.age_ns / 1e6}});
      }
    }
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::printf("daemon pid %d, layout v%u, wait mode %s\n", st.pid, st.layout_version,
              st.wait_mode.c_str());
  print_model(st);
  std::printf(
      "running   %u / %u\nwaiting   %u / %u\nslots     %u in use / %u\n"
      "received %llu, admitted %llu, rejected %llu, completed %llu, cancelled %llu, failed %llu\n"
      "tokens generated %llu, heartbeat %.1f ms ago\n",
      st.running, st.max_concurrent, st.waiting, st.max_queue, st.slots_in_use, st.slots,
      static_cast<unsigned long long>(st.received), static_cast<unsigned long long>(st.admitted),
      static_cast<unsigned long long>(st.rejected), static_cast<unsigned long long>(st.completed),
      static_cast<unsigned long long>(st.cancelled), static_cast<unsigned long long>(st.failed),
      static_cast<unsigned long long>(st.tokens_generated), st.heartbeat_age_ns / 1e6);
  print_kv_cache(st.kv_cache);
  if (st.steps != 0) {
    const double total_us = st.backend_ms_per_step * 1e3 + st.daemon_us_per_step;
    std::printf(
        "steps %llu: model %.3f ms/step, daemon %.1f us/step (%.2f%% of a step), "
        "wake thread %.1f us/step\n",
        static_cast<unsigned long long>(st.steps), st.backend_ms_per_step, st.daemon_us_per_step,
        total_us > 0 ? 100.0 * st.daemon_us_per_step / total_us : 0.0, st.wake_thread_us_per_step);
  }
  const std::pair<const char*, const ringserve::LatencySummary*> rows[] = {
      {"queue wait", &st.queue_wait},
      {"first token", &st.time_to_first_token},
      {"inter-token", &st.inter_token},
      {"end to end", &st.end_to_end}};
  std::printf("%-12s %8s %10s %10s %10s  (ms, bucket upper edges)\n", "latency", "count", "p50",
              "p90", "p99");
  for (const auto& [label, l] : rows) {
    std::printf("%-12s %8llu %10.3f %10.3f %10.3f\n", label,
                static_cast<unsigned long long>(l->count), l->p50_ms, l->p90_ms, l->p99_ms);
  }
  std::vector<ringserve::RequestSummary> requests;
  if (client.requests(&requests).ok() && !requests.empty()) {
    std::printf("%-10s %6s %8s %-8s %8s %9s %8s %10s\n", "request", "slot", "pid", "state",
                "position", "est. wait", "tokens", "age ms");
    for (const auto& r : requests) {
      const std::string wait = r.wait_estimate_ms != 0 ? std::to_string(r.wait_estimate_ms) + " ms"
                                                       : std::string(r.running ? "" : "?");
      std::printf("%-10llu %6u %8d %-8s %8u %9s %8u %10.1f\n",
                  static_cast<unsigned long long>(r.request_id), r.slot, r.owner_pid,
                  r.running ? "running" : "waiting", r.queue_position, wait.c_str(),
                  r.tokens_generated, r.age_ns / 1e6);
    }
  }
  return 0;
}

}  // namespace

namespace {

// Where tokenize and detokenize get their tokenizer: a daemon (--name), or offline a model
// directory's tokenizer.json (--model DIR, by default the built-in model's).
struct TokenizerSource {
  std::string name;  // the daemon's, when asked by --name
  bool ask_daemon = false;
  std::string dir = ringserve::model::builtin_model_dir();
  bool have_dir = false;
};

// The offline tokenizer of source.dir; null with the message printed.
std::unique_ptr<ringserve::model::Tokenizer> load_tokenizer(const TokenizerSource& source) {
  std::unique_ptr<ringserve::model::Tokenizer> tokenizer;
  std::string error;
  if (!ringserve::model::Tokenizer::load(source.dir + "/tokenizer.json", &tokenizer, &error)) {
    std::fprintf(stderr, "ringctl: %s\n", error.c_str());
    return nullptr;
  }
  return tokenizer;
}

// Takes --model DIR out of args[*i] (false: not that flag); rejects --model with --name.
bool source_flag(const std::vector<std::string>& args, size_t* i, TokenizerSource* source,
                 bool* bad) {
  if (args[*i] != "--model") return false;
  if (!ringctl::flag_value(args, i, &source->dir)) {
    *bad = true;
    return true;
  }
  source->have_dir = true;
  if (source->ask_daemon) {
    std::fprintf(
        stderr, "ringctl: give --name (ask that daemon) or --model (tokenize offline), not both\n");
    *bad = true;
  }
  return true;
}

// Prints the ids of TEXT (--json: each with its text piece); with --special, with the special
// tokens (BOS) the daemon puts around a prompt. With --name the daemon answers, with its own
// tokenizer and chat template (--chat: TEXT as a user message, after --system's).
int tokenize(TokenizerSource source, const std::vector<std::string>& args) {
  std::string text;
  std::string system_prompt;
  bool have_text = false;
  bool special = false;
  bool json = false;
  bool chat = false;
  for (size_t i = 0; i < args.size(); ++i) {
    bool bad = false;
    if (source_flag(args, &i, &source, &bad)) {
      if (bad) return 2;
    } else if (args[i] == "--special") {
      special = true;
    } else if (args[i] == "--json") {
      json = true;
    } else if (args[i] == "--chat") {
      chat = true;
    } else if (args[i] == "--system") {
      if (!ringctl::flag_value(args, &i, &system_prompt)) return 2;
      chat = true;
    } else if (!have_text) {
      text = args[i];
      have_text = true;
    } else {
      std::fprintf(stderr, "ringctl: unknown tokenize argument '%s'\n", args[i].c_str());
      return usage(2);
    }
  }
  if (!have_text) return usage(2);
  std::vector<int32_t> ids;
  std::vector<std::string> pieces;
  if (source.ask_daemon) {
    std::unique_ptr<ringserve::Client> client;
    ringserve::Status s = ringserve::Client::connect(source.name, &client);
    if (!s.ok()) return fail(s);
    ringserve::TokenizeOptions options;
    options.add_special = special;
    if (chat) {
      std::vector<ringserve::ChatMessage> messages;
      if (!system_prompt.empty()) messages.push_back({"system", system_prompt});
      messages.push_back({"user", text});
      s = client->tokenize_chat(messages, options, &ids, &pieces);
    } else {
      s = client->tokenize(text, options, &ids, &pieces);
    }
    if (!s.ok()) return fail(s);
  } else {
    if (chat) {
      std::fprintf(stderr,
                   "ringctl: tokenize --chat needs the daemon's chat template: give --name\n");
      return 2;
    }
    const auto tokenizer = load_tokenizer(source);
    if (tokenizer == nullptr) return 1;
    ringserve::model::PromptSpecialTokens specials;
    std::string error;
    if (special &&
        !ringserve::model::PromptSpecialTokens::load(source.dir, *tokenizer, &specials, &error)) {
      std::fprintf(stderr, "ringctl: %s\n", error.c_str());
      return 1;
    }
    ids = special ? specials.encode_raw(*tokenizer, text) : tokenizer->encode(text);
    // The pieces as the daemon gives them (daemon/model_backend_text.cc).
    ringserve::model::Utf8Stream utf8;
    for (const int32_t id : ids) pieces.push_back(utf8.push(tokenizer->token_bytes(id)));
    if (!pieces.empty()) pieces.back() += utf8.finish();
  }
  if (json) {
    nlohmann::json j = nlohmann::json::array();
    for (size_t k = 0; k < ids.size(); ++k) {
      j.push_back({{"id", ids[k]}, {"piece", k < pieces.size() ? pieces[k] : std::string()}});
    }
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  for (size_t k = 0; k < ids.size(); ++k) std::printf(k ? " %d" : "%d", ids[k]);
  std::printf("\n");
  return 0;
}

// Prints the text of the token ids ID...; with --name the daemon decodes them.
int detokenize(TokenizerSource source, const std::vector<std::string>& args) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < args.size(); ++i) {
    bool bad = false;
    if (source_flag(args, &i, &source, &bad)) {
      if (bad) return 2;
      continue;
    }
    int32_t id = 0;
    const std::string error =
        ringctl::parse_integer("token id", args[i], ringctl::range_of<int32_t>(), &id);
    if (!error.empty()) {
      std::fprintf(stderr, "ringctl: %s\n", error.c_str());
      return usage(2);
    }
    ids.push_back(id);
  }
  if (ids.empty()) return usage(2);
  std::string text;
  if (source.ask_daemon) {
    std::unique_ptr<ringserve::Client> client;
    ringserve::Status s = ringserve::Client::connect(source.name, &client);
    if (!s.ok()) return fail(s);
    s = client->detokenize(ids, &text);
    if (!s.ok()) return fail(s);
  } else {
    const auto tokenizer = load_tokenizer(source);
    if (tokenizer == nullptr) return 1;
    const int32_t vocab = tokenizer->vocab_size();
    for (size_t k = 0; k < ids.size(); ++k) {
      if (ids[k] < 0 || ids[k] >= vocab) {  // the daemon's words (model_backend_text.cc)
        std::fprintf(stderr, "ringctl: token ids[%zu] is %d, not in the vocabulary (0..%d)\n", k,
                     ids[k], vocab - 1);
        return 1;
      }
    }
    ringserve::model::Utf8Stream utf8;
    text = utf8.push(tokenizer->decode(ids));
    text += utf8.finish();
  }
  std::cout << text << "\n";
  return 0;
}

int run(int argc, char** argv) {
  std::string name = "default";
  bool name_given = false;  // tokenize and detokenize ask a daemon only when told which
  int i = 1;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--name" && i + 1 < argc) {
      name = argv[++i];
      name_given = true;
    } else if (a == "--help" || a == "-h") {
      return usage(0);
    } else {
      break;
    }
  }
  if (i >= argc) return usage(2);
  const std::string command = argv[i++];
  std::vector<std::string> args(argv + i, argv + argc);
  // `ringctl chat --help` as well: no command takes --help or -h as a value it needs.
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return usage(0);
  }
  // Options may also come after the command (ringctl generate "hi" --name x).
  for (size_t k = 0; k + 1 < args.size(); ++k) {
    if (args[k] == "--name") {
      name = args[k + 1];
      name_given = true;
      args.erase(args.begin() + static_cast<long>(k), args.begin() + static_cast<long>(k) + 2);
      break;
    }
  }
  if (command == "tokenize" || command == "detokenize") {
    TokenizerSource source;
    source.name = name;
    source.ask_daemon = name_given;
    return command == "tokenize" ? tokenize(source, args) : detokenize(source, args);
  }
  if (command == "list") return ringctl::list(args);
  if (command == "metrics") return ringctl::metrics(name, args);
  if (command == "chat") return ringctl::chat(name, args);
  if (command == "generate") return generate(name, args);
  if (command != "status") {
    std::fprintf(stderr, "ringctl: unknown command '%s'\n", command.c_str());
    return usage(2);
  }
  std::unique_ptr<ringserve::Client> client;
  const ringserve::Status s = ringserve::Client::connect(name, &client);
  if (!s.ok()) return fail(s);
  return status(*client, args);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // allocation failure or a bad iostream state
    std::fprintf(stderr, "ringctl: %s\n", e.what());
    return 1;
  }
}
