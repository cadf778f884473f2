// Segment::create: the daemon takes all of the segment's memory at start, so a full /dev/shm
// is a clear error then (not a SIGBUS mid-stream), and maps it all, so the loop thread never
// takes a page fault on its first write to a ring; an object of its name that another user
// made is an error that names the owner.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "shm/layout.h"
#include "shm/segment.h"
#include "tests/test_support.h"

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

TEST(Segment, CreateNamesTheOwnerOfAnObjectItMayNotRemove) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to act as two other users";
  const uid_t squatter = testing::unused_id(62500);
  const uid_t daemon = testing::unused_id(squatter + 1);
  const std::string name = test_name("squatted");
  const std::string path = "/dev/shm/" + segment_object_name(name);
  ASSERT_EQ(testing::as_user(squatter,
                             [&] {
                               const int fd = ::shm_open(("/" + segment_object_name(name)).c_str(),
                                                         O_CREAT | O_EXCL | O_RDWR, 0600);
                               return fd < 0 ? 1 : 0;
                             }),
            0);
  // The daemon, as its own user, cannot remove it (/dev/shm is sticky): it says whose it is.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const int code = testing::as_user(daemon, [&] {
    std::unique_ptr<Segment> segment;
    std::string message;
    const SegmentError e = Segment::create(name, {1, 16, 4}, {}, &segment, &message);
    const ssize_t ignored = ::write(pipe_fds[1], message.data(), message.size());
    (void)ignored;
    return static_cast<int>(e);
  });
  ::close(pipe_fds[1]);
  std::string message;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) message.append(buf, n);
  ::close(pipe_fds[0]);
  EXPECT_EQ(code, static_cast<int>(SegmentError::kPermissionDenied)) << message;
  EXPECT_NE(message.find("belongs to uid " + std::to_string(squatter)), std::string::npos)
      << message;
  EXPECT_NE(message.find("rm " + path), std::string::npos) << message;
  // Still the squatter's: nothing was removed or replaced.
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, squatter);
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace ringserve::shm
