// Names and messages of the client library's error values.
#include <string>

#include "ringserve/client.h"
#include "shm/layout.h"

namespace ringserve {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kEndOfStream:
      return "end of stream";
    case ErrorCode::kDaemonNotRunning:
      return "daemon not running";
    case ErrorCode::kDaemonGone:
      return "daemon gone";
    case ErrorCode::kVersionMismatch:
      return "version mismatch";
    case ErrorCode::kPermissionDenied:
      return "permission denied";
    case ErrorCode::kQueueFull:
      return "queue full";
    case ErrorCode::kPromptTooLong:
      return "prompt too long";
    case ErrorCode::kInvalidParams:
      return "invalid parameters";
    case ErrorCode::kEmptyPrompt:
      return "empty prompt";
    case ErrorCode::kInvalidUtf8:
      return "invalid UTF-8";
    case ErrorCode::kShuttingDown:
      return "shutting down";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kProtocolError:
      return "protocol error";
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kInternal:
      return "internal error";
    case ErrorCode::kDaemonNotResponding:
      return "daemon not responding";
  }
  return "unknown error";
}

const char* to_string(FinishReason reason) {
  // The values are the protocol's (static_asserts in client.cc keep them equal).
  return shm::finish_reason_name(static_cast<shm::FinishReason>(reason));
}

std::string Status::to_string() const {
  std::string s = ringserve::to_string(code_);
  if (!message_.empty()) s += ": " + message_;
  return s;
}

}  // namespace ringserve
