// One completion request in flight: the daemon's Stream, drained without blocking, turned into
// the bytes of its HTTP response (one JSON at the end, or SSE chunks as tokens come).
//
// A streaming response's 200 and SSE head are held back until the first token or the first
// error: errors the daemon finds (queue full, prompt too long) arrive on the stream's first
// next(), and so still get their own status code. After the head, an error is an SSE error
// event and the connection closes.
//
// Thread-safety: none; owned by one connection on one event loop.
#pragma once

#include <memory>
#include <string>

#include "gateway/openai_request.h"
#include "gateway/openai_response.h"
#include "ringserve/client.h"

namespace ringserve::gateway {

class Generation {
 public:
  Generation(const CompletionRequest& request, ResponseIds ids, std::unique_ptr<Stream> stream,
             bool keep_alive);

  struct Output {
    std::string bytes;         // to write now; may be empty
    bool finished = false;     // the response is complete with these bytes
    bool close_after = false;  // close the connection after writing them
  };
  // Reads every token the stream holds now (never waits).
  Output poll();

  // The client left: cancel the request and give its slot back at once.
  void abandon() { stream_.reset(); }

 private:
  Output finish_ok();
  Output finish_error(const Status& s);

  Endpoint endpoint_;
  bool streaming_;
  bool include_usage_;
  bool keep_alive_;
  ResponseIds ids_;
  std::unique_ptr<Stream> stream_;
  std::string text_;  // non-streaming: all of it; streaming: what is not sent yet
  uint32_t completion_tokens_ = 0;
  bool head_sent_ = false;
};

}  // namespace ringserve::gateway
