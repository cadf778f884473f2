// The soak test: for a bounded time, client processes submit, stream, cancel and abandon
// requests while this process SIGKILLs clients at random and SIGKILLs and restarts the daemon a
// few times. Afterwards it checks that every stream that ended was exactly right, that no slot
// or running sequence is left behind, and that the daemon's memory did not grow, and prints the
// counts last.
//
//   ringserve_soak [--seconds S] [--clients N] [--daemon-kills K] [--backend echo|torch]
//                  [--log-level warn|info|debug] [--memory-check on|off]
//
// --memory-check off is for a daemon built with AddressSanitizer: it keeps freed memory in a
// quarantine of up to 256 MB, so the resident size grows with the number of allocations served
// whether or not anything leaks (seen: +11% in 13 s of a sanitized CI run); there
// LeakSanitizer checks the daemon at its exit instead, and a leak fails the exit-code check.
//
// Exit 0 when every check holds, 1 otherwise. ctest runs it with the label "soak".
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ringserve/client.h"
#include "tests/daemon_process.h"

namespace ringserve::soak {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr uint32_t kMaxTokens = 40;
constexpr int kErrorCodes = 16;  // ErrorCode values 0..15

// What the client processes did, in memory shared with them (MAP_SHARED), so that counts made
// by a client that is killed later are kept.
struct Counts {
  std::atomic<uint64_t> submitted;
  std::atomic<uint64_t> finished_length;
  std::atomic<uint64_t> finished_stop;
  std::atomic<uint64_t> cancelled;            // by cancel(), ended with finish reason cancelled
  std::atomic<uint64_t> abandoned;            // stream destroyed mid-way
  std::atomic<uint64_t> wrong_streams;        // a stream whose tokens were not the expected ones
  std::atomic<uint64_t> errors[kErrorCodes];  // by ErrorCode, from generate() or next()
  std::atomic<uint32_t> stop;                 // the clients finish their request and exit
  char first_wrong[1024];                     // what the first wrong stream looked like
  std::atomic<uint32_t> first_wrong_taken;
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);

struct Options {
  int seconds = 60;
  int clients = 12;
  int daemon_kills = 3;
  std::string backend = "echo";
  std::string log_level = "warn";  // info: every request's end in the daemon's log
  bool memory_check = true;        // the daemon's resident size may not grow (see above)
};

// A prompt and what it produces alone: the token ids and whether it ended on a stop token
// before kMaxTokens.
struct Reference {
  std::string prompt;
  std::vector<int32_t> ids;
  bool stops = false;
};

std::string prompt_number(int i) {
  static const char* const kWords[] = {"the",     "ring", "serves", "tokens", "to",  "many",
                                       "clients", "at",   "once",   "über",   "fast"};
  std::string p;
  for (int k = 0; k <= i % 7; ++k) {
    if (!p.empty()) p += ' ';
    p += kWords[(i * 3 + k * 5) % 11];
  }
  return p + " " + std::to_string(i);
}

GenerateParams params_for(uint32_t max_tokens) {
  GenerateParams params;
  params.max_tokens = max_tokens;
  params.temperature = 0;  // greedy: a prompt's output is a function of the prompt
  return params;
}

// Runs each prompt alone, before any load, to learn its output.
bool learn_references(const std::string& name, std::vector<Reference>* refs) {
  std::unique_ptr<Client> client;
  if (!Client::connect(name, &client).ok()) return false;
  for (Reference& ref : *refs) {
    std::unique_ptr<Stream> stream;
    if (!client->generate(ref.prompt, params_for(kMaxTokens), &stream).ok()) return false;
    Token t;
    Status s;
    while ((s = stream->next(&t)).ok()) ref.ids.push_back(t.id);
    if (!s.end_of_stream()) return false;
    ref.stops = stream->finish_reason() == FinishReason::kStop;
  }
  return true;
}

bool is_prefix(const std::vector<int32_t>& got, const std::vector<int32_t>& ref) {
  return got.size() <= ref.size() && std::equal(got.begin(), got.end(), ref.begin());
}

void note_wrong(Counts* counts, const Reference& ref, uint32_t max_tokens, const char* how,
                const std::vector<int32_t>& got) {
  counts->wrong_streams.fetch_add(1);
  if (counts->first_wrong_taken.exchange(1) != 0) return;
  std::string ids;
  for (size_t i = 0; i < got.size() && i < 48; ++i) ids += " " + std::to_string(got[i]);
  std::string expected;
  for (size_t i = 0; i < ref.ids.size() && i < 48; ++i)
    expected += " " + std::to_string(ref.ids[i]);
  std::snprintf(counts->first_wrong, sizeof counts->first_wrong,
                "prompt '%s' max_tokens %u ended %s with %zu ids (reference %zu, stops %d), pid %d;"
                " got%s; reference%s",
                ref.prompt.c_str(), max_tokens, how, got.size(), ref.ids.size(), ref.stops ? 1 : 0,
                static_cast<int>(::getpid()), ids.c_str(), expected.c_str());
}

// Checks a stream that ended with end of stream against the prompt's reference.
void check_ending(Counts* counts, const Reference& ref, uint32_t max_tokens, FinishReason reason,
                  const std::vector<int32_t>& got) {
  const size_t n = std::min<size_t>(max_tokens, ref.ids.size());
  switch (reason) {
    case FinishReason::kLength:
      counts->finished_length.fetch_add(1);
      if (got.size() != max_tokens || !is_prefix(got, ref.ids)) {
        note_wrong(counts, ref, max_tokens, "length", got);
      }
      return;
    case FinishReason::kStop:
      counts->finished_stop.fetch_add(1);
      if (!ref.stops || got.size() != n || !is_prefix(got, ref.ids)) {
        note_wrong(counts, ref, max_tokens, "stop", got);
      }
      return;
    case FinishReason::kCancelled:
      counts->cancelled.fetch_add(1);
      if (!is_prefix(got, ref.ids)) note_wrong(counts, ref, max_tokens, "cancelled", got);
      return;
    default:
      note_wrong(counts, ref, max_tokens, "with an unexpected reason", got);
  }
}

// One client process: requests until told to stop. Each request reads its stream to the end,
// cancels it after a few tokens, or drops it half-read; the daemon vanishing is retried.
[[noreturn]] void client_process(const std::string& name, const std::vector<Reference>& refs,
                                 Counts* counts, uint32_t seed) {
  std::mt19937 rng(seed);
  std::unique_ptr<Client> client;
  while (counts->stop.load() == 0) {
    if (client == nullptr) {
      ConnectOptions options;
      options.ready_timeout = 200ms;
      const Status s = Client::connect(name, &client, options);
      if (!s.ok()) {
        counts->errors[static_cast<int>(s.code()) % kErrorCodes].fetch_add(1);
        client.reset();
        std::this_thread::sleep_for(20ms);
        continue;
      }
    }
    const Reference& ref = refs[rng() % refs.size()];
    const uint32_t max_tokens = 1 + rng() % kMaxTokens;
    const uint32_t action = rng() % 100;  // <70 read all, <85 cancel, else abandon
    const uint32_t after = rng() % (max_tokens + 1);
    std::unique_ptr<Stream> stream;
    counts->submitted.fetch_add(1);
    Status s = client->generate(ref.prompt, params_for(max_tokens), &stream);
    std::vector<int32_t> got;
    Token t;
    while (s.ok() && (s = stream->next(&t, 5s)).ok()) {
      got.push_back(t.id);
      if (got.size() == after && action >= 70) {
        if (action < 85) {
          stream->cancel();
        } else {
          counts->abandoned.fetch_add(1);
          if (!is_prefix(got, ref.ids)) note_wrong(counts, ref, max_tokens, "abandoned", got);
          break;
        }
      }
    }
    if (s.end_of_stream()) {
      check_ending(counts, ref, max_tokens, stream->finish_reason(), got);
    } else if (!s.ok()) {
      counts->errors[static_cast<int>(s.code()) % kErrorCodes].fetch_add(1);
      if (s.code() == ErrorCode::kQueueFull) std::this_thread::sleep_for(2ms);
      if (!is_prefix(got, ref.ids)) note_wrong(counts, ref, max_tokens, "in an error", got);
      if (s.code() == ErrorCode::kDaemonGone || s.code() == ErrorCode::kDaemonNotRunning) {
        stream.reset();
        client.reset();
      }
    }
  }
  std::_Exit(0);
}

pid_t start_client(const std::string& name, const std::vector<Reference>& refs, Counts* counts,
                   uint32_t seed) {
  const pid_t pid = ::fork();
  if (pid == 0) client_process(name, refs, counts, seed);
  return pid;
}

// Resident memory of a process in KiB (VmRSS), 0 if unknown.
uint64_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      uint64_t kib = 0;
      status >> kib;
      return kib;
    }
    std::getline(status, key);
  }
  return 0;
}

bool parse(int argc, char** argv, Options* o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--seconds") {
      o->seconds = std::atoi(value);
    } else if (flag == "--clients") {
      o->clients = std::atoi(value);
    } else if (flag == "--daemon-kills") {
      o->daemon_kills = std::atoi(value);
    } else if (flag == "--backend") {
      o->backend = value;
    } else if (flag == "--log-level") {
      o->log_level = value;
    } else if (flag == "--memory-check" &&
               (std::string(value) == "on" || std::string(value) == "off")) {
      o->memory_check = std::string(value) == "on";
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && o->seconds > 0 && o->clients > 0 && o->daemon_kills >= 0 &&
         (o->backend == "echo" || o->backend == "torch");
}

int run(const Options& o) {
  void* shared =
      ::mmap(nullptr, sizeof(Counts), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) return 1;
  auto* counts = new (shared) Counts();
  // Fewer slots and running places than clients, so requests also wait, and some find the
  // line full.
  testing::Daemon daemon({"--set", "model.backend=" + o.backend, "--set", "transport.slots=16",
                          "--set", "scheduler.max_concurrent=6", "--set", "scheduler.max_queue=4",
                          "--set", "daemon.log_level=" + o.log_level});
  if (!daemon.ready()) {
    std::fprintf(stderr, "soak: the daemon did not start\n");
    return 1;
  }
  std::vector<Reference> refs(12);
  for (size_t i = 0; i < refs.size(); ++i) refs[i].prompt = prompt_number(static_cast<int>(i));
  if (!learn_references(daemon.name(), &refs)) {
    std::fprintf(stderr, "soak: could not run the reference requests\n");
    return 1;
  }

  std::mt19937 rng(12345);
  std::vector<pid_t> clients;
  for (int i = 0; i < o.clients; ++i) {
    clients.push_back(start_client(daemon.name(), refs, counts, rng()));
  }
  const auto begin = Clock::now();
  const auto end = begin + std::chrono::seconds(o.seconds);
  // The daemon kills fall in the first 60% of the run; the rest is one daemon, whose memory is
  // measured from a third of the way into it.
  const auto last_kill_by = begin + std::chrono::seconds(o.seconds) * 6 / 10;
  const auto memory_from = last_kill_by + (end - last_kill_by) / 3;
  uint64_t client_kills = 0, daemon_restarts = 0, rss_start_kib = 0;
  bool restart_failed = false;
  auto next_client_kill = begin + 250ms;
  auto next_daemon_kill = begin + (last_kill_by - begin) / (o.daemon_kills + 1);
  while (Clock::now() < end) {
    std::this_thread::sleep_for(10ms);
    const auto now = Clock::now();
    if (now >= next_client_kill) {
      const size_t i = rng() % clients.size();
      ::kill(clients[i], SIGKILL);
      ::waitpid(clients[i], nullptr, 0);
      ++client_kills;
      clients[i] = start_client(daemon.name(), refs, counts, rng());
      next_client_kill = now + std::chrono::milliseconds(100 + rng() % 300);
    }
    if (static_cast<int>(daemon_restarts) < o.daemon_kills && now >= next_daemon_kill) {
      daemon.kill_hard();
      if (!daemon.restart()) {
        restart_failed = true;
        break;
      }
      ++daemon_restarts;
      next_daemon_kill = now + (last_kill_by - begin) / (o.daemon_kills + 1);
    }
    if (rss_start_kib == 0 && now >= memory_from) rss_start_kib = rss_kib(daemon.pid());
  }
  const uint64_t rss_end_kib = rss_kib(daemon.pid());

  // Let the clients finish their current request, then make sure they are gone.
  counts->stop.store(1);
  const auto grace = Clock::now() + 10s;
  size_t stragglers = 0;
  for (const pid_t pid : clients) {
    while (::waitpid(pid, nullptr, WNOHANG) == 0 && Clock::now() < grace) {
      std::this_thread::sleep_for(10ms);
    }
    if (::kill(pid, 0) == 0) {
      ++stragglers;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }

  // Nothing of theirs may stay behind: the slots of killed clients are freed within a second.
  DaemonStatus status;
  bool status_ok = false;
  const auto settle_by = Clock::now() + 2s;
  std::unique_ptr<Client> observer;
  while (Clock::now() < settle_by) {
    if (observer == nullptr && !Client::connect(daemon.name(), &observer).ok()) observer.reset();
    if (observer != nullptr && observer->status(&status).ok() && status.slots_in_use == 0 &&
        status.running == 0 && status.waiting == 0 && status.kv_cache.blocks_in_use == 0) {
      status_ok = true;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  observer.reset();
  const testing::ProcessResult stopped = daemon.stop();
  const bool segment_removed = ::access(("/dev/shm/ringserve." + daemon.name()).c_str(), F_OK) != 0;

  // Memory: allow allocator noise, not growth with the number of requests served.
  const uint64_t rss_allowed_kib = rss_start_kib + std::max<uint64_t>(4096, rss_start_kib / 10);
  const bool memory_ok = !o.memory_check || (rss_start_kib > 0 && rss_end_kib <= rss_allowed_kib);
  const uint64_t ended = counts->finished_length + counts->finished_stop + counts->cancelled;

  std::printf("soak: %d s, %d client processes, backend %s\n", o.seconds, o.clients,
              o.backend.c_str());
  std::printf("  requests submitted   %llu\n", (unsigned long long)counts->submitted.load());
  std::printf("  finished length      %llu\n", (unsigned long long)counts->finished_length.load());
  std::printf("  finished stop        %llu\n", (unsigned long long)counts->finished_stop.load());
  std::printf("  cancelled            %llu\n", (unsigned long long)counts->cancelled.load());
  std::printf("  abandoned mid-stream %llu\n", (unsigned long long)counts->abandoned.load());
  std::printf("  client kills         %llu\n", (unsigned long long)client_kills);
  std::printf("  daemon restarts      %llu of %d\n", (unsigned long long)daemon_restarts,
              o.daemon_kills);
  for (int code = 1; code < kErrorCodes; ++code) {
    const uint64_t n = counts->errors[code].load();
    if (n > 0) {
      std::printf("  error %-14s %llu\n", to_string(static_cast<ErrorCode>(code)),
                  (unsigned long long)n);
    }
  }
  std::printf("  wrong streams        %llu%s%s\n", (unsigned long long)counts->wrong_streams.load(),
              counts->first_wrong_taken ? ", first: " : "", counts->first_wrong);
  std::printf("  clients that did not stop %zu\n", stragglers);
  std::printf("  left behind: slots %u, running %u, waiting %u, KV blocks in use %u%s\n",
              status.slots_in_use, status.running, status.waiting, status.kv_cache.blocks_in_use,
              status_ok ? "" : " (after 2 s)");
  std::printf(
      "  KV cache             %u blocks: %u cached, %u free; prompt tokens %llu, %llu "
      "from the prefix cache; %llu preemptions\n",
      status.kv_cache.blocks_total, status.kv_cache.blocks_cached,
      status.kv_cache.blocks_total - status.kv_cache.blocks_in_use - status.kv_cache.blocks_cached,
      (unsigned long long)status.kv_cache.prompt_tokens,
      (unsigned long long)status.kv_cache.prompt_tokens_cached,
      (unsigned long long)status.kv_cache.preemptions);
  // The daemon checks its own bookkeeping when it stops (every KV block free or cached, with
  // no reference left; Server::check_invariants) and logs an error if it is broken.
  const bool bookkeeping_ok = stopped.errors.find("bookkeeping broken") == std::string::npos;
  std::printf("  bookkeeping at stop  %s\n", bookkeeping_ok ? "intact" : "BROKEN");
  std::printf("  daemon memory        %llu KiB -> %llu KiB (allowed %llu%s)\n",
              (unsigned long long)rss_start_kib, (unsigned long long)rss_end_kib,
              (unsigned long long)rss_allowed_kib, o.memory_check ? "" : ", not checked");
  std::printf("  daemon exit          %d, segment %s\n", stopped.exit_code,
              segment_removed ? "removed" : "LEFT BEHIND");

  // Errors no honest run produces: everything else (queue full, daemon gone or not running
  // around a restart, a timeout while the daemon was down) is the load doing its job.
  const uint64_t unexpected = counts->errors[static_cast<int>(ErrorCode::kProtocolError)] +
                              counts->errors[static_cast<int>(ErrorCode::kInternal)] +
                              counts->errors[static_cast<int>(ErrorCode::kInvalidParams)] +
                              counts->errors[static_cast<int>(ErrorCode::kInvalidArgument)] +
                              counts->errors[static_cast<int>(ErrorCode::kVersionMismatch)] +
                              counts->errors[static_cast<int>(ErrorCode::kPermissionDenied)];
  const bool pass = !restart_failed && counts->wrong_streams == 0 && unexpected == 0 &&
                    stragglers == 0 && status_ok && memory_ok && stopped.exit_code == 0 &&
                    bookkeeping_ok && segment_removed && ended > 0;
  std::printf("soak: %s\n", pass ? "PASS" : "FAIL");
  if (!pass && !stopped.errors.empty()) {
    std::fprintf(stderr, "daemon log:\n%s\n", stopped.errors.c_str());
  }
  return pass ? 0 : 1;
}

}  // namespace
}  // namespace ringserve::soak

int main(int argc, char** argv) {
  ringserve::soak::Options options;
  if (!ringserve::soak::parse(argc, argv, &options)) {
    std::fprintf(stderr,
                 "usage: %s [--seconds S] [--clients N] [--daemon-kills K] "
                 "[--backend echo|torch] [--log-level LEVEL] [--memory-check on|off]\n",
                 argv[0]);
    return 2;
  }
  return ringserve::soak::run(options);
}
