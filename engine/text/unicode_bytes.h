// GPT-2's byte-to-unicode table, used by byte-level BPE (GPT-2, Llama 3, Qwen2): every byte
// stands for one printable character so that a vocab of strings can spell arbitrary bytes.
// Printable Latin-1 bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand for themselves; the
// other 68 bytes, in increasing order, take U+0100, U+0101, ... (so ' ' is 'Ġ', '\n' is 'Ċ').
//
// Thread-safety: the table is built once, on first use, and read-only after.
#pragma once

#include <cstdint>
#include <string_view>

namespace ringserve::model {

// The UTF-8 spelling of the character that stands for byte b.
std::string_view byte_level_char(uint8_t b);

// The byte that character cp stands for, or -1 when cp stands for none.
int byte_level_byte(char32_t cp);

// Rust's char::is_whitespace (the Unicode White_Space property), which HF tokenizers uses for
// an added token's lstrip/rstrip.
bool unicode_is_whitespace(char32_t cp);

}  // namespace ringserve::model
