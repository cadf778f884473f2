// CPU accounting for benchmark runs, so that a table can say who used the CPUs: this process,
// the processes it started, one named process (the daemon), and everything else on the machine
// ("other load": other users' builds make spin-mode numbers meaningless on a 2-CPU machine).
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace ringserve::bench {

// CPU time (user + system) of a live process, from /proc/PID/stat; 0 if unreadable.
uint64_t process_cpu_ns(pid_t pid);

struct ContextSwitches {
  uint64_t voluntary = 0;    // the process blocked (futex wait, sleep, read)
  uint64_t involuntary = 0;  // the scheduler took the CPU away
  ContextSwitches operator-(const ContextSwitches& o) const {
    return {voluntary - o.voluntary, involuntary - o.involuntary};
  }
};
// Of a live process's main thread (ringserved's loop is its main thread), /proc/PID/status.
ContextSwitches process_context_switches(pid_t pid);
// Of all reaped children together (getrusage RUSAGE_CHILDREN).
ContextSwitches children_context_switches();

// Measures an interval: wall time, machine busy time (/proc/stat), this process's CPU time and
// that of its reaped children (getrusage). Read the results after the children are reaped.
class CpuMeter {
 public:
  CpuMeter() { restart(); }
  void restart();
  double wall_s() const;
  double machine_busy_cpus() const;  // average CPUs busy over the interval, all processes
  double self_cpus() const;          // this process
  double children_cpus() const;      // children reaped during the interval
  // machine - self - reaped children: CPUs used by processes this run did not start.
  double other_cpus() const;

 private:
  uint64_t start_ns_ = 0;
  uint64_t machine_busy_ticks_ = 0;
  uint64_t self_ns_ = 0;
  uint64_t children_ns_ = 0;
};

// Samples the machine for `ms` milliseconds: CPUs busy (all processes).
double machine_busy_cpus_now(int ms);

}  // namespace ringserve::bench
