// The pump: one timer per event loop that polls every active generation while any is active.
//
// Stream::next() with a zero timeout is a cheap non-blocking look at a token ring, so polling a
// few hundred streams every tick costs microseconds, and no thread waits on any one stream.
// The timer runs only while something is registered (an idle gateway sleeps in epoll). A
// connection whose previous write is still in progress skips its poll (backpressure): its
// tokens wait in the daemon's ring, and the daemon pauses a stream whose ring is full.
//
// Thread-safety: none; everything runs on the event loop that owns the Pump.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace ringserve::gateway {

// What the pump polls: a connection with a generation in flight.
class Pumped {
 public:
  virtual ~Pumped() = default;
  // Polls once; false when it needs the pump no more (finished, or its client left).
  virtual bool pump() = 0;
};

class Pump {
 public:
  Pump(boost::asio::io_context& io, std::chrono::microseconds interval)
      : timer_(io), interval_(interval) {}

  // Polls `p` at once and then every tick until its pump() returns false.
  void add(const std::shared_ptr<Pumped>& p);
  size_t active() const { return active_.size(); }

 private:
  void arm();
  void tick();

  boost::asio::steady_timer timer_;
  std::chrono::microseconds interval_;
  std::vector<std::shared_ptr<Pumped>> active_;
  bool armed_ = false;
};

}  // namespace ringserve::gateway
