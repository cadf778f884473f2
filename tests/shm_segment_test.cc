// Segment::create: the daemon takes all of the segment's memory at start, so a full /dev/shm
// is a clear error then (not a SIGBUS mid-stream), and maps it all, so the loop thread never
// takes a page fault on its first write to a ring.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "shm/layout.h"
#include "shm/segment.h"

namespace ringserve::shm {
namespace {

std::string test_name(const char* what) {
  return std::string("segment-test-") + what + "-" + std::to_string(::getpid());
}

long minor_faults() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

TEST(Segment, CreatorFindsEveryPageMapped) {
  const std::string name = test_name("populated");
  std::unique_ptr<Segment> segment;
  std::string message;
  const SegmentShape shape{64, 4096, 256};  // 64 rings of 16 KB: over 300 pages
  ASSERT_EQ(Segment::create(name, shape, {}, &segment, &message), SegmentError::kOk) << message;
  const SegmentView view = segment->view();
  const long before = minor_faults();
  for (uint32_t i = 0; i < shape.slot_count; ++i) {
    // Every page of every ring and prompt area, as a stream writes them.
    char* ring = reinterpret_cast<char*>(view.token_ring(i));
    for (uint64_t b = 0; b < view.geometry().token_ring_stride; b += 4096) ring[b] = 1;
    char* prompt = view.prompt(i);
    for (uint64_t b = 0; b < shape.prompt_capacity; b += 4096) prompt[b] = 1;
  }
  const long faults = minor_faults() - before;
  // A handful for the test's own stack and heap at most, not one per page (~330 here).
  EXPECT_LT(faults, 16);
  segment.reset();
}

TEST(Segment, TooLittleRoomInDevShmIsAClearErrorAtCreate) {
  struct statvfs fs {};
  ASSERT_EQ(::statvfs("/dev/shm", &fs), 0);
  // More than /dev/shm's whole size, not just its free room: tmpfs refuses that at once,
  // where a request that merely exceeds the free room would first take what is free.
  const uint64_t available = uint64_t{fs.f_blocks} * fs.f_frsize;
  // The largest prompt areas, and as many slots as it takes.
  SegmentShape shape{1, kMaxPromptCapacity, 4};
  while (segment_geometry(shape).segment_bytes <= available && shape.slot_count < kMaxSlots) {
    shape.slot_count = std::min(kMaxSlots, shape.slot_count * 2);
  }
  if (segment_geometry(shape).segment_bytes <= available) {
    GTEST_SKIP() << "/dev/shm has more room than the largest segment needs";
  }
  const std::string name = test_name("toolarge");
  std::unique_ptr<Segment> segment;
  std::string message;
  EXPECT_EQ(Segment::create(name, shape, {}, &segment, &message), SegmentError::kSystem);
  EXPECT_NE(message.find("cannot reserve"), std::string::npos) << message;
  EXPECT_NE(message.find("transport.slots"), std::string::npos) << message;
  EXPECT_EQ(segment, nullptr);
  // Nothing is left behind.
  EXPECT_NE(::access(("/dev/shm/" + segment_object_name(name)).c_str(), F_OK), 0);
}

}  // namespace
}  // namespace ringserve::shm
