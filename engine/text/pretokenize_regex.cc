#include "engine/text/pretokenize_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "engine/text/utf8.h"

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

std::string rewrite_whitespace_classes(std::string_view pattern) {
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

PretokenizeRegex::~PretokenizeRegex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

std::shared_ptr<const PretokenizeRegex> PretokenizeRegex::compile(std::string_view pattern,
                                                                  bool literal,
                                                                  std::string* error) {
  const std::string source = literal ? std::string(pattern) : rewrite_whitespace_classes(pattern);
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
  std::shared_ptr<PretokenizeRegex> regex(new PretokenizeRegex());
  regex->code_ = code;
  return regex;
}

void PretokenizeRegex::find_all(std::string_view text,
                                std::vector<std::pair<size_t, size_t>>* matches) const {
  auto* code = static_cast<pcre2_code*>(code_);
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
      start = begin + utf8_char_length(text, begin);
    }
  }
}

bool PretokenizeRegex::matches_whole(std::string_view text) const {
  auto* code = static_cast<pcre2_code*>(code_);
  const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                             PCRE2_ANCHORED | PCRE2_ENDANCHORED, thread_match_data(), nullptr);
  return rc >= 0;
}

}  // namespace ringserve::model
