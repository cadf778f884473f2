#include "daemon/scheduler.h"

#include <algorithm>

namespace ringserve::daemon {

bool Scheduler::enqueue(Sequence* seq) {
  const bool must_wait = running_.size() >= max_concurrent_ || !waiting_.empty();
  if (must_wait && waiting_.size() >= max_queue_) return false;
  waiting_.push_back(seq);
  ++waiting_version_;
  return true;
}

std::vector<Sequence*> Scheduler::admit() {
  std::vector<Sequence*> admitted;
  while (!waiting_.empty() && running_.size() < max_concurrent_) {
    running_.push_back(waiting_.front());
    admitted.push_back(waiting_.front());
    waiting_.pop_front();
    ++waiting_version_;
  }
  return admitted;
}

void Scheduler::remove(Sequence* seq) {
  if (auto it = std::find(running_.begin(), running_.end(), seq); it != running_.end()) {
    running_.erase(it);
    return;
  }
  if (auto it = std::find(waiting_.begin(), waiting_.end(), seq); it != waiting_.end()) {
    waiting_.erase(it);
    ++waiting_version_;
  }
}

}  // namespace ringserve::daemon
