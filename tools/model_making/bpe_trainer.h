// A small BPE trainer: learns merges from a corpus and writes a tokenizer.json that
// Tokenizer::parse (and HF tokenizers) read. It exists so that tests and the random-model
// writer can have real vocabularies of any size without downloading one.
//
//   kByteLevel  GPT-2 style: ids 0..255 are the byte-level characters (in GPT-2's order, so
//               "!" is 0), then learned merges; ByteLevel pre-tokenizer with GPT-2's regex and
//               ByteLevel decoder; <|endoftext|> (special) is the last id.
//   kMetaspace  Llama 2 style: <unk>, <s>, </s> are 0, 1, 2 (special), <0x00>..<0xFF> are
//               3..258, then the corpus's characters (most frequent first, as many as fit),
//               then learned merges; normalizer Prepend("▁") + Replace(" ", "▁"), BPE with
//               byte_fallback and fuse_unk, the Replace / ByteFallback / Fuse / Strip decoder.
//
// Training: the corpus is pre-tokenized as the emitted tokenizer will do it (byte-level: GPT-2
// regex; metaspace: words starting at each '▁'), then the most frequent adjacent pair is merged
// repeatedly (ties: the pair of smaller ids) until the vocab is full. When the corpus runs out
// of pairs first, the rest of the vocab is padded with special added tokens <|unused_N|>, so
// the file always has exactly vocab_size ids. Deterministic: same input, same file.
//
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringserve::model {

enum class TokenizerKind { kByteLevel, kMetaspace };

// The tokenizer.json text, or "" with *error (vocab_size below the fixed tokens: 257 for
// byte-level, 259 for metaspace; or above 1 << 22).
std::string train_bpe_tokenizer_json(TokenizerKind kind, std::string_view corpus,
                                     int32_t vocab_size, std::string* error);

}  // namespace ringserve::model
