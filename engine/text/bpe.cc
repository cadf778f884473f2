#include "engine/text/bpe.h"

#include <cstdio>
#include <memory>
#include <queue>

#include "utf8/utf8.h"

namespace ringserve::model {
namespace {

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

struct Symbol {
  int32_t id;
  int32_t prev;  // index of the previous live symbol, -1 at the start
  int32_t next;  // index of the next live symbol, -1 at the end
  bool live;
};

struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t new_id;
  // std::priority_queue pops the largest: make that the lowest rank, then the leftmost.
  bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

bool BpeModel::build(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                     BpeOptions options, std::unique_ptr<BpeModel>* out, std::string* error) {
  std::unique_ptr<BpeModel> model(new BpeModel());
  model->vocab_ = std::move(vocab);
  model->options_ = std::move(options);
  const Vocab& v = model->vocab_;
  auto fail = [&](size_t rank, const std::string& what) {
    std::string message = "merge " + std::to_string(rank) + " ('";
    message.append(merges[rank].first).append("', '").append(merges[rank].second);
    message.append("'): ").append(what).append(" is not in the vocab");
    *error = std::move(message);
    return false;
  };
  std::string merged_text;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const auto l = v.find(left);
    if (l == v.end()) return fail(rank, "token '" + left + "'");
    const auto r = v.find(right);
    if (r == v.end()) return fail(rank, "token '" + right + "'");
    merged_text.assign(left).append(right);
    const auto merged = v.find(merged_text);
    if (merged == v.end()) return fail(rank, "merged token '" + merged_text + "'");
    model->merges_[pair_key(l->second, r->second)] = {static_cast<int32_t>(rank), merged->second};
  }
  if (model->options_.unk_token.has_value()) {
    const auto unk = v.find(*model->options_.unk_token);
    if (unk == v.end()) {
      *error = "unk_token '" + *model->options_.unk_token + "' is not in the vocab";
      return false;
    }
    model->unk_id_ = unk->second;
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    const auto it = v.find(std::string_view(name));
    model->byte_tokens_[b] = it == v.end() ? -1 : it->second;
  }
  *out = std::move(model);
  return true;
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    const auto it = vocab_.find(word);
    if (it != vocab_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() < kCacheMaxWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    const auto it = cache_.find(word);
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> word_ids;
  merge_word(word, &word_ids);
  ids->insert(ids->end(), word_ids.begin(), word_ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(word), std::move(word_ids));
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>* ids) const {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](int32_t id) {
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, -1, true});
    if (index > 0) symbols[index - 1].next = index;
  };
  int32_t pending_unk = -1;  // HF adds an unk only when the next known symbol comes
  for (size_t i = 0; i < word.size();) {
    const size_t length = utf8::char_length(word, i);
    const std::string_view ch = word.substr(i, length);
    i += length;
    const auto it = vocab_.find(ch);
    if (it != vocab_.end()) {
      if (pending_unk >= 0) add(pending_unk);
      pending_unk = -1;
      add(it->second);
      continue;
    }
    if (options_.byte_fallback) {
      bool all_bytes = true;
      for (const char c : ch) all_bytes = all_bytes && byte_tokens_[static_cast<uint8_t>(c)] >= 0;
      if (all_bytes) {
        // Like HF, a pending unk is not flushed here: it lands after these byte tokens.
        for (const char c : ch) add(byte_tokens_[static_cast<uint8_t>(c)]);
        continue;
      }
    }
    if (unk_id_.has_value()) {
      if (pending_unk >= 0 && !options_.fuse_unk) add(pending_unk);
      pending_unk = *unk_id_;
    }
  }
  if (pending_unk >= 0) add(pending_unk);

  if (!merges_.empty() && symbols.size() > 1) {
    std::priority_queue<Candidate> queue;
    auto offer = [&](int32_t pos) {
      const int32_t next = symbols[pos].next;
      if (next < 0) return;
      const auto m = merges_.find(pair_key(symbols[pos].id, symbols[next].id));
      if (m != merges_.end()) queue.push({m->second.first, pos, m->second.second});
    };
    for (int32_t pos = 0; pos + 1 < static_cast<int32_t>(symbols.size()); ++pos) offer(pos);
    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      Symbol& left = symbols[top.pos];
      if (!left.live || left.next < 0) continue;
      Symbol& right = symbols[left.next];
      // A stale entry: this position's pair changed since it was queued.
      const auto m = merges_.find(pair_key(left.id, right.id));
      if (m == merges_.end() || m->second.second != top.new_id) continue;
      left.id = top.new_id;
      right.live = false;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = top.pos;
      if (left.prev >= 0) offer(left.prev);
      offer(top.pos);
    }
  }
  for (const Symbol& s : symbols) {
    if (s.live) ids->push_back(s.id);
  }
}

}  // namespace ringserve::model
