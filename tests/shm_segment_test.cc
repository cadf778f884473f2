// Segment::create: the daemon takes all of the segment's memory at start, so a full /dev/shm
// is a clear error then (not a SIGBUS mid-stream), and maps it all, so the loop thread never
// takes a page fault on its first write to a ring.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "shm/layout.h"
#include "shm/segment.h"

namespace ringserve::shm {
namespace {

std::string test_name(const char* what) {
  return std::string("segment-test-") + what + "-" + std::to_string(::getpid());
}

// Whether the page holding `address` is mapped in this process's page table now: bit 63 of
// its /proc/self/pagemap entry. Read, not touched, so that checking cannot map it (and a
// sanitizer's shadow memory does not count).
bool page_present(int pagemap_fd, const void* address) {
  const auto page = reinterpret_cast<uintptr_t>(address) / 4096;
  uint64_t entry = 0;
  if (::pread(pagemap_fd, &entry, sizeof entry, static_cast<off_t>(page * sizeof entry)) !=
      sizeof entry) {
    return false;
  }
  return (entry >> 63) != 0;
}

TEST(Segment, CreatorFindsEveryPageMapped) {
  const std::string name = test_name("populated");
  std::unique_ptr<Segment> segment;
  std::string message;
  const SegmentShape shape{64, 4096, 256};  // 64 rings of 16 KB: over 300 pages
  ASSERT_EQ(Segment::create(name, shape, {}, &segment, &message), SegmentError::kOk) << message;
  const int pagemap = ::open("/proc/self/pagemap", O_RDONLY);
  ASSERT_GE(pagemap, 0);
  const SegmentView view = segment->view();
  int missing = 0;
  for (uint32_t i = 0; i < shape.slot_count; ++i) {
    // Every page of every ring and prompt area, which a stream's first writes would fault in.
    const char* ring = reinterpret_cast<const char*>(view.token_ring(i));
    for (uint64_t b = 0; b < view.geometry().token_ring_stride; b += 4096) {
      missing += page_present(pagemap, ring + b) ? 0 : 1;
    }
    const char* prompt = view.prompt(i);
    for (uint64_t b = 0; b < shape.prompt_capacity; b += 4096) {
      missing += page_present(pagemap, prompt + b) ? 0 : 1;
    }
  }
  ::close(pagemap);
  EXPECT_EQ(missing, 0);
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
