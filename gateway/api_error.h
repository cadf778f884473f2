// An HTTP error as OpenAI's API reports one: a status code and the body
// {"error":{"message":..., "type":..., "param":..., "code":...}}.
#pragma once

#include <string>

#include "ringserve/client.h"

namespace ringserve::gateway {

struct ApiError {
  int status = 0;  // 0: no error
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;           // the request field at fault; "" = null
  std::string code;            // "" = null
  uint32_t retry_after_s = 0;  // 429: the Retry-After header

  bool ok() const { return status == 0; }
};

inline ApiError bad_field(const std::string& param, const std::string& message) {
  return {400, message, "invalid_request_error", param, "", 0};
}

// The HTTP error for a status from the client library (generate, chat, a stream's next()).
ApiError error_from_status(const Status& s);

}  // namespace ringserve::gateway
