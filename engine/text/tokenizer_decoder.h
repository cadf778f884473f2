// How a tokenizer.json's decoder turns vocab strings back into output bytes, reduced to what a
// streaming server needs: the bytes of each token on its own (token_bytes), plus what the
// decoder does once at the start of the output (Llama 2's Strip(" ", 1, 0); the Metaspace
// decoder's dropped '▁' in the first token). Supported decoders: ByteLevel, ByteFallback, Fuse,
// Replace with a string pattern, Strip, Metaspace, and Sequences of these.
//
// Thread-safety: immutable after construction.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ringserve::model {

struct DecodeStep {
  enum class Kind { kByteLevel, kByteFallback, kReplace, kStrip, kMetaspace };
  Kind kind = Kind::kByteLevel;
  std::string from;  // kReplace: pattern; kStrip: the character; kMetaspace: replacement
  std::string to;    // kReplace: replacement
  int start = 0;     // kStrip: how many leading `from` to remove
  int stop = 0;      // kStrip: how many trailing `from` to remove
};

struct DecodePlan {
  std::vector<DecodeStep> per_token;  // applied to each token's string, in order
  // A Strip after Fuse acts once, on the whole output.
  std::string output_strip;
  int output_strip_start = 0;
  int output_strip_stop = 0;
  // Metaspace decoder with a prepend scheme: '▁' in the first token decodes to nothing.
  std::string drop_in_first_token;
};

// The bytes a vocab string stands for under plan.per_token.
std::string decode_token(const DecodePlan& plan, std::string_view token);

// Removes plan's output strip from *text.
void strip_output(const DecodePlan& plan, std::string* text);

}  // namespace ringserve::model
