// StopStringMatcher: ends generation at the first occurrence of any of a request's stop
// strings, across token boundaries, without ever sending text that belongs to the match.
//
// Text that could still be the start of a stop string is held back until it either completes
// a match (then it is dropped, with everything after it) or can no longer match (then it is
// sent). Since held-back text is the longest suffix that is a prefix of some stop string, the
// first match in the whole stream always starts inside the held-back text or the new text, so
// the earliest match is found even when it spans many pushes. Fed whole UTF-8 characters (a
// Utf8Stream's output) and valid UTF-8 stop strings, it only ever splits text between
// characters.
//
// Thread-safety: none; one matcher per sequence.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringserve::model {

class StopStringMatcher {
 public:
  static constexpr size_t kMaxStopStrings = 8;
  static constexpr size_t kMaxStopBytes = 64;

  struct Result {
    std::string text;      // safe to send now
    bool stopped = false;  // a stop string matched; `text` is everything before it
  };

  // Empty `stops` is allowed (nothing ever matches). Nullopt with *error for more than 8
  // strings, an empty one, or one longer than 64 bytes.
  static std::optional<StopStringMatcher> create(std::span<const std::string> stops,
                                                 std::string* error);

  // After a match every push returns nothing and stays stopped.
  Result push(std::string_view text);
  // The held-back text, for a sequence that ends for another reason (EOS, length limit).
  std::string finish();

  bool stopped() const { return stopped_; }
  // Which stop string matched (an index into the constructor's list); -1 before a match.
  int matched_index() const { return matched_index_; }

 private:
  StopStringMatcher() = default;
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
  int matched_index_ = -1;
};

}  // namespace ringserve::model
