// The gateway's connection to its daemon: one ringserve::Client, made on first use and made
// again after the daemon went away, so a restarted daemon is found by the next request.
//
// Thread-safety: every method may be called from any thread (the event loops of --threads N
// share one link); the Client itself is thread-safe, the mutex guards only which Client is
// current. Connecting happens on the calling event loop: a daemon that is absent answers at
// once, one that is starting is waited for at most 200 ms.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "ringserve/client.h"

namespace ringserve::gateway {

class DaemonLink {
 public:
  explicit DaemonLink(std::string daemon_name) : name_(std::move(daemon_name)) {}

  const std::string& daemon_name() const { return name_; }

  // Submits a chat (messages non-empty) or a raw prompt. When the daemon is gone or was
  // restarted, reconnects once and tries again. params.max_tokens == 0 means the daemon's
  // max_tokens_limit.
  Status start(const std::vector<ChatMessage>& messages, const std::string& prompt,
               const GenerateParams& params, std::unique_ptr<Stream>* out);

  // status() and metrics() of the daemon, reconnecting when needed.
  Status read(DaemonStatus* status, DaemonMetrics* metrics);

  // The daemon's tokenizer (Client::tokenize / detokenize), reconnecting when needed. Block
  // until the daemon answers (at its next loop iteration): not for an event loop's thread.
  Status tokenize(std::string_view text, const TokenizeOptions& options, std::vector<int32_t>* ids,
                  std::vector<std::string>* pieces);
  Status detokenize(const std::vector<int32_t>& ids, std::string* text);

  // The served model's id: the basename of its path ("built-in", "echo" as they are); "" when
  // the daemon was never reached.
  std::string model_id();

 private:
  // The current client, connecting when there is none; nullptr and *s set when that fails.
  std::shared_ptr<Client> client(Status* s);
  // Forgets `stale` (if still current) so the next call connects again.
  void drop(const std::shared_ptr<Client>& stale);
  // call(client) with the current client; once more with a new connection when the first
  // found the daemon gone or restarted.
  Status with_client(const std::function<Status(Client&)>& call);

  std::string name_;
  std::mutex mu_;
  std::shared_ptr<Client> client_;  // guarded by mu_
  std::string model_id_;            // guarded by mu_
};

// True for errors after which the Client is useless (the daemon died or was replaced).
bool connection_lost(const Status& s);

}  // namespace ringserve::gateway
