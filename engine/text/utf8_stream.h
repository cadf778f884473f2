// Utf8Stream: turns the bytes of generated tokens, which may end in the middle of a character
// (byte-fallback tokens, byte-level BPE pieces of a 3-byte character), into text that always
// ends on a character boundary, so a client never receives half a character.
//
// Invalid input is replaced, never held: a bad lead byte, a bad continuation, an overlong
// form, a surrogate or anything above U+10FFFF becomes U+FFFD as soon as it is known to be
// invalid, one U+FFFD per maximal invalid subpart (the Unicode / WHATWG practice), so at most
// 3 bytes of a still-possible character are ever held back.
//
// Thread-safety: none; one stream per sequence.
#pragma once

#include <string>
#include <string_view>

namespace ringserve::model {

class Utf8Stream {
 public:
  // Appends `bytes` and returns the longest complete-character prefix of everything not yet
  // returned (with invalid parts replaced by U+FFFD). Keeps an incomplete tail of <= 3 bytes.
  std::string push(std::string_view bytes);

  // The end of the sequence: U+FFFD for an incomplete tail, if any. Resets the stream.
  std::string finish();

  size_t pending_bytes() const { return pending_.size(); }

 private:
  std::string pending_;  // a valid prefix of one character, at most 3 bytes
};

}  // namespace ringserve::model
