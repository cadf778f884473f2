// Unicode normalization forms (NFC, NFD, NFKC, NFKD) for tokenizer.json normalizers such as
// Qwen2's {"type": "NFC"}. Backed by ICU when ringserve_text was built with it (Debian's
// libicu-dev); without ICU the forms are unavailable and such tokenizers are refused at load.
//
// Thread-safety: pure functions (ICU's normalizer instances are immutable singletons).
#pragma once

#include <string>
#include <string_view>

namespace ringserve::model {

enum class UnicodeForm { kNfc, kNfd, kNfkc, kNfkd };

bool unicode_normalization_available();

// Normalizes each maximal run of valid UTF-8 in `text`; invalid bytes are kept as they are.
// Without ICU, returns `text` unchanged.
std::string unicode_normalize(UnicodeForm form, std::string_view text);

}  // namespace ringserve::model
