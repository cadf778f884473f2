#include "benchmarks/cpu_usage.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "shm/clock.h"

namespace ringserve::bench {
namespace {

uint64_t ns_per_tick() {
  static const uint64_t ns = 1'000'000'000ULL / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
  return ns;
}

// Busy ticks of all CPUs: the "cpu" line of /proc/stat minus idle and iowait.
uint64_t machine_busy_ticks() {
  std::ifstream in("/proc/stat");
  std::string label;
  in >> label;
  if (label != "cpu") return 0;
  uint64_t total = 0, idle = 0;
  for (int field = 0; field < 10; ++field) {
    uint64_t v = 0;
    if (!(in >> v)) break;
    if (field == 8 || field == 9) continue;  // guest time is already counted in user
    total += v;
    if (field == 3 || field == 4) idle += v;
  }
  return total - idle;
}

uint64_t rusage_ns(int who) {
  rusage ru{};
  ::getrusage(who, &ru);
  const auto ns = [](const timeval& tv) {
    return static_cast<uint64_t>(tv.tv_sec) * 1'000'000'000ULL +
           static_cast<uint64_t>(tv.tv_usec) * 1000ULL;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

}  // namespace

uint64_t process_cpu_ns(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  // Field 2 (comm) may hold spaces; fields after the last ')' are space-separated, starting
  // with field 3. utime and stime are fields 14 and 15.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return (utime + stime) * ns_per_tick();
}

ContextSwitches process_context_switches(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  ContextSwitches cs;
  for (std::string key; in >> key;) {
    if (key == "voluntary_ctxt_switches:") in >> cs.voluntary;
    if (key == "nonvoluntary_ctxt_switches:") in >> cs.involuntary;
  }
  return cs;
}

ContextSwitches children_context_switches() {
  rusage ru{};
  ::getrusage(RUSAGE_CHILDREN, &ru);
  return {static_cast<uint64_t>(ru.ru_nvcsw), static_cast<uint64_t>(ru.ru_nivcsw)};
}

void CpuMeter::restart() {
  start_ns_ = shm::monotonic_ns();
  machine_busy_ticks_ = machine_busy_ticks();
  self_ns_ = rusage_ns(RUSAGE_SELF);
  children_ns_ = rusage_ns(RUSAGE_CHILDREN);
}

double CpuMeter::wall_s() const {
  return static_cast<double>(shm::monotonic_ns() - start_ns_) / 1e9;
}

double CpuMeter::machine_busy_cpus() const {
  const uint64_t ticks = machine_busy_ticks() - machine_busy_ticks_;
  return static_cast<double>(ticks * ns_per_tick()) / 1e9 / wall_s();
}

double CpuMeter::self_cpus() const {
  return static_cast<double>(rusage_ns(RUSAGE_SELF) - self_ns_) / 1e9 / wall_s();
}

double CpuMeter::children_cpus() const {
  return static_cast<double>(rusage_ns(RUSAGE_CHILDREN) - children_ns_) / 1e9 / wall_s();
}

double CpuMeter::other_cpus() const {
  // Tick accounting is coarse (10 ms); never report a negative load.
  return std::max(0.0, machine_busy_cpus() - self_cpus() - children_cpus());
}

double machine_busy_cpus_now(int ms) {
  CpuMeter meter;
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return meter.machine_busy_cpus();
}

}  // namespace ringserve::bench
