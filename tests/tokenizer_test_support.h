// Helpers for the tokenizer tests: small tokenizer.json files built in code, so each test shows
// the whole vocabulary its expected ids were worked out from.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/text/tokenizer.h"
#include "engine/text/unicode_bytes.h"

namespace ringserve::model::testing {

using nlohmann::json;

// A GPT-2 style byte-level tokenizer: ids 0..255 are the byte-level characters in GPT-2's order
// (so "!" is 0, a printable ASCII byte b is b - 33, "Ġ" (space) is 220, "Ċ" (\n) is 198), then
// `extra` tokens from id 256 on, in order, and the given merges.
inline json byte_level_tokenizer(const std::vector<std::string>& extra,
                                 const std::vector<std::string>& merges) {
  json vocab = json::object();
  std::vector<std::pair<uint32_t, std::string>> chars;
  for (int b = 0; b < 256; ++b) {
    const std::string spelled(byte_level_char(static_cast<uint8_t>(b)));
    // Decode the (one or two byte) spelling to order by code point.
    uint32_t cp = static_cast<uint8_t>(spelled[0]);
    if (spelled.size() == 2) cp = ((cp & 0x1F) << 6) | (static_cast<uint8_t>(spelled[1]) & 0x3F);
    chars.emplace_back(cp, spelled);
  }
  std::sort(chars.begin(), chars.end());
  for (size_t i = 0; i < chars.size(); ++i) vocab[chars[i].second] = i;
  for (size_t i = 0; i < extra.size(); ++i) vocab[extra[i]] = 256 + i;
  const json byte_level = {{"type", "ByteLevel"},
                           {"add_prefix_space", false},
                           {"trim_offsets", true},
                           {"use_regex", true}};
  return {{"version", "1.0"},
          {"added_tokens", json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", byte_level},
          {"post_processor", byte_level},
          {"decoder", byte_level},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"vocab", vocab},
            {"merges", merges}}}};
}

// A Llama 2 style metaspace tokenizer: <unk>, <s>, </s> = 0, 1, 2 (special added tokens),
// <0x00>..<0xFF> = 3..258, then `extra` from id 259 on; Llama 2's normalizer and decoder.
inline json metaspace_tokenizer(const std::vector<std::string>& extra,
                                const std::vector<std::string>& merges) {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  for (size_t i = 0; i < extra.size(); ++i) vocab[extra[i]] = 259 + i;
  json added = json::array();
  for (int id = 0; id < 3; ++id) {
    added.push_back({{"id", id},
                     {"content", id == 0   ? "<unk>"
                                 : id == 1 ? "<s>"
                                           : "</s>"},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", "\u2581"}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
          {"pre_tokenizer", nullptr},
          {"decoder",
           {{"type", "Sequence"},
            {"decoders",
             {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
              {{"type", "ByteFallback"}},
              {{"type", "Fuse"}},
              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", "<unk>"},
            {"fuse_unk", true},
            {"byte_fallback", true},
            {"vocab", vocab},
            {"merges", merges}}}};
}

// A Gemma 3 shaped tokenizer: metaspace_tokenizer's ids, but Gemma's normalizer (spaces to
// '▁', nothing prepended), its Split(" ", MergedWithPrevious) pre-tokenizer, its decoder (no
// Strip) and its BOS post-processor. After `extra` come "▁" and "▁▁" (merge "▁ ▁"), which is
// also a non-special added token, as Gemma 3 ships its runs of '▁'.
inline json gemma_like(std::vector<std::string> extra, std::vector<std::string> merges) {
  const int run = 260 + static_cast<int>(extra.size());
  extra.emplace_back("\u2581");
  extra.emplace_back("\u2581\u2581");
  merges.emplace_back("\u2581 \u2581");
  json j = metaspace_tokenizer(extra, merges);
  j["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}};
  j["pre_tokenizer"] = {{"type", "Split"},
                        {"pattern", {{"String", " "}}},
                        {"behavior", "MergedWithPrevious"},
                        {"invert", false}};
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders",
                   {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                    {{"type", "ByteFallback"}},
                    {{"type", "Fuse"}}}}};
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single",
       {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  j["added_tokens"].push_back({{"id", run},
                               {"content", "\u2581\u2581"},
                               {"single_word", false},
                               {"lstrip", false},
                               {"rstrip", false},
                               {"normalized", false},
                               {"special", false}});
  return j;
}

inline json added_token(int id, const std::string& content, bool special = true) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", special}};
}

inline std::unique_ptr<Tokenizer> must_parse(const json& j) {
  std::unique_ptr<Tokenizer> tokenizer;
  std::string error;
  EXPECT_TRUE(Tokenizer::parse(j.dump(), "test.json", &tokenizer, &error)) << error;
  return tokenizer;
}

inline std::string parse_error(const std::string& text) {
  std::unique_ptr<Tokenizer> tokenizer;
  std::string error;
  EXPECT_FALSE(Tokenizer::parse(text, "broken.json", &tokenizer, &error));
  return error;
}

using Ids = std::vector<int32_t>;

}  // namespace ringserve::model::testing
