#include "gateway/streams.h"

#include <algorithm>

namespace ringserve::gateway {

void Pump::add(const std::shared_ptr<Pumped>& p) {
  // The first poll at once: a token (or an error) may already be there.
  if (!p->pump()) return;
  active_.push_back(p);
  arm();
}

void Pump::arm() {
  if (armed_ || active_.empty()) return;
  armed_ = true;
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    armed_ = false;
    if (!ec) tick();
  });
}

void Pump::tick() {
  // pump() never adds to the list (a connection is added from its read handler), so indices
  // stay valid; finished ones are swapped out afterwards.
  std::vector<std::shared_ptr<Pumped>> still;
  still.reserve(active_.size());
  for (const std::shared_ptr<Pumped>& p : active_) {
    if (p->pump()) still.push_back(p);
  }
  active_.swap(still);
  arm();
}

}  // namespace ringserve::gateway
