// Scheduler: the waiting line's order, admission, and which running sequences step.
#include "daemon/scheduler.h"

#include <algorithm>

namespace ringserve::daemon {

int64_t Scheduler::effective_priority(const Sequence& seq, uint64_t now_ns) const {
  // Intake rejects priorities beyond max_priority; clamping here as well keeps the bound on
  // waiting (scheduler.h) from resting on that check alone.
  const int64_t limit = max_priority_;
  int64_t p = std::clamp<int64_t>(seq.params.priority, -limit, limit);
  if (aging_ms_ != 0 && now_ns > seq.received_ns) {
    // No overflow: at most 2^64 / 10^6 < 2^45 levels on top of |p| <= 2^32.
    p += static_cast<int64_t>((now_ns - seq.received_ns) / (uint64_t{aging_ms_} * 1'000'000));
  }
  return p;
}

bool Scheduler::before(const Sequence& a, const Sequence& b, uint64_t now_ns) const {
  const int64_t pa = effective_priority(a, now_ns);
  const int64_t pb = effective_priority(b, now_ns);
  if (pa != pb) return pa > pb;
  return a.received_ns < b.received_ns;
}

bool Scheduler::enqueue(Sequence* seq) {
  // Requests that arrive together are all enqueued before the next admission, so the line may
  // hold some that will be admitted at once; only those beyond the free running places wait.
  const size_t free_running =
      running_.size() < max_concurrent_ ? max_concurrent_ - running_.size() : 0;
  const size_t will_wait = waiting_.size() > free_running ? waiting_.size() - free_running : 0;
  const bool must_wait = waiting_.size() >= free_running;
  if (must_wait && will_wait >= max_queue_) return false;
  waiting_.push_back(seq);
  ++waiting_version_;
  return true;
}

std::vector<Sequence*> Scheduler::admit(uint64_t now_ns,
                                        const std::function<bool(Sequence&)>& ready) {
  std::vector<Sequence*> admitted;
  while (!waiting_.empty() && running_.size() < max_concurrent_) {
    // The line is short (max_queue) and this runs once per loop: a scan beats keeping a heap
    // ordered under aging, where every entry's key moves with time.
    auto best = waiting_.begin();
    for (auto it = waiting_.begin() + 1; it != waiting_.end(); ++it) {
      if (before(**it, **best, now_ns)) best = it;
    }
    if (ready && !ready(**best)) break;
    running_.push_back(*best);
    admitted.push_back(*best);
    waiting_.erase(best);
    ++waiting_version_;
  }
  return admitted;
}

std::vector<Sequence*> Scheduler::admission_order(uint64_t now_ns) const {
  std::vector<Sequence*> order(waiting_.begin(), waiting_.end());
  std::stable_sort(order.begin(), order.end(),
                   [&](const Sequence* a, const Sequence* b) { return before(*a, *b, now_ns); });
  return order;
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

void Scheduler::select_step(std::vector<Sequence*>* batch) {
  batch->clear();
  if (mode_ == config::SchedulerMode::kInterleave) {
    // The seed's way: one sequence per model step, taking turns.
    for (size_t k = 0; k < running_.size(); ++k) {
      const size_t i = (interleave_next_ + k) % running_.size();
      if (running_[i]->pending.empty()) {
        batch->push_back(running_[i]);
        interleave_next_ = i + 1;
        break;
      }
    }
    return;
  }
  for (Sequence* seq : running_) {
    if (seq->pending.empty()) batch->push_back(seq);
  }
}

bool Scheduler::has_steppable() const {
  return std::any_of(running_.begin(), running_.end(),
                     [](const Sequence* s) { return s->pending.empty(); });
}

}  // namespace ringserve::daemon
