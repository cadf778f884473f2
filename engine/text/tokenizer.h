// Tokenizer: text <-> token ids for a Hugging Face tokenizer.json, matching what the reference
// `tokenizers` library produces for encode(text, add_special_tokens) and decode(ids,
// skip_special_tokens) (tests/reference/ compares the two on real files of six families).
//
// Supported: BPE models, byte-level (GPT-2, Llama 3, Qwen2: ByteLevel pre-tokenizer, optionally
// after regex Splits) and metaspace with byte fallback (Llama 2, Mistral, TinyLlama: the
// Prepend/Replace normalizers or a Metaspace pre-tokenizer), including the project's 259-token
// byte tokenizer (a fast path: one id per byte). Added tokens found in the text map to their ids.
// Refused when the file is read: other models (WordPiece, Unigram, WordLevel), normalizers other
// than Prepend/Replace, pre-tokenizers other than ByteLevel/Split/Metaspace, decoders other than
// ByteLevel/ByteFallback/Fuse/Replace/Strip/Metaspace, BPE dropout and subword affixes.
// Post-processors: what they put around a sequence is read (tokenizer_post_processor.h).
//
// Text is taken as bytes: valid UTF-8 encodes exactly as the reference does; an invalid byte
// is treated as a one-byte character that no regex class matches (byte-level BPE spells it,
// byte fallback gives its <0xXX> token), so encode never fails.
//
// Thread-safety: immutable after load() except for an internal, locked word cache; any number
// of threads may call the const methods concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringserve::model {

struct TokenizerParts;

class Tokenizer {
 public:
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Reads and checks PATH (a tokenizer.json). False with *error = "PATH: <what is wrong>" on
  // any problem (unreadable, bad JSON, unsupported model type / pre-tokenizer / normalizer /
  // decoder, a merge naming an unknown token, ...).
  static bool load(const std::string& path, std::unique_ptr<Tokenizer>* out, std::string* error);
  static bool parse(std::string_view json_text, const std::string& name_for_errors,
                    std::unique_ptr<Tokenizer>* out, std::string* error);

  // Encodes text as HF's encode(text, add_special_tokens): added tokens (special or not) in the
  // text are split out first and map to their ids, honouring their lstrip / rstrip /
  // single_word / normalized flags; with add_special_tokens, the post-processor's special
  // tokens go around the ids (special_prefix(), special_suffix()).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const;

  // What tokenizer.json's post_processor puts before and after a sequence's ids (Llama 2,
  // Mistral, Gemma: their BOS in front; GPT-2, Qwen: nothing).
  std::span<const int32_t> special_prefix() const;
  std::span<const int32_t> special_suffix() const;

  // The raw bytes a token stands for in generated output: its vocab string or added-token
  // content through the decoder chain, as HF decodes every token it does not skip (byte-level:
  // the bytes behind GPT-2's byte-to-unicode mapping; metaspace: '▁' -> ' ', <0xXX> -> that
  // byte). Unknown ids: empty. May be part of a UTF-8 character.
  const std::string& token_bytes(int32_t id) const;

  // HF's decode(ids, skip_special_tokens): unknown ids (and special tokens when skipped) are
  // dropped, the rest give their token_bytes, plus what the decoder does once per output (the
  // Metaspace decoder's dropped first '▁', the leading-space Strip of Llama 2's). Raw bytes:
  // invalid UTF-8 is not replaced.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  int32_t vocab_size() const;  // largest id + 1 over the vocab and the added tokens
  // A token's id by its vocab string or added-token content (added tokens first, as HF does).
  std::optional<int32_t> find(std::string_view token) const;
  bool is_special(int32_t id) const;  // an added token marked "special"
  // The vocab string (e.g. "Ġthe", "▁the", "<0x0A>") or added content; empty for unknown ids.
  const std::string& token_string(int32_t id) const;

 private:
  explicit Tokenizer(std::unique_ptr<TokenizerParts> parts);
  void encode_piece(std::string_view piece, bool at_start, std::vector<int32_t>* ids) const;

  std::unique_ptr<TokenizerParts> parts_;
};

}  // namespace ringserve::model
