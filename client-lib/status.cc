// The client library's error values: their names and messages, and the protocol's error
// codes and finish reasons as the client reports them.
#include <string>

#include "client-lib/connection.h"
#include "ringserve/client.h"
#include "shm/layout.h"

namespace ringserve {

static_assert(static_cast<int>(FinishReason::kRejected) ==
              static_cast<int>(shm::FinishReason::kRejected));
static_assert(static_cast<int>(FinishReason::kStop) == static_cast<int>(shm::FinishReason::kStop));

ErrorCode error_code_from_request_error(shm::RequestError e) {
  switch (e) {
    case shm::RequestError::kNone:
      return ErrorCode::kOk;
    case shm::RequestError::kQueueFull:
      return ErrorCode::kQueueFull;
    case shm::RequestError::kPromptTooLong:
      return ErrorCode::kPromptTooLong;
    case shm::RequestError::kInvalidParams:
      return ErrorCode::kInvalidParams;
    case shm::RequestError::kEmptyPrompt:
      return ErrorCode::kEmptyPrompt;
    case shm::RequestError::kInvalidUtf8:
      return ErrorCode::kInvalidUtf8;
    case shm::RequestError::kShuttingDown:
      return ErrorCode::kShuttingDown;
    case shm::RequestError::kProtocolViolation:
      return ErrorCode::kProtocolError;
    case shm::RequestError::kInternal:
      return ErrorCode::kInternal;
    case shm::RequestError::kClientStalled:
      // The request gave up its place because we did not read: a deadline of ours passed.
      return ErrorCode::kTimeout;
  }
  return ErrorCode::kInternal;
}

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
  // The values are the protocol's (static_asserts above keep them equal).
  return shm::finish_reason_name(static_cast<shm::FinishReason>(reason));
}

std::string Status::to_string() const {
  std::string s = ringserve::to_string(code_);
  if (!message_.empty()) s += ": " + message_;
  return s;
}

}  // namespace ringserve
