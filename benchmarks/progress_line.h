// A progress line for ringserve-bench: one line on stderr rewritten in place, at most ten times
// a second, when stderr is a terminal; when it is not (a pipe, a file, a test), nothing, so
// tables and JSON stay clean. clear() it before printing a result line.
#pragma once

#include <chrono>

namespace ringserve::bench {

class ProgressLine {
 public:
  // `prefix` starts every line ("model: "); with `show_elapsed`, ", N s" since construction
  // ends it.
  ProgressLine(const char* prefix, bool show_elapsed);
  ~ProgressLine() { clear(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  bool on() const { return on_; }
  void show(const char* format, ...) __attribute__((format(printf, 2, 3)));
  void clear();

 private:
  using Clock = std::chrono::steady_clock;
  const char* prefix_;
  bool show_elapsed_;
  bool on_;
  bool shown_ = false;
  Clock::time_point start_;
  Clock::time_point last_;
};

}  // namespace ringserve::bench
