// The kernel ISAs a test can run on this CPU, worst first: every test of the CPU kernels goes
// over each of them, so an AVX-512 host also checks the AVX2 code.
#pragma once

#include <vector>

#include "engine/kernels/cpu_kernels.h"

namespace ringserve::model {

inline std::vector<KernelIsa> runnable_isas() {
  std::vector<KernelIsa> isas;
  const KernelIsa best = best_kernel_isa();
  if (best >= KernelIsa::kAvx2) isas.push_back(KernelIsa::kAvx2);
  if (best >= KernelIsa::kAvx512) isas.push_back(KernelIsa::kAvx512);
  return isas;
}

}  // namespace ringserve::model
