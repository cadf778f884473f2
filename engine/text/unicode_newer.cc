#include "engine/text/unicode_newer.h"

#include <cstdio>

#if RINGSERVE_TEXT_HAVE_ICU
#include <unicode/uchar.h>
#include <unicode/uset.h>
#include <unicode/ustring.h>
#endif

namespace ringserve::model {
namespace {

#if RINGSERVE_TEXT_HAVE_ICU
// "14.0.0" -> "14.0" when ICU's Unicode is newer than that; "" otherwise (nothing to add).
std::string older_version(std::string_view known_version) {
  const std::string text(known_version);
  int major = 0;
  int minor = 0;
  if (std::sscanf(text.c_str(), "%d.%d", &major, &minor) != 2) return "";
  UVersionInfo icu;
  u_getUnicodeVersion(icu);
  if (icu[0] < major || (icu[0] == major && icu[1] <= minor)) return "";
  return std::to_string(major) + "." + std::to_string(minor);
}

// The code point ranges of an ICU set pattern; empty when ICU does not take the pattern.
std::vector<CodePointRange> set_ranges(const std::string& pattern) {
  UErrorCode status = U_ZERO_ERROR;
  UChar wide[256];
  int32_t wide_length = 0;
  u_strFromUTF8(wide, 256, &wide_length, pattern.data(), static_cast<int32_t>(pattern.size()),
                &status);
  if (U_FAILURE(status)) return {};
  USet* set = uset_openPattern(wide, wide_length, &status);
  std::vector<CodePointRange> ranges;
  if (U_SUCCESS(status)) {
    const int32_t count = uset_getItemCount(set);
    for (int32_t i = 0; i < count; ++i) {
      UChar32 first = 0;
      UChar32 last = 0;
      UErrorCode item_status = U_ZERO_ERROR;
      if (uset_getItem(set, i, &first, &last, nullptr, 0, &item_status) != 0) continue;  // string
      ranges.push_back({static_cast<char32_t>(first), static_cast<char32_t>(last)});
    }
  }
  uset_close(set);
  return ranges;
}

void append_code_point(char32_t cp, std::string* out) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "\\x{%X}", static_cast<unsigned>(cp));
  *out += hex;
}
#endif

}  // namespace

std::string newer_property_members(std::string_view property, std::string_view known_version) {
#if RINGSERVE_TEXT_HAVE_ICU
  const std::string version = older_version(known_version);
  if (version.empty() || property.empty()) return "";
  for (const char c : property) {
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    if (!plain) return "";  // not a property name ICU and PCRE2 both spell this way
  }
  // In an ICU set pattern, \p{Age=V} holds what was assigned in V or before, \p{Cn} what is
  // still unassigned: what is left of the property was assigned after V. A name PCRE2 knows
  // and ICU does not (Xan, ...) gives no set, and PCRE2 keeps it as it is.
  std::string members;
  for (const CodePointRange& r :
       set_ranges("[\\p{" + std::string(property) + "}-[\\p{Age=" + version + "}\\p{Cn}]]")) {
    append_code_point(r.first, &members);
    if (r.last > r.first) {
      members += '-';
      append_code_point(r.last, &members);
    }
  }
  return members;
#else
  (void)property;
  (void)known_version;
  return "";
#endif
}

std::vector<CodePointRange> newer_characters(std::string_view known_version) {
#if RINGSERVE_TEXT_HAVE_ICU
  const std::string version = older_version(known_version);
  if (version.empty()) return {};
  return set_ranges("[\\P{Cn}-\\p{Age=" + version + "}]");
#else
  (void)known_version;
  return {};
#endif
}

}  // namespace ringserve::model
