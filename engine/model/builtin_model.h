// Where the built-in model lives. ringserved runs it when model.path is empty; `ringctl
// tokenize` uses its tokenizer when no --model is given.
//
// An installed program finds it next to itself, at <exe dir>/RINGSERVE_BUILTIN_MODEL_RELDIR
// (cmake/install.cmake sets the path from bin/ to share/ringserve/models/builtin and installs
// the model there), so an installed daemon does not depend on the source tree. A program run
// from the build tree has nothing there and falls back to RINGSERVE_BUILTIN_MODEL_DIR, the
// source tree's models/builtin, which the build sets for every target that includes this.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

#ifndef RINGSERVE_BUILTIN_MODEL_DIR
#define RINGSERVE_BUILTIN_MODEL_DIR "models/builtin"
#endif
#ifndef RINGSERVE_BUILTIN_MODEL_RELDIR
#define RINGSERVE_BUILTIN_MODEL_RELDIR "../share/ringserve/models/builtin"
#endif

namespace ringserve::model {

inline std::string builtin_model_dir() {
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    const std::filesystem::path installed =
        std::filesystem::path(std::string(exe, static_cast<size_t>(n))).parent_path() /
        RINGSERVE_BUILTIN_MODEL_RELDIR;
    std::error_code ec;
    // config.json, not just the directory: a half-removed install should not shadow the
    // fallback with an empty directory.
    if (std::filesystem::is_regular_file(installed / "config.json", ec)) {
      return installed.lexically_normal().string();
    }
  }
  return RINGSERVE_BUILTIN_MODEL_DIR;
}

}  // namespace ringserve::model
