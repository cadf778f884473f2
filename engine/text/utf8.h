// UTF-8 helpers for the text side. Character boundaries here tolerate invalid bytes: a byte that
// does not start a valid character counts as a one-byte character, so a tokenizer can still
// byte-fall-back on it and nothing in the pipeline has to reject or rewrite the caller's text.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ringserve::model {

// Decodes the character at s[i] (i < s.size()). True with *cp and *length when the bytes there
// form a valid, shortest-form, non-surrogate character; false with *length = 1 otherwise.
bool utf8_decode(std::string_view s, size_t i, char32_t* cp, size_t* length);

// Length of the character at s[i]: 1..4 for a valid character, 1 for an invalid byte.
size_t utf8_char_length(std::string_view s, size_t i);

// Appends cp (<= U+10FFFF, not a surrogate) as UTF-8.
void utf8_append(char32_t cp, std::string* out);

bool utf8_is_valid(std::string_view s);

}  // namespace ringserve::model
