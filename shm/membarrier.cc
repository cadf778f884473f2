#include "shm/membarrier.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ringserve::shm {
namespace {

long membarrier(int command) { return ::syscall(__NR_membarrier, command, 0, 0); }

}  // namespace

bool register_for_heavy_fence() {
  static const bool registered = [] {
    const bool ok = membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
    // Release: a thread that sees the flag runs after the registration took effect.
    g_registered_for_heavy_fence.store(ok, std::memory_order_release);
    return ok;
  }();
  return registered;
}

bool heavy_fence() {
  // Expedited: IPIs to the CPUs running registered processes, ~1 us. The plain global command
  // covers every process, registered or not, but waits for a grace period (ms under load): the
  // fallback for a kernel without the expedited one.
  static const int command = [] {
    const long supported = membarrier(MEMBARRIER_CMD_QUERY);
    if (supported < 0) return -1;
    if (supported & MEMBARRIER_CMD_GLOBAL_EXPEDITED) return int{MEMBARRIER_CMD_GLOBAL_EXPEDITED};
    if (supported & MEMBARRIER_CMD_GLOBAL) return int{MEMBARRIER_CMD_GLOBAL};
    return -1;
  }();
  return command >= 0 && membarrier(command) == 0;
}

}  // namespace ringserve::shm
