#include "gateway/text_requests.h"

#include <nlohmann/json.hpp>

#include "gateway/daemon_link.h"
#include "gateway/openai_request.h"
#include "gateway/routes.h"

namespace ringserve::gateway {
namespace {

using nlohmann::json;

ApiError optional_bool(const json& body, const char* field, bool* out) {
  const auto it = body.find(field);
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_boolean()) return wrong_type(field, "a boolean", *it);
  *out = it->get<bool>();
  return {};
}

HttpResponse json_answer(const json& body) {
  HttpResponse r;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

}  // namespace

ApiError parse_text_request(TextRequest::Kind kind, std::string_view body_text, TextRequest* out) {
  *out = {};
  out->kind = kind;
  json body;
  if (ApiError e = parse_json_object(body_text, &body); !e.ok()) return e;
  if (kind == TextRequest::Kind::kTokenize) {
    const auto content = body.find("content");
    if (content == body.end()) return bad_field("content", "'content' is required");
    if (!content->is_string()) return wrong_type("content", "a string", *content);
    out->content = content->get<std::string>();
    if (ApiError e = optional_bool(body, "add_special", &out->add_special); !e.ok()) return e;
    if (ApiError e = optional_bool(body, "with_pieces", &out->with_pieces); !e.ok()) return e;
    bool parse_special = true;
    if (ApiError e = optional_bool(body, "parse_special", &parse_special); !e.ok()) return e;
    if (!parse_special) {
      return bad_field("parse_special",
                       "'parse_special' false is not supported: the daemon reads text that spells "
                       "a special token as that token, as it does in prompts");
    }
    return {};
  }
  const auto tokens = body.find("tokens");
  if (tokens == body.end()) return bad_field("tokens", "'tokens' is required");
  if (!tokens->is_array()) return wrong_type("tokens", "an array of token ids", *tokens);
  out->tokens.reserve(tokens->size());
  for (size_t i = 0; i < tokens->size(); ++i) {
    const json& id = (*tokens)[i];
    const std::string field = "tokens[" + std::to_string(i) + "]";
    if (!id.is_number_integer()) return wrong_type(field, "an integer", id);
    const int64_t value = id.get<int64_t>();
    if (value < 0 || value > INT32_MAX) {
      return bad_field(field, "'" + field + "' is " + std::to_string(value) +
                                  ": token ids are 0.." + std::to_string(INT32_MAX));
    }
    out->tokens.push_back(static_cast<int32_t>(value));
  }
  return {};
}

HttpResponse answer_text_request(const TextRequest& request, DaemonLink* link) {
  if (request.kind == TextRequest::Kind::kDetokenize) {
    if (request.tokens.empty()) return json_answer({{"content", ""}});  // nothing to ask
    std::string text;
    const Status s = link->detokenize(request.tokens, &text);
    if (!s.ok()) {
      ApiError e = error_from_status(s);
      if (e.status == 400) e.param = "tokens";
      return error_response(e);
    }
    return json_answer({{"content", text}});
  }
  if (request.content.empty()) return json_answer({{"tokens", json::array()}});
  std::vector<int32_t> ids;
  std::vector<std::string> pieces;
  TokenizeOptions options;
  options.add_special = request.add_special;
  const Status s =
      link->tokenize(request.content, options, &ids, request.with_pieces ? &pieces : nullptr);
  if (!s.ok()) {
    ApiError e = error_from_status(s);
    if (e.status == 400) e.param = "content";
    return error_response(e);
  }
  json tokens = json::array();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (request.with_pieces) {
      tokens.push_back({{"id", ids[i]}, {"piece", i < pieces.size() ? pieces[i] : ""}});
    } else {
      tokens.push_back(ids[i]);
    }
  }
  return json_answer({{"tokens", tokens}});
}

}  // namespace ringserve::gateway
