// Atomic access to plain integer fields of shared-memory structs.
//
// Structs in the segment are standard-layout and trivially copyable, so their fields are plain
// integers; every cross-process access goes through std::atomic_ref with an explicit memory
// order. The static_asserts pin that these atomics are lock-free: a lock-based fallback would
// put a process-local lock in front of a shared word, which is meaningless across processes.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace ringserve::shm {

static_assert(std::atomic_ref<uint32_t>::is_always_lock_free);
static_assert(std::atomic_ref<uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<int32_t>::is_always_lock_free);
static_assert(std::atomic_ref<uint32_t>::required_alignment == alignof(uint32_t));
static_assert(std::atomic_ref<uint64_t>::required_alignment == alignof(uint64_t));

template <class T>
inline T load(const T& field, std::memory_order order = std::memory_order_acquire) {
  return std::atomic_ref<T>(const_cast<T&>(field)).load(order);
}

template <class T>
inline void store(T& field, std::type_identity_t<T> value,
                  std::memory_order order = std::memory_order_release) {
  std::atomic_ref<T>(field).store(value, order);
}

template <class T>
inline bool compare_exchange(T& field, T& expected, std::type_identity_t<T> desired,
                             std::memory_order order = std::memory_order_acq_rel) {
  return std::atomic_ref<T>(field).compare_exchange_strong(expected, desired, order,
                                                           std::memory_order_acquire);
}

template <class T>
inline T exchange(T& field, std::type_identity_t<T> value,
                  std::memory_order order = std::memory_order_acq_rel) {
  return std::atomic_ref<T>(field).exchange(value, order);
}

template <class T>
inline T fetch_add(T& field, std::type_identity_t<T> delta,
                   std::memory_order order = std::memory_order_acq_rel) {
  return std::atomic_ref<T>(field).fetch_add(delta, order);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace ringserve::shm
