#include "gateway/generation.h"

#include "gateway/http_message.h"

namespace ringserve::gateway {

Generation::Generation(const CompletionRequest& request, ResponseIds ids,
                       std::unique_ptr<Stream> stream, bool keep_alive)
    : endpoint_(request.endpoint),
      streaming_(request.stream),
      include_usage_(request.include_usage),
      keep_alive_(keep_alive),
      ids_(std::move(ids)),
      stream_(std::move(stream)) {}

Generation::Output Generation::poll() {
  if (!stream_) return {"", true, true};
  Status s;
  Token token;
  bool ended = false;
  for (;;) {
    s = stream_->next(&token, std::chrono::nanoseconds(0));
    if (s.ok()) {
      text_ += token.text;
      // Text released without a token of its own (held back for a stop string) is not one.
      if (token.id >= 0) ++completion_tokens_;
      continue;
    }
    if (s.code() == ErrorCode::kDaemonNotResponding) break;  // the stream goes on
    if (s.code() == ErrorCode::kTimeout && !stream_->done()) break;
    ended = true;
    break;
  }
  if (ended) return s.end_of_stream() ? finish_ok() : finish_error(s);
  if (!streaming_ || text_.empty()) return {};
  std::string events =
      render_chunk_event(ids_, text_, !head_sent_, FinishReason::kNone, include_usage_);
  text_.clear();
  Output out;
  if (!head_sent_) out.bytes = sse_head(keep_alive_);
  head_sent_ = true;
  out.bytes += http_chunk(events);
  return out;
}

Generation::Output Generation::finish_ok() {
  const FinishReason reason = stream_->finish_reason();
  const Usage usage{stream_->info().prompt_tokens, completion_tokens_};
  stream_.reset();
  Output out;
  out.finished = true;
  out.close_after = !keep_alive_;
  if (!streaming_) {
    HttpResponse r;
    r.body = render_completion(ids_, text_, reason, usage);
    out.bytes = serialize(r, keep_alive_);
    return out;
  }
  const bool first = !head_sent_;
  std::string events;
  if (!text_.empty()) {
    events += render_chunk_event(ids_, text_, first, FinishReason::kNone, include_usage_);
  }
  events += render_chunk_event(ids_, "", first && text_.empty(), reason, include_usage_);
  if (include_usage_) events += render_usage_event(ids_, usage);
  events += kDoneEvent;
  if (first) out.bytes = sse_head(keep_alive_);
  head_sent_ = true;
  out.bytes += http_chunk(events);
  out.bytes += kLastChunk;
  return out;
}

Generation::Output Generation::finish_error(const Status& s) {
  stream_.reset();
  ApiError e = error_from_status(s);
  if (e.status == 400 && s.code() == ErrorCode::kPromptTooLong) {
    e.param = endpoint_ == Endpoint::kChat ? "messages" : "prompt";
  }
  Output out;
  out.finished = true;
  if (!head_sent_) {
    HttpResponse r;
    r.status = e.status;
    r.body = render_error(e);
    if (e.retry_after_s != 0)
      r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
    out.close_after = !keep_alive_;
    out.bytes = serialize(r, keep_alive_);
    return out;
  }
  // Mid-stream: the status line is long gone; say it in the stream and end it.
  out.close_after = true;
  out.bytes = http_chunk(render_error_event(e)) + std::string(kLastChunk);
  return out;
}

}  // namespace ringserve::gateway
