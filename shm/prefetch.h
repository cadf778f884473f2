// Cache-line prefetch hints for loops over many sequences' shared-memory lines.
//
// Not __builtin_prefetch: GCC counts it as free of side effects, so a function made only of
// prefetches is found pure and its calls are deleted (GCC 12 at -O2 dropped the daemon's whole
// prefetch pass that way). An asm volatile statement is never removed. On x86-64, prefetchw
// asks for the line in a writable state, saving the second coherence request a store to a line
// another core holds would make. It is an extension (CPUID PRFCHW: AMD, Intel since Broadwell),
// so it is used only where the CPU reports it, and prefetcht0 stands in elsewhere.
#pragma once

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace ringserve::shm {

#if defined(__x86_64__)
inline bool cpu_has_prefetchw() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(0x80000001, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_PRFCHW) != 0;
}
// Read once at start-up: a prefetch pays one predictable branch, not a CPUID.
inline const bool kHasPrefetchw = cpu_has_prefetchw();
#endif

inline void prefetch_read(const void* address) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(address)));
#else
  __builtin_prefetch(address, 0);
#endif
}

inline void prefetch_write(const void* address) {
#if defined(__x86_64__)
  if (kHasPrefetchw) {
    asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(address)));
  } else {
    prefetch_read(address);
  }
#else
  __builtin_prefetch(address, 1);
#endif
}

}  // namespace ringserve::shm
