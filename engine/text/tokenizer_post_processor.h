// The special tokens a tokenizer.json's post_processor puts around one encoded sequence, as HF
// does for encode(text, add_special_tokens=True): TemplateProcessing's "single" template (the
// SpecialTokens before and after $A: Llama 2, Mistral and Gemma put their BOS in front; newer
// Llama 3 files too, inside a Sequence), RobertaProcessing / BertProcessing (cls before, sep
// after), ByteLevel (none: it only trims offsets), and Sequences of these. Internal to
// ringserve_text.
//
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ringserve::model {

struct SpecialTokenFrame {
  std::vector<int32_t> prefix;  // before the text's ids
  std::vector<int32_t> suffix;  // after them
};

namespace tokenizer_json {

// Reads `post_processor` (null: no special tokens). False with *error for a processor type HF
// does not have, a template without $A, or a special token without its ids.
bool parse_post_processor(const nlohmann::json& j, SpecialTokenFrame* frame, std::string* error);

}  // namespace tokenizer_json
}  // namespace ringserve::model
