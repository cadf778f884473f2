// Cache-line prefetch hints for loops over many sequences' shared-memory lines.
//
// Not __builtin_prefetch: GCC counts it as free of side effects, so a function made only of
// prefetches is found pure and its calls are deleted (GCC 12 at -O2 dropped the daemon's whole
// prefetch pass that way). An asm volatile statement is never removed. On x86-64, prefetchw
// asks for the line in a writable state, saving the second coherence request a store to a line
// another core holds would make; CPUs without it (pre-Broadwell Intel) execute it as a no-op.
#pragma once

namespace ringserve::shm {

inline void prefetch_read(const void* address) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(address)));
#else
  __builtin_prefetch(address, 0);
#endif
}

inline void prefetch_write(const void* address) {
#if defined(__x86_64__)
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(address)));
#else
  __builtin_prefetch(address, 1);
#endif
}

}  // namespace ringserve::shm
