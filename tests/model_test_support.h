// Helpers of the tests that run a real ringserved with a model (ringserve_model_integration_tests).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "ringserve/client.h"

namespace ringserve::testing {

// A directory under the temp dir unique to this process and test: "ringserve-WHAT-PID-TEST".
inline std::string test_temp_dir(const std::string& what) {
  return (std::filesystem::temp_directory_path() /
          ("ringserve-" + what + "-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name()))
      .string();
}

// Greedy decoding of up to max_tokens tokens.
inline GenerateParams greedy(uint32_t max_tokens) {
  GenerateParams p;
  p.max_tokens = max_tokens;
  p.temperature = 0;
  return p;
}

}  // namespace ringserve::testing
