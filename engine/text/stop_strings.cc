#include "engine/text/stop_strings.h"

#include <algorithm>

namespace ringserve::model {

std::optional<StopStringMatcher> StopStringMatcher::create(std::span<const std::string> stops,
                                                           std::string* error) {
  if (stops.size() > kMaxStopStrings) {
    *error = "at most " + std::to_string(kMaxStopStrings) + " stop strings, got " +
             std::to_string(stops.size());
    return std::nullopt;
  }
  StopStringMatcher matcher;
  for (size_t i = 0; i < stops.size(); ++i) {
    if (stops[i].empty()) {
      *error = "stop string " + std::to_string(i) + " is empty";
      return std::nullopt;
    }
    if (stops[i].size() > kMaxStopBytes) {
      *error = "stop string " + std::to_string(i) + " is " + std::to_string(stops[i].size()) +
               " bytes, more than " + std::to_string(kMaxStopBytes);
      return std::nullopt;
    }
    matcher.stops_.push_back(stops[i]);
  }
  return matcher;
}

StopStringMatcher::Result StopStringMatcher::push(std::string_view text) {
  Result result;
  if (stopped_) return result;
  held_.append(text);
  // The earliest match wins; among matches starting at the same place, the first listed.
  size_t best = std::string::npos;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t at = held_.find(stops_[i]);
    if (at < best) {
      best = at;
      matched_index_ = static_cast<int>(i);
    }
  }
  if (best != std::string::npos) {
    stopped_ = true;
    result.stopped = true;
    result.text = held_.substr(0, best);
    held_.clear();
    return result;
  }
  // Hold back the longest suffix that some stop string starts with.
  size_t keep = 0;
  for (const std::string& stop : stops_) {
    const size_t longest = std::min(stop.size() - 1, held_.size());
    for (size_t n = longest; n > keep; --n) {
      if (std::string_view(held_).substr(held_.size() - n) == std::string_view(stop).substr(0, n)) {
        keep = n;
        break;
      }
    }
  }
  result.text = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return result;
}

std::string StopStringMatcher::finish() {
  std::string rest = stopped_ ? std::string() : std::move(held_);
  held_.clear();
  return rest;
}

}  // namespace ringserve::model
