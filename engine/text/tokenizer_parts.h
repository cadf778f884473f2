// TokenizerParts: everything a Tokenizer is built from, filled in by Tokenizer::parse
// (tokenizer_json.cc) and used by encode/decode (tokenizer.cc). Internal to ringserve_text.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/text/bpe.h"
#include "engine/text/pretokenize.h"
#include "engine/text/tokenizer_added.h"
#include "engine/text/tokenizer_decoder.h"
#include "engine/text/tokenizer_normalizer.h"
#include "engine/text/tokenizer_post_processor.h"

namespace ringserve::model {

struct TokenizerParts {
  std::string name;
  std::vector<AddedToken> added;       // the matchers point into this; never resized after
  AddedTokenMatcher raw_added;         // tokens with normalized: false, matched on raw text
  AddedTokenMatcher normalized_added;  // tokens with normalized: true, on normalized text
  Vocab added_by_content;
  std::vector<NormalizeStep> normalizers;
  std::vector<PretokenizeStep> pretokenizers;
  std::unique_ptr<BpeModel> model;
  DecodePlan decode_plan;
  SpecialTokenFrame special_frame;  // what add_special_tokens puts around the ids

  // By id, vocab_size long.
  std::vector<std::string> token_strings;
  std::vector<std::string> token_bytes;
  std::vector<uint8_t> is_added;
  std::vector<uint8_t> is_special;

  // The byte tokenizer's fast path: no normalizer, no pre-tokenizer, no merges, a <0xXX> token
  // for every byte and no single-character vocab entry, so each byte is its <0xXX> token.
  bool bytes_only = false;
};

}  // namespace ringserve::model
