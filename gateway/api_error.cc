#include "gateway/api_error.h"

namespace ringserve::gateway {

ApiError error_from_status(const Status& s) {
  ApiError e;
  e.message = s.to_string();
  switch (s.code()) {
    case ErrorCode::kOk:
    case ErrorCode::kEndOfStream:
      return {};
    case ErrorCode::kQueueFull:
      e.status = 429;
      e.type = "rate_limit_error";
      e.code = "queue_full";
      e.retry_after_s = 1;
      break;
    case ErrorCode::kPromptTooLong:
      e.status = 400;
      e.code = "context_length_exceeded";
      break;
    case ErrorCode::kInvalidParams:
    case ErrorCode::kEmptyPrompt:
    case ErrorCode::kInvalidUtf8:
      e.status = 400;
      e.code = "invalid_value";
      break;
    case ErrorCode::kDaemonNotRunning:
    case ErrorCode::kDaemonGone:
    case ErrorCode::kShuttingDown:
    case ErrorCode::kDaemonNotResponding:
    case ErrorCode::kVersionMismatch:
    case ErrorCode::kPermissionDenied:
      e.status = 503;
      e.type = "service_unavailable";
      e.code = "daemon_unavailable";
      break;
    case ErrorCode::kTimeout:
      e.status = 504;
      e.type = "timeout";
      break;
    default:
      e.status = 500;
      e.type = "server_error";
      break;
  }
  return e;
}

}  // namespace ringserve::gateway
