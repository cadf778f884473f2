#include "engine/text/tokenizer_normalizer.h"

#include <utility>

namespace ringserve::model {
namespace {

std::string replace_all(const NormalizeStep& step, std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  size_t done = 0;
  if (step.regex != nullptr) {
    std::vector<std::pair<size_t, size_t>> matches;
    step.regex->find_all(text, &matches);
    for (const auto& [begin, end] : matches) {
      out.append(text.substr(done, begin - done));
      out += step.replacement;
      done = end;
    }
  } else if (!step.text.empty()) {
    for (size_t at = text.find(step.text); at != std::string_view::npos;
         at = text.find(step.text, done)) {
      out.append(text.substr(done, at - done));
      out += step.replacement;
      done = at + step.text.size();
    }
  }
  out.append(text.substr(done));
  return out;
}

}  // namespace

std::string normalize_text(const std::vector<NormalizeStep>& steps, std::string_view text) {
  std::string current(text);
  for (const NormalizeStep& step : steps) {
    switch (step.kind) {
      case NormalizeStep::Kind::kPrepend:
        if (!current.empty()) current.insert(0, step.text);
        break;
      case NormalizeStep::Kind::kReplace:
        current = replace_all(step, current);
        break;
      case NormalizeStep::Kind::kUnicode:
        current = unicode_normalize(step.form, current);
        break;
    }
  }
  return current;
}

}  // namespace ringserve::model
