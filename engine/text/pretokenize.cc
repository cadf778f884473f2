#include "engine/text/pretokenize.h"

#include <algorithm>

#include <string_view>
#include <utility>

#include "engine/text/unicode_bytes.h"

namespace ringserve::model {

const char kGpt2SplitPattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::shared_ptr<const PretokenizeRegex> gpt2_split_regex() {
  static const std::shared_ptr<const PretokenizeRegex> regex = [] {
    std::string error;
    return PretokenizeRegex::compile(kGpt2SplitPattern, false, &error);
  }();
  return regex;
}

namespace {

struct Segment {
  size_t begin;
  size_t end;
  bool is_match;
};

// HF's NormalizedString::split: the text as alternating matched / unmatched segments, then
// regrouped per the delimiter behaviour.
void split_piece(const Pretoken& piece, const std::vector<std::pair<size_t, size_t>>& matches,
                 SplitBehavior behavior, bool invert, std::vector<Pretoken>* out) {
  std::vector<Segment> segments;
  size_t done = 0;
  for (const auto& [begin, end] : matches) {
    if (begin > done) segments.push_back({done, begin, invert});
    segments.push_back({begin, end, !invert});
    done = end;
  }
  if (done < piece.text.size()) segments.push_back({done, piece.text.size(), invert});

  std::vector<Segment> kept;  // is_match now means "remove"
  switch (behavior) {
    case SplitBehavior::kRemoved:
      kept = segments;
      break;
    case SplitBehavior::kIsolated:
      for (const Segment& s : segments) kept.push_back({s.begin, s.end, false});
      break;
    case SplitBehavior::kContiguous:
      for (const Segment& s : segments) {
        if (!kept.empty() && kept.back().is_match == s.is_match) {
          kept.back().end = s.end;
        } else {
          kept.push_back(s);
        }
      }
      for (Segment& s : kept) s.is_match = false;
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && !kept.empty()) {
          kept.back().end = s.end;
        } else {
          kept.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;
      for (size_t i = segments.size(); i-- > 0;) {
        const Segment& s = segments[i];
        if (s.is_match && !previous_match && !kept.empty()) {
          kept.back().begin = s.begin;
        } else {
          kept.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  for (const Segment& s : kept) {
    if (s.is_match || s.end == s.begin) continue;
    out->push_back({piece.text.substr(s.begin, s.end - s.begin), piece.at_start && s.begin == 0});
  }
}

void byte_level(const PretokenizeStep& step, Pretoken piece, std::vector<Pretoken>* out) {
  if (step.add_prefix_space && (piece.text.empty() || piece.text[0] != ' ')) {
    piece.text.insert(0, " ");
  }
  std::vector<Pretoken> split;
  if (step.use_regex && step.regex != nullptr) {
    std::vector<std::pair<size_t, size_t>> matches;
    step.regex->find_all(piece.text, &matches);
    split_piece(piece, matches, SplitBehavior::kIsolated, false, &split);
  } else {
    split.push_back(std::move(piece));
  }
  for (Pretoken& p : split) {
    std::string mapped;
    mapped.reserve(p.text.size() * 2);
    for (const char c : p.text) mapped += byte_level_char(static_cast<uint8_t>(c));
    out->push_back({std::move(mapped), p.at_start});
  }
}

void metaspace(const PretokenizeStep& step, const Pretoken& piece, std::vector<Pretoken>* out) {
  Pretoken replaced{std::string(), piece.at_start};
  replaced.text.reserve(piece.text.size() + 8);
  for (const char c : piece.text) {
    if (c == ' ') {
      replaced.text += step.replacement;
    } else {
      replaced.text += c;
    }
  }
  const bool starts_with_replacement = replaced.text.starts_with(step.replacement);
  if (!starts_with_replacement &&
      (step.prepend_scheme == PrependScheme::kAlways ||
       (step.prepend_scheme == PrependScheme::kFirst && piece.at_start))) {
    replaced.text.insert(0, step.replacement);
  }
  if (!step.split || step.replacement.empty()) {
    out->push_back(std::move(replaced));
    return;
  }
  std::vector<std::pair<size_t, size_t>> matches;
  const std::string_view text = replaced.text;
  for (size_t at = text.find(step.replacement); at != std::string_view::npos;
       at = text.find(step.replacement, at + step.replacement.size())) {
    matches.emplace_back(at, at + step.replacement.size());
  }
  split_piece(replaced, matches, SplitBehavior::kMergedWithNext, false, out);
}

}  // namespace

void pretokenize(const std::vector<PretokenizeStep>& steps, std::vector<Pretoken>* pieces) {
  for (const PretokenizeStep& step : steps) {
    std::vector<Pretoken> next;
    next.reserve(pieces->size() * 2);
    for (Pretoken& piece : *pieces) {
      if (piece.text.empty()) continue;
      switch (step.kind) {
        case PretokenizeStep::Kind::kByteLevel:
          byte_level(step, std::move(piece), &next);
          break;
        case PretokenizeStep::Kind::kSplit: {
          std::vector<std::pair<size_t, size_t>> matches;
          step.regex->find_all(piece.text, &matches);
          split_piece(piece, matches, step.behavior, step.invert, &next);
          break;
        }
        case PretokenizeStep::Kind::kMetaspace:
          metaspace(step, piece, &next);
          break;
      }
    }
    *pieces = std::move(next);
  }
  std::erase_if(*pieces, [](const Pretoken& p) { return p.text.empty(); });
}

}  // namespace ringserve::model
