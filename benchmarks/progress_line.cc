#include "benchmarks/progress_line.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>

namespace ringserve::bench {

ProgressLine::ProgressLine(const char* prefix, bool show_elapsed)
    : prefix_(prefix),
      show_elapsed_(show_elapsed),
      on_(::isatty(STDERR_FILENO) == 1),
      start_(Clock::now()) {}

void ProgressLine::show(const char* format, ...) {
  const auto now = Clock::now();
  if (!on_ || (shown_ && now - last_ < std::chrono::milliseconds(100))) return;
  last_ = now;
  char text[256];
  va_list args;
  va_start(args, format);
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): clang 14 misses the va_start above.
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  // \033[K erases what a longer earlier line left.
  if (show_elapsed_) {
    std::fprintf(stderr, "\r%s%s, %.0f s\033[K", prefix_, text,
                 std::chrono::duration<double>(now - start_).count());
  } else {
    std::fprintf(stderr, "\r%s%s\033[K", prefix_, text);
  }
  shown_ = true;
}

void ProgressLine::clear() {
  if (shown_) std::fputs("\r\033[K", stderr);
  shown_ = false;
}

}  // namespace ringserve::bench
