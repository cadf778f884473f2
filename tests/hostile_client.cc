// A hostile client for tests/hostile_test.cc: it submits requests through the client library
// like any client, then maps the daemon's segment itself and writes what a process with access
// to the segment can write.
//
//   ringserve_hostile_client NAME release-full HOLD_MS
//       One request, never read; once its token ring is full, sets client_released on its own
//       slot without cancelling. Stays alive HOLD_MS, then exits without touching the slot.
//   ringserve_hostile_client NAME corrupt-tail HOLD_MS
//       One request, never read; once its ring is full, writes an impossible tail into it.
//   ringserve_hostile_client NAME scribble-rings MS
//       For MS ms, writes random values over every other slot's token ring (head, tail,
//       flags, entries) and the request ring, never over a slot's header.
//   ringserve_hostile_client NAME hold COUNT HOLD_MS
//       COUNT requests of 4000 tokens whose streams are never read, kept HOLD_MS.
//   ringserve_hostile_client NAME priority PRIORITY COUNT MS
//       Keeps COUNT requests at PRIORITY queued or running for MS ms (each one read to its end
//       and replaced). Prints the first rejection's status and exits 4 if one was rejected.
//
// Prints "ready" (flushed) once the attack is in place, so the test can go on. Exits 0 when
// done, 1-3 when it could not set the attack up.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ringserve/client.h"
#include "shm/atomics.h"
#include "shm/segment.h"

namespace {

using Clock = std::chrono::steady_clock;
using ringserve::shm::load;
using ringserve::shm::store;

std::unique_ptr<ringserve::shm::Segment> map_segment(const std::string& name) {
  std::unique_ptr<ringserve::shm::Segment> segment;
  std::string message;
  if (ringserve::shm::Segment::open(name, 1'000'000'000, &segment, &message) !=
      ringserve::shm::SegmentError::kOk) {
    std::fprintf(stderr, "hostile: %s\n", message.c_str());
    std::exit(2);
  }
  return segment;
}

// The slot this process's latest request holds (its pid is in the state word).
uint32_t own_slot(const ringserve::shm::SegmentView& v) {
  for (uint32_t i = 0; i < v.shape().slot_count; ++i) {
    if (ringserve::shm::word_pid(load(v.slot(i)->state_word)) == ::getpid()) return i;
  }
  std::fprintf(stderr, "hostile: no slot of ours\n");
  std::exit(3);
}

void ready() {
  std::printf("ready\n");
  std::fflush(stdout);
}

void sleep_ms(long ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Submits one long request and waits until the daemon has filled its ring.
uint32_t submit_and_fill(const std::string& name, std::unique_ptr<ringserve::Client>* client,
                         std::unique_ptr<ringserve::Stream>* stream,
                         const ringserve::shm::SegmentView& v) {
  ringserve::GenerateParams params;
  params.max_tokens = 4000;
  if (!ringserve::Client::connect(name, client).ok() ||
      !(*client)->generate("hostile", params, stream).ok()) {
    std::exit(1);
  }
  const uint32_t slot = own_slot(v);
  const ringserve::shm::TokenRingHeader* ring = v.token_ring(slot);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (load(ring->head) - load(ring->tail) < v.shape().token_ring_capacity) {
    if (Clock::now() > deadline) std::exit(3);
    sleep_ms(1);
  }
  return slot;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s NAME MODE ARGS...\n", argv[0]);
    return 2;
  }
  const std::string name = argv[1];
  const std::string mode = argv[2];
  const long arg = std::atol(argv[3]);
  auto segment = map_segment(name);
  const ringserve::shm::SegmentView& v = segment->view();
  std::unique_ptr<ringserve::Client> client;
  std::unique_ptr<ringserve::Stream> stream;

  if (mode == "release-full" || mode == "corrupt-tail") {
    const uint32_t slot = submit_and_fill(name, &client, &stream, v);
    if (mode == "release-full") {
      store(v.slot(slot)->client_released, 1u, std::memory_order_seq_cst);
    } else {
      ringserve::shm::TokenRingHeader* ring = v.token_ring(slot);
      store(ring->tail, load(ring->head) + 12345u);
    }
    ready();
    sleep_ms(arg);
    std::_Exit(0);  // no destructors: the Stream must not release or cancel for us
  }

  if (mode == "scribble-rings") {
    std::mt19937_64 rng(static_cast<uint64_t>(::getpid()));
    const ringserve::shm::SegmentGeometry& g = v.geometry();
    auto* cells = reinterpret_cast<uint64_t*>(v.request_ring() + 1);
    ready();
    const auto end = Clock::now() + std::chrono::milliseconds(arg);
    while (Clock::now() < end) {
      for (uint32_t i = 0; i < v.shape().slot_count; ++i) {
        ringserve::shm::TokenRingHeader* ring = v.token_ring(i);
        switch (rng() % 4) {
          case 0:
            store(ring->tail, static_cast<uint32_t>(rng()), std::memory_order_relaxed);
            break;
          case 1:
            store(ring->head, static_cast<uint32_t>(rng()), std::memory_order_relaxed);
            break;
          case 2:
            store(ring->daemon_waiting_room, static_cast<uint32_t>(rng()),
                  std::memory_order_relaxed);
            break;
          default: {
            auto* entries = reinterpret_cast<unsigned char*>(ring + 1);
            const size_t at = rng() % (g.token_ring_stride - sizeof(*ring));
            entries[at] = static_cast<unsigned char>(rng());
          }
        }
      }
      store(cells[rng() % g.request_ring_capacity], rng(), std::memory_order_relaxed);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return 0;
  }

  if (mode == "hold") {
    if (!ringserve::Client::connect(name, &client).ok()) return 1;
    std::vector<std::unique_ptr<ringserve::Stream>> held(static_cast<size_t>(arg));
    ringserve::GenerateParams params;
    params.max_tokens = 4000;
    for (auto& s : held) {
      const ringserve::Status st = client->generate("never read", params, &s);
      if (!st.ok()) {
        std::fprintf(stderr, "hostile: %s\n", st.to_string().c_str());
        return 1;
      }
    }
    ready();
    sleep_ms(argc > 4 ? std::atol(argv[4]) : 60'000);
    std::_Exit(0);
  }

  if (mode == "priority" && argc >= 6) {
    if (!ringserve::Client::connect(name, &client).ok()) return 1;
    ringserve::GenerateParams params;
    params.max_tokens = 50;
    params.priority = static_cast<int32_t>(arg);
    const auto count = static_cast<size_t>(std::atol(argv[4]));
    const auto end = Clock::now() + std::chrono::milliseconds(std::atol(argv[5]));
    std::vector<std::unique_ptr<ringserve::Stream>> streams(count);
    bool announced = false;
    while (Clock::now() < end) {
      for (auto& s : streams) {
        ringserve::Token token;
        ringserve::Status st;
        if (s != nullptr) {
          while ((st = s->next(&token, std::chrono::milliseconds(0))).ok()) {
          }
          if (st.code() == ringserve::ErrorCode::kTimeout) continue;  // still going
        }
        if (!st.ok() && !st.end_of_stream() && s != nullptr) {
          std::printf("rejected %s\n", st.to_string().c_str());
          return 4;
        }
        st = client->generate("flood", params, &s);
        if (!st.ok()) {
          std::printf("rejected %s\n", st.to_string().c_str());
          return 4;
        }
      }
      if (!announced) ready();
      announced = true;
      sleep_ms(1);
    }
    return 0;
  }
  std::fprintf(stderr, "hostile: unknown mode %s\n", mode.c_str());
  return 2;
}
