#include "engine/text/pretokenize_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <iterator>

#include "engine/text/unicode_newer.h"
#include "utf8/utf8.h"

namespace ringserve::model {
namespace {

// One match-data block per thread, reused: encode() runs a regex per pre-token and allocating
// for each match would dominate short prompts.
class ThreadMatchData {
 public:
  ThreadMatchData() : data_(pcre2_match_data_create(1, nullptr)) {}
  ~ThreadMatchData() { pcre2_match_data_free(data_); }
  ThreadMatchData(const ThreadMatchData&) = delete;
  ThreadMatchData& operator=(const ThreadMatchData&) = delete;
  pcre2_match_data* get() { return data_; }

 private:
  pcre2_match_data* data_;
};

pcre2_match_data* thread_match_data() {
  thread_local ThreadMatchData data;
  return data.get();
}

}  // namespace

// The Unicode version of the linked PCRE2's tables, e.g. "14.0.0".
const std::string& pcre2_unicode_version() {
  static const std::string version = [] {
    char text[32] = {};
    if (pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, text) < 0) return std::string();
    return std::string(text);
  }();
  return version;
}

std::string rewrite_classes(std::string_view pattern, std::string_view unicode_version) {
  std::string out;
  out.reserve(pattern.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
      } else if (e == 'S' && !in_class) {
        out += "[^\\s\\x{85}]";
      } else if ((e == 'p' || e == 'P') && i + 1 < pattern.size()) {
        // \pX or \p{NAME} / \p{^NAME}; \P negates.
        size_t next = i + 2;
        std::string_view name = pattern.substr(i + 1, 1);
        if (pattern[i + 1] == '{') {
          const size_t close = pattern.find('}', i + 2);
          if (close == std::string_view::npos) {
            out += c;
            out += e;
            continue;
          }
          name = pattern.substr(i + 2, close - (i + 2));
          next = close + 1;
        }
        bool negated = e == 'P';
        if (name.starts_with('^')) {
          negated = !negated;
          name.remove_prefix(1);
        }
        const std::string newer =
            unicode_version.empty() ? std::string() : newer_property_members(name, unicode_version);
        const std::string positive = "\\p{" + std::string(name) + "}";
        if (newer.empty() || (negated && in_class)) {
          // Nothing newer; or a negated property inside a class, where the newer characters
          // could only be taken out by a class subtraction PCRE2 lacks: kept as written.
          out.append(pattern.substr(i - 1, next - (i - 1)));
        } else {
          if (!in_class) out += negated ? "[^" : "[";
          out += positive;
          out += newer;
          if (!in_class) out += ']';
        }
        i = next - 1;
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    out += c;
    if (!in_class && c == '[') {
      in_class = true;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
    } else if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
      const size_t end = pattern.find(":]", i + 2);  // POSIX class such as [:alpha:]
      if (end != std::string_view::npos) {
        out.append(pattern.substr(i + 1, end + 1 - i));
        i = end + 1;
      }
    } else if (in_class && c == ']') {
      in_class = false;
    }
  }
  return out;
}

namespace {

pcre2_code* compile_source(const std::string& source, bool literal, std::string_view pattern,
                           std::string* error) {
  // PCRE2_LITERAL refuses PCRE2_UCP (it has no classes to apply it to).
  const uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF |
                           (literal ? PCRE2_LITERAL : static_cast<uint32_t>(PCRE2_UCP));
  int code_error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                   options, &code_error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(code_error, message, sizeof(message));
    *error = "regex '" + std::string(pattern) + "' does not compile at offset " +
             std::to_string(offset) + ": " + reinterpret_cast<const char*>(message);
    return nullptr;
  }
  // Without JIT the interpreter still matches correctly, only slower.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return code;
}

// True when `text` holds a character assigned after the linked PCRE2's Unicode version. Text
// without one (all of ASCII, Latin, Greek, Cyrillic: the newer characters start far above
// them) matches the same under both of a regex's codes, and takes the one without the long
// lists of newer characters in its classes: they cost up to a third of the speed on ASCII.
bool holds_newer_character(std::string_view text) {
  static const std::vector<CodePointRange> ranges = newer_characters(pcre2_unicode_version());
  if (ranges.empty()) return false;
  const char32_t lowest = ranges.front().first;
  for (size_t i = 0; i < text.size();) {
    if (static_cast<uint8_t>(text[i]) < 0xC0) {  // ASCII, or inside a character
      ++i;
      continue;
    }
    char32_t cp = 0;
    size_t length = 1;
    const bool valid = utf8::decode(text, i, &cp, &length);
    i += length;
    if (!valid || cp < lowest) continue;
    const auto after =
        std::upper_bound(ranges.begin(), ranges.end(), cp,
                         [](char32_t c, const CodePointRange& range) { return c < range.first; });
    if (after != ranges.begin() && cp <= std::prev(after)->last) return true;
  }
  return false;
}

}  // namespace

PretokenizeRegex::~PretokenizeRegex() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
  pcre2_code_free(static_cast<pcre2_code*>(newer_code_));
}

std::shared_ptr<const PretokenizeRegex> PretokenizeRegex::compile(std::string_view pattern,
                                                                  bool literal,
                                                                  std::string* error) {
  std::shared_ptr<PretokenizeRegex> regex(new PretokenizeRegex());
  const std::string source = literal ? std::string(pattern) : rewrite_classes(pattern, "");
  regex->code_ = compile_source(source, literal, pattern, error);
  if (regex->code_ == nullptr) return nullptr;
  if (!literal) {
    const std::string newer = rewrite_classes(pattern, pcre2_unicode_version());
    if (newer != source) {
      regex->newer_code_ = compile_source(newer, literal, pattern, error);
      if (regex->newer_code_ == nullptr) return nullptr;
    }
  }
  return regex;
}

const void* PretokenizeRegex::code_for(std::string_view text) const {
  return newer_code_ != nullptr && holds_newer_character(text) ? newer_code_ : code_;
}

void PretokenizeRegex::find_all(std::string_view text,
                                std::vector<std::pair<size_t, size_t>>* matches) const {
  const auto* code = static_cast<const pcre2_code*>(code_for(text));
  pcre2_match_data* data = thread_match_data();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  while (start < text.size()) {
    const int rc = pcre2_match(code, subject, text.size(), start, 0, data, nullptr);
    if (rc < 0) return;  // no match, or a PCRE2 limit: the rest stays unmatched
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end > begin) {
      matches->emplace_back(begin, end);
      start = end;
    } else {
      if (begin >= text.size()) return;
      start = begin + utf8::char_length(text, begin);
    }
  }
}

bool PretokenizeRegex::matches_whole(std::string_view text) const {
  const auto* code = static_cast<const pcre2_code*>(code_for(text));
  const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                             PCRE2_ANCHORED | PCRE2_ENDANCHORED, thread_match_data(), nullptr);
  return rc >= 0;
}

}  // namespace ringserve::model
