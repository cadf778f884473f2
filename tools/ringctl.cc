// ringctl: command-line client of a ringserve daemon.
//   ringctl [--name NAME] generate "PROMPT" [--max-tokens N] [--temperature T] [--seed S]
//           [--top-p P] [--top-k K] [--stop-token ID]... [--timeout-ms MS] [--json]
//   ringctl [--name NAME] status [--json]
// generate streams text to stdout as it arrives (with --json: one JSON object per token per
// line) and exits non-zero with the error's message on failure.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/model/builtin_model.h"
#include "daemon/model/tokenizer.h"
#include "ringserve/client.h"

namespace {

int usage(int rc) {
  std::fputs(
      "usage: ringctl [--name NAME] generate PROMPT [--max-tokens N] [--temperature T]\n"
      "               [--seed S] [--top-p P] [--top-k K] [--min-p P] [--repetition-penalty R]\n"
      "               [--stop-token ID]... [--stop TEXT]... [--timeout-ms MS]\n"
      "               [--priority P] [--queue-timeout-ms MS]\n"
      "               [--chat [--system TEXT]] [--json]\n"
      "       ringctl [--name NAME] status [--json]\n"
      "       ringctl tokenize [--model DIR] TEXT\n"
      "generate --chat sends PROMPT as a user message (after --system's), rendered with the\n"
      "daemon's chat template; --temperature 0 is greedy. tokenize prints the token ids of TEXT\n"
      "as the daemon tokenizes a raw prompt (DIR defaults to the built-in model).\n",
      rc == 0 ? stdout : stderr);
  return rc;
}

int fail(const ringserve::Status& s) {
  std::fprintf(stderr, "ringctl: %s\n", s.to_string().c_str());
  return 1;
}

bool parse_number(const std::string& flag, const std::string& text, double* out) {
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') {
    std::fprintf(stderr, "ringctl: %s expects a number, got '%s'\n", flag.c_str(), text.c_str());
    return false;
  }
  return true;
}

int generate(ringserve::Client& client, const std::vector<std::string>& args) {
  ringserve::GenerateParams params;
  std::string prompt;
  bool have_prompt = false;
  bool json = false;
  bool chat = false;
  std::string system_prompt;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    double v = 0;
    auto number = [&](double* out) {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "ringctl: %s needs a value\n", a.c_str());
        return false;
      }
      return parse_number(a, args[++i], out);
    };
    if (a == "--json") {
      json = true;
    } else if (a == "--max-tokens") {
      if (!number(&v)) return 2;
      params.max_tokens = static_cast<uint32_t>(v);
    } else if (a == "--temperature") {
      if (!number(&v)) return 2;
      params.temperature = static_cast<float>(v);
    } else if (a == "--seed") {
      if (!number(&v)) return 2;
      params.seed = static_cast<uint64_t>(v);
    } else if (a == "--top-p") {
      if (!number(&v)) return 2;
      params.top_p = static_cast<float>(v);
    } else if (a == "--top-k") {
      if (!number(&v)) return 2;
      params.top_k = static_cast<int32_t>(v);
    } else if (a == "--priority") {
      if (!number(&v)) return 2;
      params.priority = static_cast<int32_t>(v);
    } else if (a == "--queue-timeout-ms") {
      if (!number(&v)) return 2;
      params.queue_timeout_ms = static_cast<uint32_t>(v);
    } else if (a == "--min-p") {
      if (!number(&v)) return 2;
      params.min_p = static_cast<float>(v);
    } else if (a == "--repetition-penalty") {
      if (!number(&v)) return 2;
      params.repetition_penalty = static_cast<float>(v);
    } else if (a == "--stop" || a == "--system") {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "ringctl: %s needs a value\n", a.c_str());
        return 2;
      }
      if (a == "--stop") {
        params.stop.push_back(args[++i]);
      } else {
        system_prompt = args[++i];
        chat = true;
      }
    } else if (a == "--chat") {
      chat = true;
    } else if (a == "--stop-token") {
      if (!number(&v)) return 2;
      params.stop_token_ids.push_back(static_cast<int32_t>(v));
    } else if (a == "--timeout-ms") {
      if (!number(&v)) return 2;
      params.total_timeout_ms = static_cast<uint32_t>(v);
    } else if (!have_prompt && (a.empty() || a[0] != '-')) {
      prompt = a;
      have_prompt = true;
    } else {
      std::fprintf(stderr, "ringctl: unknown generate argument '%s'\n", a.c_str());
      return usage(2);
    }
  }
  if (!have_prompt) return usage(2);
  std::unique_ptr<ringserve::Stream> stream;
  ringserve::Status s;
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
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf(
      "daemon pid %d, layout v%u, wait mode %s\n"
      "running   %u / %u\nwaiting   %u / %u\nslots     %u in use / %u\n"
      "received %llu, admitted %llu, rejected %llu, completed %llu, cancelled %llu, failed %llu\n"
      "tokens generated %llu, heartbeat %.1f ms ago\n",
      st.pid, st.layout_version, st.wait_mode.c_str(), st.running, st.max_concurrent, st.waiting,
      st.max_queue, st.slots_in_use, st.slots, static_cast<unsigned long long>(st.received),
      static_cast<unsigned long long>(st.admitted), static_cast<unsigned long long>(st.rejected),
      static_cast<unsigned long long>(st.completed), static_cast<unsigned long long>(st.cancelled),
      static_cast<unsigned long long>(st.failed),
      static_cast<unsigned long long>(st.tokens_generated), st.heartbeat_age_ns / 1e6);
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

// Prints the ids of TEXT as the daemon tokenizes a raw prompt.
int tokenize(const std::vector<std::string>& args) {
  std::string dir = ringserve::model::builtin_model_dir();
  std::string text;
  bool have_text = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--model" && i + 1 < args.size()) {
      dir = args[++i];
    } else if (!have_text) {
      text = args[i];
      have_text = true;
    } else {
      std::fprintf(stderr, "ringctl: unknown tokenize argument '%s'\n", args[i].c_str());
      return usage(2);
    }
  }
  if (!have_text) return usage(2);
  std::unique_ptr<ringserve::model::Tokenizer> tokenizer;
  std::string error;
  if (!ringserve::model::Tokenizer::load(dir + "/tokenizer.json", &tokenizer, &error)) {
    std::fprintf(stderr, "ringctl: %s\n", error.c_str());
    return 1;
  }
  const std::vector<int32_t> ids = tokenizer->encode(text);
  for (size_t k = 0; k < ids.size(); ++k) std::printf(k ? " %d" : "%d", ids[k]);
  std::printf("\n");
  return 0;
}

int run(int argc, char** argv) {
  std::string name = "default";
  int i = 1;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--name" && i + 1 < argc) {
      name = argv[++i];
    } else if (a == "--help" || a == "-h") {
      return usage(0);
    } else {
      break;
    }
  }
  if (i >= argc) return usage(2);
  const std::string command = argv[i++];
  std::vector<std::string> args(argv + i, argv + argc);
  // Options may also come after the command (ringctl generate "hi" --name x).
  for (size_t k = 0; k + 1 < args.size(); ++k) {
    if (args[k] == "--name") {
      name = args[k + 1];
      args.erase(args.begin() + static_cast<long>(k), args.begin() + static_cast<long>(k) + 2);
      break;
    }
  }
  if (command == "tokenize") return tokenize(args);
  if (command != "generate" && command != "status") {
    std::fprintf(stderr, "ringctl: unknown command '%s'\n", command.c_str());
    return usage(2);
  }
  std::unique_ptr<ringserve::Client> client;
  const ringserve::Status s = ringserve::Client::connect(name, &client);
  if (!s.ok()) return fail(s);
  return command == "generate" ? generate(*client, args) : status(*client, args);
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
