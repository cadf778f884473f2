// compare_with_reference: checks ringserve's tokenizer against the output of reference.js (the
// Hugging Face tokenizers library on real tokenizer.json files). For every family and text:
//   - PromptSpecialTokens::encode_raw == the reference's ids with special tokens (BOS and all),
//   - Tokenizer::encode == its ids without them,
//   - Tokenizer::decode(ids, skip_special_tokens) == its decode, both ways,
//   - the daemon's streaming path (token_bytes of each non-special id through Utf8Stream) ends
//     with the reference's decode (the decoder's once-per-output strip of a leading space is
//     the only difference a stream may have).
// Texts marked known_limit are reported, not failed. Exit 0 when everything else agrees.
//
// usage: compare_with_reference REFERENCE.json
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model/read_file.h"
#include "engine/text/prompt_special_tokens.h"
#include "engine/text/tokenizer.h"
#include "engine/text/utf8_stream.h"

namespace {

using nlohmann::json;
using ringserve::model::PromptSpecialTokens;
using ringserve::model::Tokenizer;
using Ids = std::vector<int32_t>;

std::string show(const Ids& ids) {
  std::string out;
  for (const int32_t id : ids) out += (out.empty() ? "" : " ") + std::to_string(id);
  return "[" + out + "]";
}

std::string streamed(const Tokenizer& tokenizer, const Ids& ids) {
  ringserve::model::Utf8Stream stream;
  std::string out;
  for (const int32_t id : ids) {
    if (!tokenizer.is_special(id)) out += stream.push(tokenizer.token_bytes(id));
  }
  return out + stream.finish();
}

// The first difference of one case, or "" when ours agrees with the reference.
std::string compare(const Tokenizer& tokenizer, const PromptSpecialTokens& specials,
                    const json& c) {
  const std::string text = c["text"];
  const Ids ids = c["ids"];
  const Ids plain = c["ids_plain"];
  const std::string decoded = c["decoded"];
  const std::string decoded_with_special = c["decoded_with_special"];
  if (const Ids ours = specials.encode_raw(tokenizer, text); ours != ids) {
    return "encode with special tokens: ours " + show(ours) + ", reference " + show(ids);
  }
  if (const Ids ours = tokenizer.encode(text); ours != plain) {
    return "encode: ours " + show(ours) + ", reference " + show(plain);
  }
  if (const std::string ours = tokenizer.decode(ids, true); ours != decoded) {
    return "decode: ours '" + ours + "', reference '" + decoded + "'";
  }
  if (const std::string ours = tokenizer.decode(ids, false); ours != decoded_with_special) {
    return "decode with special tokens: ours '" + ours + "', reference '" + decoded_with_special +
           "'";
  }
  if (const std::string ours = streamed(tokenizer, ids); !ours.ends_with(decoded)) {
    return "streamed: ours '" + ours + "', reference decode '" + decoded + "'";
  }
  return "";
}

int compare_all(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: compare_with_reference REFERENCE.json\n");
    return 2;
  }
  std::string text;
  if (ringserve::model::read_file(argv[1], &text) != ringserve::model::ReadFileResult::kOk) {
    std::fprintf(stderr, "compare_with_reference: cannot read %s\n", argv[1]);
    return 2;
  }
  const json reference = json::parse(text);
  std::printf("reference: %s\n", reference["reference"].get<std::string>().c_str());
  int failures = 0;
  for (const json& family : reference["families"]) {
    const std::string name = family["name"];
    const std::string dir = family["dir"];
    std::unique_ptr<Tokenizer> tokenizer;
    PromptSpecialTokens specials;
    std::string error;
    if (!Tokenizer::load(dir + "/tokenizer.json", &tokenizer, &error) ||
        !PromptSpecialTokens::load(dir, *tokenizer, &specials, &error)) {
      std::printf("%s: FAIL: %s\n", name.c_str(), error.c_str());
      ++failures;
      continue;
    }
    int agreed = 0;
    int differed = 0;
    int known = 0;
    for (const json& c : family["cases"]) {
      const std::string difference = compare(*tokenizer, specials, c);
      if (difference.empty()) {
        ++agreed;
        continue;
      }
      const bool known_limit = c["known_limit"];
      (known_limit ? known : differed) += 1;
      if (known_limit || differed <= 5) {
        std::printf("%s: %s text %s: %s\n", name.c_str(),
                    known_limit ? "known limit," : "FAIL:", json(c["text"]).dump().c_str(),
                    difference.c_str());
      }
    }
    std::printf("%s: %d of %zu texts agree, %d differ, %d known limits differ\n", name.c_str(),
                agreed, family["cases"].size(), differed, known);
    failures += differed;
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return compare_all(argc, argv);
  } catch (const std::exception& e) {  // a malformed reference file
    std::fprintf(stderr, "compare_with_reference: %s\n", e.what());
    return 2;
  }
}
