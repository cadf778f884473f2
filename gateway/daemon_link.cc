#include "gateway/daemon_link.h"

namespace ringserve::gateway {
namespace {

std::string model_id_of(const ModelInfo& model) {
  const size_t slash = model.path.find_last_of('/');
  std::string id = slash == std::string::npos ? model.path : model.path.substr(slash + 1);
  if (id.empty()) id = model.architecture;
  return id.empty() ? "ringserve" : id;
}

}  // namespace

bool connection_lost(const Status& s) {
  return s.code() == ErrorCode::kDaemonGone || s.code() == ErrorCode::kDaemonNotRunning ||
         s.code() == ErrorCode::kVersionMismatch || s.code() == ErrorCode::kProtocolError;
}

std::shared_ptr<Client> DaemonLink::client(Status* s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (client_) return client_;
  std::unique_ptr<Client> fresh;
  ConnectOptions options;
  options.ready_timeout = std::chrono::milliseconds(200);
  *s = Client::connect(name_, &fresh, options);
  if (!s->ok()) return nullptr;
  DaemonStatus st;
  if (fresh->status(&st).ok()) model_id_ = model_id_of(st.model);
  client_ = std::move(fresh);
  return client_;
}

void DaemonLink::drop(const std::shared_ptr<Client>& stale) {
  std::lock_guard<std::mutex> lock(mu_);
  if (client_ == stale) client_.reset();
}

Status DaemonLink::with_client(const std::function<Status(Client&)>& call) {
  Status s;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const std::shared_ptr<Client> c = client(&s);
    if (!c) return s;
    s = call(*c);
    if (!connection_lost(s)) return s;
    drop(c);
  }
  return s;
}

Status DaemonLink::start(const std::vector<ChatMessage>& messages, const std::string& prompt,
                         const GenerateParams& params, std::unique_ptr<Stream>* out) {
  return with_client([&](Client& c) {
    GenerateParams p = params;
    if (p.max_tokens == 0) p.max_tokens = c.max_tokens_limit();
    return messages.empty() ? c.generate(prompt, p, out) : c.chat(messages, p, out);
  });
}

Status DaemonLink::read(DaemonStatus* status, DaemonMetrics* metrics) {
  return with_client([&](Client& c) {
    Status s = c.status(status);
    if (s.ok() && metrics != nullptr) s = c.metrics(metrics);
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      model_id_ = model_id_of(status->model);
    }
    return s;
  });
}

Status DaemonLink::tokenize(std::string_view text, const TokenizeOptions& options,
                            std::vector<int32_t>* ids, std::vector<std::string>* pieces) {
  // Client::tokenize clears both before it asks, so a retry starts from nothing.
  return with_client([&](Client& c) { return c.tokenize(text, options, ids, pieces); });
}

Status DaemonLink::detokenize(const std::vector<int32_t>& ids, std::string* text) {
  return with_client([&](Client& c) { return c.detokenize(ids, text); });
}

std::string DaemonLink::model_id() {
  std::lock_guard<std::mutex> lock(mu_);
  return model_id_;
}

}  // namespace ringserve::gateway
