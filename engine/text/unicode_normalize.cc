#include "engine/text/unicode_normalize.h"

#include "utf8/utf8.h"

#if RINGSERVE_TEXT_HAVE_ICU
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#endif

namespace ringserve::model {
namespace {

#if RINGSERVE_TEXT_HAVE_ICU
const UNormalizer2* instance(UnicodeForm form) {
  UErrorCode status = U_ZERO_ERROR;
  switch (form) {
    case UnicodeForm::kNfc:
      return unorm2_getNFCInstance(&status);
    case UnicodeForm::kNfd:
      return unorm2_getNFDInstance(&status);
    case UnicodeForm::kNfkc:
      return unorm2_getNFKCInstance(&status);
    case UnicodeForm::kNfkd:
      return unorm2_getNFKDInstance(&status);
  }
  return nullptr;
}

// One valid UTF-8 run through ICU (which works in UTF-16). On any ICU failure the run is kept
// as it was: encoding must not fail.
void normalize_run(const UNormalizer2* normalizer, std::string_view run, std::string* out) {
  UErrorCode status = U_ZERO_ERROR;
  std::u16string wide(run.size(), u'\0');  // UTF-16 never needs more units than UTF-8 bytes
  int32_t wide_length = 0;
  u_strFromUTF8(wide.data(), static_cast<int32_t>(wide.size()), &wide_length, run.data(),
                static_cast<int32_t>(run.size()), &status);
  // Compatibility forms can expand a character many times; ask ICU for the size first.
  int32_t normalized_length =
      unorm2_normalize(normalizer, wide.data(), wide_length, nullptr, 0, &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) status = U_ZERO_ERROR;
  std::u16string normalized(static_cast<size_t>(normalized_length), u'\0');
  unorm2_normalize(normalizer, wide.data(), wide_length, normalized.data(), normalized_length,
                   &status);
  int32_t utf8_length = 0;
  if (U_SUCCESS(status)) {
    u_strToUTF8(nullptr, 0, &utf8_length, normalized.data(), normalized_length, &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) status = U_ZERO_ERROR;
  }
  if (U_FAILURE(status)) {
    out->append(run);
    return;
  }
  const size_t at = out->size();
  out->resize(at + static_cast<size_t>(utf8_length));
  u_strToUTF8(out->data() + at, utf8_length, nullptr, normalized.data(), normalized_length,
              &status);
  if (U_FAILURE(status)) {
    out->resize(at);
    out->append(run);
  }
}
#endif

}  // namespace

bool unicode_normalization_available() { return RINGSERVE_TEXT_HAVE_ICU != 0; }

std::string unicode_normalize(UnicodeForm form, std::string_view text) {
#if RINGSERVE_TEXT_HAVE_ICU
  bool ascii = true;
  for (const char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(text);  // ASCII is unchanged by every form
  const UNormalizer2* normalizer = instance(form);
  if (normalizer == nullptr) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t run_start = 0;
  for (size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    size_t length = 1;
    if (utf8::decode(text, i, &cp, &length)) {
      i += length;
      continue;
    }
    normalize_run(normalizer, text.substr(run_start, i - run_start), &out);
    out += text[i];  // an invalid byte passes through
    run_start = ++i;
  }
  normalize_run(normalizer, text.substr(run_start), &out);
  return out;
#else
  (void)form;
  return std::string(text);
#endif
}

}  // namespace ringserve::model
