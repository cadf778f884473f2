// A GPT-2-shaped model directory whose greedy output is a fixed script: after position p it
// generates script[p], whatever the prompt. Every layer's output projections are zero, so the
// residual stream is just the position embedding wpe[p] = 10 * e_p; after the final LayerNorm
// that vector points at dimension p, and lm_head row t has a 1 at every position whose
// scripted token is t, so the largest logit at position p is script[p]. The tokenizer is the
// built-in byte tokenizer (byte b = token b + 3, </s> = 2 = EOS), so a script is bytes: it
// can split a Japanese character over three tokens or a stop string over several.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ringserve::testing {

inline constexpr int32_t kScriptEos = 2;

// Token ids for `text` under the byte tokenizer.
std::vector<int32_t> byte_tokens(const std::string& text);

// Writes the model to `dir`; the script must be shorter than 64 tokens (the hidden size).
bool write_scripted_model(const std::string& dir, const std::vector<int32_t>& script,
                          std::string* error);

}  // namespace ringserve::testing
