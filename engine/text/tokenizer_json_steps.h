// Reading the parts of a tokenizer.json around the model: field helpers, and the normalizer,
// pre_tokenizer and decoder sections. Each returns false with *error naming the section and
// what is wrong or unsupported (the caller prefixes the file name). Internal to ringserve_text.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/text/pretokenize.h"
#include "engine/text/tokenizer_decoder.h"
#include "engine/text/tokenizer_normalizer.h"

namespace ringserve::model::tokenizer_json {

// j["type"] when it is a string, else "".
std::string type_of(const nlohmann::json& j);

// An optional boolean (absent or null: fallback); false with *error for another kind of value.
bool get_bool(const nlohmann::json& j, const char* key, bool fallback, bool* out,
              const std::string& where, std::string* error);
// A required string.
bool get_string(const nlohmann::json& j, const char* key, std::string* out,
                const std::string& where, std::string* error);

// Appends the steps of a normalizer / pre_tokenizer (null: none; Sequences flattened).
bool parse_normalizer(const nlohmann::json& j, std::vector<NormalizeStep>* steps,
                      std::string* error);
bool parse_pre_tokenizer(const nlohmann::json& j, std::vector<PretokenizeStep>* steps,
                         std::string* error);
// Fills *plan; *fused tracks whether a Fuse came before (a later Strip then acts on the output).
bool parse_decoder(const nlohmann::json& j, DecodePlan* plan, bool* fused, std::string* error);

}  // namespace ringserve::model::tokenizer_json
