// Short texts in fixed-size arrays of the segment (shm::ModelInfo's names and path): how the
// daemon writes them, and how a client reads them without trusting them.
//
// The writer stores at most N - 1 bytes, cut at a character boundary, and pads with NUL, so an
// honest field always holds its terminator. A reader cannot count on that: any process with
// access may rewrite the array, with no NUL, invalid UTF-8 or terminal escapes. So it copies
// the array once (the bytes it checks are the bytes it returns, whatever is written meanwhile),
// stops at the first NUL or at the array's end, and replaces every byte that is not part of a
// valid, printable UTF-8 character (controls, bidirectional overrides, malformed sequences)
// with '?'.
// The result is never longer than the array, and safe to print or to put in JSON.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include "utf8/utf8.h"

namespace ringserve::shm {

// Which end of a text too long for its field is kept.
enum class KeepEnd { kHead, kTail };

// Daemon: `text` into `field`, NUL-padded. A text of N bytes or more keeps its first bytes, or
// with kTail "..." and its last bytes (the end of a path names the model); either way whole
// characters only.
template <size_t N>
void write_text_field(char (&field)[N], std::string_view text, KeepEnd keep = KeepEnd::kHead) {
  static_assert(N >= 8);
  std::memset(field, 0, N);
  if (text.size() < N) {
    std::memcpy(field, text.data(), text.size());
    return;
  }
  if (keep == KeepEnd::kHead) {
    size_t n = N - 1;
    // Back off continuation bytes (10xxxxxx) so that the cut falls before a lead byte.
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    std::memcpy(field, text.data(), n);
    return;
  }
  constexpr std::string_view kEllipsis = "...";
  size_t start = text.size() - (N - 1 - kEllipsis.size());
  while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
  std::memcpy(field, kEllipsis.data(), kEllipsis.size());
  std::memcpy(field + kEllipsis.size(), text.data() + start, text.size() - start);
}

// A character safe to show: not a C0 control, DEL, a C1 control, a line or paragraph
// separator, or a bidirectional override or isolate (which reorder what a terminal shows).
inline constexpr bool is_printable(char32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return false;
  if (cp >= 0x2028 && cp <= 0x202E) return false;
  return cp < 0x2066 || cp > 0x2069;
}

// The text of `size` bytes at `bytes` (a copy the caller owns): up to its first NUL, every
// byte that is not part of a valid printable character replaced with '?'.
inline std::string sanitize_text(const char* bytes, size_t size) {
  const std::string_view raw(bytes, ::strnlen(bytes, size));
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size();) {
    char32_t cp = 0;
    size_t length = 1;
    if (utf8::decode(raw, i, &cp, &length) && is_printable(cp)) {
      out.append(raw, i, length);
    } else {
      out.append(length, '?');  // length is 1 for an invalid byte
    }
    i += length;
  }
  return out;
}

// Client: the text of a field in memory others may write; see the top of this file.
template <size_t N>
std::string read_text_field(const char (&field)[N]) {
  char copy[N];
  std::memcpy(copy, field, N);
  return sanitize_text(copy, N);
}

}  // namespace ringserve::shm
