// For the deployment test: an haproxy run in the foreground as the test's child, from a config
// template with its ports filled in, everything it writes (config, stats socket, log) in one
// temporary directory that the destructor removes after killing it. Not thread-safe: one
// thread owns it.
#pragma once

#include <sys/types.h>

#include <string>

namespace ringserve::testing {

// The haproxy binary: $RINGSERVE_HAPROXY, else the first of PATH, /usr/sbin, /usr/bin that has
// one; "" when there is none.
std::string haproxy_path();

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
int free_port();

class HaProxy {
 public:
  // Writes the template with @DIR@, @PORT@, @PORT_A@, @PORT_B@ replaced and starts haproxy -db;
  // ready() once it accepts connections on port().
  HaProxy(const std::string& config_template, int port_a, int port_b);
  ~HaProxy();
  HaProxy(const HaProxy&) = delete;
  HaProxy& operator=(const HaProxy&) = delete;
  bool ready() const { return ready_; }
  int port() const { return port_; }
  // haproxy's stdout and stderr so far.
  std::string log() const;
  // The answer to a command on the stats socket ("show stat", "show servers state"); "" when
  // the socket cannot be reached.
  std::string admin(const std::string& command) const;
  // The status column of `show stat` for backend/server ("UP", "DOWN", "UP 1/2", ...).
  std::string server_status(const std::string& backend, const std::string& server) const;

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool ready_ = false;
};

}  // namespace ringserve::testing
