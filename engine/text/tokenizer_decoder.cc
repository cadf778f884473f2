#include "engine/text/tokenizer_decoder.h"

#include <cstdint>

#include "engine/text/unicode_bytes.h"
#include "utf8/utf8.h"

namespace ringserve::model {
namespace {

void replace_all(std::string* text, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  size_t done = 0;
  for (size_t at = text->find(from); at != std::string::npos; at = text->find(from, done)) {
    out.append(*text, done, at - done);
    out += to;
    done = at + from.size();
  }
  out.append(*text, done);
  *text = std::move(out);
}

// HF's ByteLevel decoder: every character back to its byte; a token holding a character with
// no byte (an added token's text, say) is kept as it is.
std::string byte_level_bytes(const std::string& token) {
  std::string out;
  out.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    char32_t cp = 0;
    size_t length = 1;
    const int b = utf8::decode(token, i, &cp, &length) ? byte_level_byte(cp) : -1;
    if (b < 0) return token;
    out.push_back(static_cast<char>(b));
    i += length;
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void strip(std::string* text, std::string_view what, int start, int stop) {
  if (what.empty()) return;
  for (int i = 0; i < start && text->starts_with(what); ++i) text->erase(0, what.size());
  for (int i = 0; i < stop && text->ends_with(what); ++i) text->resize(text->size() - what.size());
}

}  // namespace

std::string decode_token(const DecodePlan& plan, std::string_view token) {
  std::string text(token);
  for (const DecodeStep& step : plan.per_token) {
    switch (step.kind) {
      case DecodeStep::Kind::kByteLevel:
        text = byte_level_bytes(text);
        break;
      case DecodeStep::Kind::kByteFallback:
        if (text.size() == 6 && text.starts_with("<0x") && text[5] == '>' &&
            hex_digit(text[3]) >= 0 && hex_digit(text[4]) >= 0) {
          text = std::string(1, static_cast<char>(hex_digit(text[3]) * 16 + hex_digit(text[4])));
        }
        break;
      case DecodeStep::Kind::kReplace:
        replace_all(&text, step.from, step.to);
        break;
      case DecodeStep::Kind::kStrip:
        strip(&text, step.from, step.start, step.stop);
        break;
      case DecodeStep::Kind::kMetaspace:
        replace_all(&text, step.from, " ");
        break;
    }
  }
  return text;
}

void strip_output(const DecodePlan& plan, std::string* text) {
  strip(text, plan.output_strip, plan.output_strip_start, plan.output_strip_stop);
}

}  // namespace ringserve::model
