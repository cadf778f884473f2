#include "gateway/http_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "gateway/daemon_link.h"
#include "gateway/generation.h"
#include "gateway/routes.h"
#include "gateway/streams.h"
#include "gateway/text_requests.h"

namespace ringserve::gateway {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// How often the pump polls the streams while any is active (docs/HTTP.md: what it adds).
constexpr std::chrono::microseconds kPumpInterval{1000};

struct Shared {
  const Options& options;
  DaemonLink link;
  std::atomic<uint32_t> connections{0};
  // /tokenize and /detokenize wait for the daemon's answer (up to one of its loop iterations,
  // i.e. one model step): on these threads, never on an event loop's.
  net::thread_pool tokenizer{2};
};

struct Loop {
  explicit Loop(Shared& s) : shared(s), pump(io, kPumpInterval) {}
  Shared& shared;
  net::io_context io{1};
  Pump pump;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_retry;
};

class Session final : public Pumped, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Loop& loop) : stream_(std::move(socket)), loop_(loop) {}
  ~Session() override { loop_.shared.connections.fetch_sub(1, std::memory_order_relaxed); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() { read_header(); }
  bool pump() override;

 private:
  void read_header();
  void on_header(beast::error_code ec);
  void read_body();
  void on_read_error(beast::error_code ec);
  void handle();
  void start_generation(const CompletionRequest& request);
  void ask_tokenizer(const TextRequest& request);
  // Writes bytes; `ends_response`: then read the next request, or close if `close_after`.
  void write(std::string bytes, bool ends_response, bool close_after);
  void watch_disconnect();
  void client_gone();
  void close();

  beast::tcp_stream stream_;
  Loop& loop_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::unique_ptr<Generation> generation_;
  std::string out_;  // the bytes being written (alive until the write completes)
  bool keep_alive_ = true;
  bool writing_ = false;
  bool ends_response_ = false;
  bool close_after_ = false;
  bool closed_ = false;
  uint64_t watch_id_ = 0;
};

void Session::read_header() {
  const Options& o = loop_.shared.options;
  parser_.emplace();
  parser_->header_limit(o.max_header_bytes);
  parser_->body_limit(o.max_body_bytes);
  // One deadline for the whole request, head and body: a client that trickles bytes (slowloris)
  // is cut off when it passes, however steadily it sends.
  stream_.expires_after(std::chrono::milliseconds(o.header_timeout_ms));
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
}

void Session::on_header(beast::error_code ec) {
  if (ec) return on_read_error(ec);
  const auto expect = parser_->get()[http::field::expect];
  if (beast::iequals(expect, "100-continue") && !parser_->is_done()) {
    // curl sends bodies over 1 KiB only after this (or after waiting a second for it).
    out_ = "HTTP/1.1 100 Continue\r\n\r\n";
    net::async_write(stream_, net::buffer(out_),
                     [self = shared_from_this()](beast::error_code wec, size_t) {
                       if (wec) return self->close();
                       self->read_body();
                     });
    return;
  }
  read_body();
}

void Session::read_body() {
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     if (ec) return self->on_read_error(ec);
                     self->handle();
                   });
}

void Session::on_read_error(beast::error_code ec) {
  int status = 0;
  std::string message;
  if (ec == http::error::header_limit) {
    status = 431;
    message = "the request head is larger than " +
              std::to_string(loop_.shared.options.max_header_bytes) + " bytes";
  } else if (ec == http::error::body_limit) {
    status = 413;
    message =
        "the body is larger than " + std::to_string(loop_.shared.options.max_body_bytes) + " bytes";
  } else if (ec.category() == beast::error_code(http::error::end_of_stream).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message) {
    status = 400;
    message = "malformed HTTP request: " + ec.message();
  }
  if (status == 0) return close();  // the client left or timed out (the stream closed it)
  stream_.expires_never();
  const ApiError e{status, message, "invalid_request_error", "", "", 0};
  write(serialize(error_response(e), false), true, true);
}

void Session::handle() {
  stream_.expires_never();
  const http::request<http::string_body>& req = parser_->get();
  keep_alive_ = req.keep_alive();
  const RequestView view{req.method_string(), req.target(), req[http::field::authorization],
                         req.body()};
  const RouteResult r = route(view, loop_.shared.options.api_keys, &loop_.shared.link);
  if (r.generate) return start_generation(r.request);
  if (r.ask_tokenizer) return ask_tokenizer(r.text_request);
  write(serialize(r.response, keep_alive_), true, !keep_alive_);
}

void Session::start_generation(const CompletionRequest& request) {
  GenerateParams params = request.params;
  params.max_tokens = request.max_tokens.value_or(0);  // 0: the daemon's limit
  std::unique_ptr<Stream> stream;
  const std::string empty;
  const Status s = loop_.shared.link.start(
      request.endpoint == Endpoint::kChat ? request.messages : std::vector<ChatMessage>{},
      request.endpoint == Endpoint::kChat ? empty : request.prompt, params, &stream);
  if (!s.ok()) {
    ApiError e = error_from_status(s);
    if (s.code() == ErrorCode::kPromptTooLong) {
      e.param = request.endpoint == Endpoint::kChat ? "messages" : "prompt";
    }
    return write(serialize(error_response(e), keep_alive_), true, !keep_alive_);
  }
  // The daemon's request id is not known before admission: number the responses here.
  static std::atomic<uint64_t> responses{0};
  const bool chat = request.endpoint == Endpoint::kChat;
  ResponseIds ids{request.endpoint,
                  (chat ? "chatcmpl-" : "cmpl-") + std::to_string(::getpid()) + "-" +
                      std::to_string(responses.fetch_add(1, std::memory_order_relaxed)),
                  loop_.shared.link.model_id(), static_cast<int64_t>(std::time(nullptr))};
  generation_ =
      std::make_unique<Generation>(request, std::move(ids), std::move(stream), keep_alive_);
  watch_disconnect();
  loop_.pump.add(shared_from_this());
}

void Session::ask_tokenizer(const TextRequest& request) {
  net::post(loop_.shared.tokenizer, [self = shared_from_this(), request] {
    HttpResponse answer = answer_text_request(request, &self->loop_.shared.link);
    // Back on the session's own loop, which alone touches it.
    net::post(self->loop_.io, [self, answer = std::move(answer)] {
      if (self->closed_) return;
      self->write(serialize(answer, self->keep_alive_), true, !self->keep_alive_);
    });
  });
}

bool Session::pump() {
  if (closed_ || !generation_) return false;
  if (writing_) return true;  // backpressure: the tokens wait in the daemon's ring
  Generation::Output o = generation_->poll();
  if (o.finished) generation_.reset();
  if (!o.bytes.empty()) {
    write(std::move(o.bytes), o.finished, o.close_after);
  } else if (o.finished) {
    close();
  }
  return !o.finished;
}

void Session::write(std::string bytes, bool ends_response, bool close_after) {
  out_ = std::move(bytes);
  writing_ = true;
  ends_response_ = ends_response;
  close_after_ = close_after;
  // A client that stops reading would otherwise hold this connection, and the request's slot
  // and KV rows, for as long as it likes: a write stalled this long ends both.
  stream_.expires_after(std::chrono::milliseconds(loop_.shared.options.write_timeout_ms));
  net::async_write(stream_, net::buffer(out_),
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     self->writing_ = false;
                     self->stream_.expires_never();
                     if (ec) return self->client_gone();
                     if (!self->ends_response_) return;  // more of the stream to come
                     if (self->close_after_) return self->close();
                     self->read_header();
                   });
}

// A client that closes its connection mid-generation cancels the request: the socket turns
// readable with EOF, seen here without consuming a byte of a pipelined next request.
void Session::watch_disconnect() {
  const uint64_t id = ++watch_id_;
  stream_.socket().async_wait(
      tcp::socket::wait_read, [self = shared_from_this(), id](beast::error_code ec) {
        if (ec || self->closed_ || id != self->watch_id_ || !self->generation_) return;
        char c = 0;
        const ssize_t n =
            ::recv(self->stream_.socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          return self->client_gone();
        }
        // n < 0: woken for nothing, watch again. n > 0: the client already sent its next
        // request (pipelining); it is read after this response, and a close is then seen by
        // the next write.
        if (n < 0) self->watch_disconnect();
      });
}

void Session::client_gone() {
  if (generation_) generation_->abandon();  // cancels: the daemon frees the slot in a step
  generation_.reset();
  close();
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
}

// Past max_connections: a short 503 written without waiting, then the socket is closed.
void refuse(tcp::socket& socket) {
  static const std::string kBusy = serialize(
      error_response({503, "too many connections", "service_unavailable", "", "", 0}), false);
  ::send(socket.native_handle(), kBusy.data(), kBusy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  beast::error_code ignored;
  socket.close(ignored);
}

void accept(Loop& loop) {
  loop.acceptor->async_accept([&loop](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors (or a similar passing shortage): try again shortly rather than spin.
      loop.accept_retry->expires_after(std::chrono::milliseconds(50));
      loop.accept_retry->async_wait([&loop](beast::error_code wec) {
        if (!wec) accept(loop);
      });
      return;
    }
    const uint32_t before = loop.shared.connections.fetch_add(1, std::memory_order_relaxed);
    if (before >= loop.shared.options.max_connections) {
      loop.shared.connections.fetch_sub(1, std::memory_order_relaxed);
      refuse(socket);
    } else {
      std::make_shared<Session>(std::move(socket), loop)->start();
    }
    accept(loop);
  });
}

// Opens loop's listening socket on `endpoint` (port 0: any; later loops reuse the first's).
bool listen(Loop& loop, const tcp::endpoint& endpoint, std::string* error) {
  beast::error_code ec;
  loop.acceptor.emplace(loop.io);
  loop.accept_retry.emplace(loop.io);
  tcp::acceptor& a = *loop.acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) {
    a.set_option(net::socket_base::reuse_address(true), ec);
    const int one = 1;
    ::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    a.bind(endpoint, ec);
  }
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) *error = ec.message();
  return !ec;
}

}  // namespace

int run_server(const Options& options) {
  ::signal(SIGPIPE, SIG_IGN);
  Shared shared{options, DaemonLink(options.daemon_name), {}};
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(options.host, ec);
  if (ec) {
    std::fprintf(stderr, "ringserve-http: --host %s: not an IP address\n", options.host.c_str());
    return 2;
  }
  std::vector<std::unique_ptr<Loop>> loops;
  tcp::endpoint endpoint(address, options.port);
  for (uint32_t i = 0; i < options.threads; ++i) {
    loops.push_back(std::make_unique<Loop>(shared));
    std::string error;
    if (!listen(*loops.back(), endpoint, &error)) {
      std::fprintf(stderr, "ringserve-http: cannot listen on %s port %u: %s\n",
                   options.host.c_str(), static_cast<unsigned>(endpoint.port()), error.c_str());
      return 1;
    }
    endpoint = loops.back()->acceptor->local_endpoint();  // port 0 resolved for the others
    accept(*loops.back());
  }
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  std::fprintf(stderr, "ringserve-http: listening on http://%s:%u (daemon '%s', %u thread%s)\n",
               host.c_str(), static_cast<unsigned>(endpoint.port()), options.daemon_name.c_str(),
               options.threads, options.threads == 1 ? "" : "s");
  std::fflush(stderr);

  net::signal_set signals(loops.front()->io, SIGINT, SIGTERM);
  signals.async_wait([&loops](beast::error_code, int) {
    for (const auto& loop : loops) loop->io.stop();
  });
  std::vector<std::thread> threads;
  for (size_t i = 1; i < loops.size(); ++i) {
    threads.emplace_back([&loop = *loops[i]] { loop.io.run(); });
  }
  loops.front()->io.run();
  for (const auto& loop : loops) loop->io.stop();
  for (std::thread& t : threads) t.join();
  // Before the loops go: a tokenizer task still running posts its answer to one of them.
  shared.tokenizer.stop();
  shared.tokenizer.join();
  return 0;
}

}  // namespace ringserve::gateway
