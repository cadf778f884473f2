#include "tests/daemon_checks.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "shm/atomics.h"
#include "shm/segment.h"

namespace ringserve::testing {

using namespace std::chrono_literals;

// The daemon's CPU time so far (user + system), from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

bool process_running(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == 0;
}

// The daemon's own view of what it holds, from the segment header.
Held held(const std::string& name) {
  std::unique_ptr<shm::Segment> segment;
  std::string message;
  Held h{~0u, ~0u, ~0u};
  if (shm::Segment::open(name, 1'000'000'000, &segment, &message) != shm::SegmentError::kOk) {
    return h;
  }
  const shm::SegmentView& v = segment->view();
  h.rows = shm::load(v.header()->backend_rows_in_use);
  h.sequences = shm::load(v.header()->sequences_held);
  h.slots_in_use = 0;
  for (uint32_t i = 0; i < v.shape().slot_count; ++i) {
    h.slots_in_use += shm::word_state(shm::load(v.slot(i)->state_word)) != shm::SlotState::kFree;
  }
  return h;
}

// The checks every attack ends with: the daemon lives, holds nothing, gives back every slot,
// serves `batch` requests at once, each with exactly its tokens, and sleeps when idle.
void expect_recovered(Daemon& daemon, int batch) {
  ASSERT_TRUE(process_running(daemon.pid())) << "the daemon died:\n" << daemon.stop().errors;
  Held h;
  EXPECT_TRUE(eventually(
      [&] {
        h = held(daemon.name());
        return h.rows == 0 && h.sequences == 0 && h.slots_in_use == 0;
      },
      3000ms))
      << "KV rows " << h.rows << ", sequences " << h.sequences << ", slots in use "
      << h.slots_in_use;
  struct Honest {
    pid_t pid;
    int out, err;
  };
  std::vector<Honest> honest(static_cast<size_t>(batch));
  for (Honest& c : honest) {
    c.pid = spawn({TEST_CLIENT_PATH, daemon.name(), "full batch", "30"}, &c.out, &c.err);
  }
  for (Honest& c : honest) {
    const ProcessResult r = collect(c.pid, c.out, c.err);
    EXPECT_EQ(r.output, "full batchfull batchfull batch\nids 30\nfinish length\n") << r.errors;
  }
  const double before = cpu_seconds(daemon.pid());
  std::this_thread::sleep_for(1000ms);
  const double used = cpu_seconds(daemon.pid()) - before;
  EXPECT_LT(used, 0.1) << "the idle daemon used " << used << " s of CPU in 1 s";
  ASSERT_TRUE(process_running(daemon.pid())) << "the daemon died:\n" << daemon.stop().errors;
}

}  // namespace ringserve::testing
