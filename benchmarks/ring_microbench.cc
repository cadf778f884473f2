// `ringserve-bench micro`: Google Benchmark micro-benchmarks of the shm building blocks,
// in one process (threads stand in for processes; the memory is the same kind).
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "benchmarks/bench_options.h"
#include "shm/clock.h"
#include "shm/request_ring.h"
#include "shm/token_ring.h"
#include "shm/wait.h"

namespace ringserve::bench {
namespace {

// A zeroed shared mapping (the kind of memory the segment is), unmapped at scope exit.
class SharedMemory {
 public:
  explicit SharedMemory(size_t bytes)
      : bytes_(bytes),
        base_(::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)) {
    if (base_ == MAP_FAILED) std::abort();
  }
  ~SharedMemory() { ::munmap(base_, bytes_); }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(base_);
  }

 private:
  size_t bytes_;
  void* base_;
};

void BM_RequestRingPushPoll(benchmark::State& state) {
  constexpr uint32_t kCap = 128;
  const SharedMemory mem(sizeof(shm::RequestRingHeader) + size_t{kCap} * 8);
  auto* header = mem.as<shm::RequestRingHeader>();
  shm::RequestRingConsumer consumer(header, kCap, 50'000'000);
  consumer.initialize();
  shm::RequestRingProducer producer(header, kCap);
  uint32_t value = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    producer.try_push(7);
    consumer.poll(0, &value);
    benchmark::DoNotOptimize(value);
  }
}
BENCHMARK(BM_RequestRingPushPoll);

void BM_TokenRingWritePublishPop(benchmark::State& state) {
  constexpr uint32_t kCap = 256;
  const SharedMemory mem(sizeof(shm::TokenRingHeader) + kCap * sizeof(shm::TokenEntry));
  auto* header = mem.as<shm::TokenRingHeader>();
  shm::TokenRingReader reader(header, kCap);
  reader.reset();
  shm::TokenRingWriter writer(header, kCap);
  writer.begin();
  shm::TokenEntry e{};
  e.text_length = 4;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    writer.write(e);
    benchmark::DoNotOptimize(writer.publish());
    reader.pop(&e);
  }
}
BENCHMARK(BM_TokenRingWritePublishPop);

// Round trip between two threads on two token rings, both spinning: the cost of moving one
// cache line each way.
void BM_TokenRingPingPongSpin(benchmark::State& state) {
  constexpr uint32_t kCap = 16;
  const size_t bytes = sizeof(shm::TokenRingHeader) + kCap * sizeof(shm::TokenEntry);
  const SharedMemory ping_mem(bytes), pong_mem(bytes);
  auto* ping = ping_mem.as<shm::TokenRingHeader>();
  auto* pong = pong_mem.as<shm::TokenRingHeader>();
  shm::TokenRingReader ping_reader(ping, kCap), pong_reader(pong, kCap);
  ping_reader.reset();
  pong_reader.reset();
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    shm::TokenRingWriter out(pong, kCap);
    out.begin();
    shm::TokenEntry e{};
    while (!stop.load(std::memory_order_relaxed)) {
      if (ping_reader.available() == 0) continue;
      ping_reader.pop(&e);
      out.write(e);
      out.publish();
    }
  });
  shm::TokenRingWriter writer(ping, kCap);
  writer.begin();
  shm::TokenEntry e{};
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    writer.write(e);
    writer.publish();
    while (pong_reader.available() == 0) shm::cpu_relax();
    pong_reader.pop(&e);
  }
  stop = true;
  echo.join();
}
BENCHMARK(BM_TokenRingPingPongSpin)->UseRealTime();

// Round trip where each side sleeps in futex wait: two wake-ups per iteration.
void BM_FutexPingPong(benchmark::State& state) {
  struct Words {
    uint32_t ping, ping_sleeping, pong, pong_sleeping;
  };
  const SharedMemory mem(4096);
  auto* w = mem.as<Words>();
  std::atomic<bool> stop{false};
  const shm::WaitPolicy futex{shm::WaitMode::kFutex, 0};
  std::thread echo([&] {
    uint32_t seen = 0;
    for (;;) {
      const auto ready = [&] { return shm::load(w->ping) != seen || stop.load(); };
      shm::wait_until(ready, &w->ping, &w->ping_sleeping, futex, shm::kNoDeadline);
      if (stop.load()) return;
      seen = shm::load(w->ping);
      shm::store(w->pong, seen, std::memory_order_seq_cst);
      if (shm::load(w->pong_sleeping, std::memory_order_seq_cst)) shm::futex_wake(&w->pong);
    }
  });
  uint32_t n = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    ++n;
    shm::store(w->ping, n, std::memory_order_seq_cst);
    if (shm::load(w->ping_sleeping, std::memory_order_seq_cst)) shm::futex_wake(&w->ping);
    const auto ready = [&] { return shm::load(w->pong) == n; };
    shm::wait_until(ready, &w->pong, &w->pong_sleeping, futex, shm::kNoDeadline);
  }
  stop = true;
  shm::fetch_add(w->ping, 1u, std::memory_order_seq_cst);
  shm::futex_wake(&w->ping);
  echo.join();
}
BENCHMARK(BM_FutexPingPong)->UseRealTime();

void BM_MonotonicClock(benchmark::State& state) {
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    benchmark::DoNotOptimize(shm::monotonic_ns());
  }
}
BENCHMARK(BM_MonotonicClock);

}  // namespace

int micro_main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace ringserve::bench
