// ringserve-http's HTTP/1.1 server (Boost.Beast over Boost.Asio): listening sockets, one event
// loop per --threads, and per connection an asynchronous state machine (read a request within
// header_timeout_ms and the size limits, route it, write the answer or stream a generation,
// keep the connection alive or close it). No thread per connection or per stream: a loop polls
// all of its generations from one timer (streams.h).
//
// Each loop has its own listening socket on the same port (SO_REUSEPORT: the kernel spreads
// connections), its own pump, and connections that never leave it, so nothing inside a loop
// needs a lock; the loops share only the DaemonLink (thread-safe) and the connection count.
#pragma once

#include "gateway/options.h"

namespace ringserve::gateway {

// Binds, prints "ringserve-http: listening on http://HOST:PORT" to stderr, serves until SIGINT
// or SIGTERM. Returns the process's exit code (1 when the address cannot be bound).
int run_server(const Options& options);

}  // namespace ringserve::gateway
