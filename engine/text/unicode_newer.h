// Characters that a regex engine's Unicode tables are too old to know. Debian 12's PCRE2 10.42
// has Unicode 14.0, so to it U+1FAE8 (a symbol of Unicode 15.0) is unassigned: matched by no
// \p{S}, and DeepSeek-V3's pre-tokenizer then splits " \U0001FAE8" unlike HF tokenizers, whose
// Oniguruma is newer. ICU 72 (Debian's libicu-dev) knows Unicode 15.0: it names those
// characters, and pretokenize_regex adds them to each \p{...} of a pattern, so the compiled
// PCRE2 pattern (still JIT-compiled, no callouts) matches as a Unicode 15.0 engine would.
// Characters newer than ICU's Unicode remain unknown (a documented limit).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ringserve::model {

// The members of Unicode property `property` (as written in \p{...}: "L", "So", "N", "Han")
// that were assigned after Unicode `known_version` ("14.0.0"), as PCRE2 class members
// ("\x{1FAE8}\x{31350}-\x{323AF}..."). Empty when there are none, when ICU is no newer than
// known_version, when ICU does not know the property, or without ICU.
std::string newer_property_members(std::string_view property, std::string_view known_version);

struct CodePointRange {
  char32_t first = 0;
  char32_t last = 0;  // inclusive
};

// Every character assigned after Unicode `known_version` that ICU knows, as sorted ranges
// (empty in the cases above).
std::vector<CodePointRange> newer_characters(std::string_view known_version);

}  // namespace ringserve::model
