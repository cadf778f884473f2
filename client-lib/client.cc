// Client: connecting to a daemon's segment. Segment::open checks the segment (owner, magic,
// layout version, geometry); connect() then copies what the client needs once (connection.h
// says why) and refuses a daemon that has exited. Submitting is in submit.cc, reading the
// daemon's status and metrics in daemon_status.cc.
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "client-lib/connection.h"
#include "shm/membarrier.h"
#include "shm/process.h"

namespace ringserve {
namespace {

Status from_segment_error(shm::SegmentError e, const std::string& name, const std::string& msg) {
  switch (e) {
    case shm::SegmentError::kOk:
      return {};
    case shm::SegmentError::kNotFound:
      return {ErrorCode::kDaemonNotRunning, "no daemon named '" + name + "' is running"};
    case shm::SegmentError::kNotReady:
      return {ErrorCode::kDaemonNotRunning, msg};
    case shm::SegmentError::kPermissionDenied:
      return {ErrorCode::kPermissionDenied,
              "the segment of daemon '" + name + "' exists but this user may not open it"};
    case shm::SegmentError::kUntrustedOwner:
      return {ErrorCode::kPermissionDenied, "refusing daemon '" + name + "': " + msg};
    case shm::SegmentError::kVersionMismatch:
      return {ErrorCode::kVersionMismatch, msg};
    case shm::SegmentError::kBadMagic:
    case shm::SegmentError::kBadGeometry:
      return {ErrorCode::kProtocolError, msg};
    case shm::SegmentError::kSystem:
      return {ErrorCode::kInternal, msg};
  }
  return {ErrorCode::kInternal, msg};
}

// The uid trusted to own the daemon's segment besides our own and root's: the option, else
// $RINGSERVE_DAEMON_UID (a number or a user name), else none.
Status trusted_daemon_uid(const ConnectOptions& options, int64_t* uid) {
  *uid = shm::SegmentTrust::kNone;
  if (options.daemon_uid != ConnectOptions::kUnsetUid) {
    if (options.daemon_uid < 0 || options.daemon_uid > UINT32_MAX - 1) {
      return {ErrorCode::kInvalidArgument,
              "daemon_uid " + std::to_string(options.daemon_uid) + " is not a uid"};
    }
    *uid = options.daemon_uid;
    return {};
  }
  const char* env = std::getenv("RINGSERVE_DAEMON_UID");
  if (env == nullptr || *env == '\0') return {};
  char* end = nullptr;
  errno = 0;
  const unsigned long long number = std::strtoull(env, &end, 10);
  if (*end == '\0' && errno == 0 && env[0] >= '0' && env[0] <= '9' && number <= UINT32_MAX - 1) {
    *uid = static_cast<int64_t>(number);
    return {};
  }
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwnam_r(env, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    *uid = found->pw_uid;
    return {};
  }
  return {ErrorCode::kInvalidArgument,
          "RINGSERVE_DAEMON_UID='" + std::string(env) + "' is neither a uid nor a user name"};
}

}  // namespace

Client::Client(std::shared_ptr<Connection> connection) : connection_(std::move(connection)) {}
Client::~Client() = default;

Status Client::connect(const std::string& name, std::unique_ptr<Client>* out,
                       const ConnectOptions& options) {
  if (!shm::daemon_name_is_valid(name)) {
    return {ErrorCode::kInvalidArgument,
            "daemon name '" + name + "' must be 1-64 characters of [A-Za-z0-9_.-]"};
  }
  if (options.daemon_timeout.count() < 0) {
    return {ErrorCode::kInvalidArgument, "daemon_timeout must not be negative"};
  }
  shm::SegmentTrust trust;
  if (Status s = trusted_daemon_uid(options, &trust.daemon_uid); !s.ok()) return s;
  // Lets streams hand ring room back with a compiler barrier instead of a full fence
  // (shm/membarrier.h); without it they use the full fence.
  shm::register_for_heavy_fence();
  auto c = std::make_shared<Connection>();
  c->name = name;
  std::string message;
  const uint64_t timeout_ns = static_cast<uint64_t>(options.ready_timeout.count()) * 1'000'000;
  const shm::SegmentError e = shm::Segment::open(name, timeout_ns, &c->segment, &message, trust);
  if (e != shm::SegmentError::kOk) return from_segment_error(e, name, message);
  c->view = c->segment->view();
  // One copy of everything used later (Connection's comment says why); the geometry is in
  // view, which Segment::open built from the header it checked.
  const shm::SegmentHeader* h = c->view.header();
  c->daemon_pid = shm::load(h->daemon_pid);
  c->daemon_start_time = shm::load(h->daemon_start_time);
  c->max_tokens_limit = shm::load(h->max_tokens_limit);
  c->max_priority = shm::load(h->max_priority);
  const uint32_t daemon_mode = shm::load(h->wait_mode);
  c->daemon_wait_mode = static_cast<shm::WaitMode>(daemon_mode <= 2 ? daemon_mode : 2);
  const uint32_t spin_ns = shm::load(h->spin_ns);
  c->daemon_timeout_ns = static_cast<uint64_t>(options.daemon_timeout.count()) * 1'000'000;
  if (!c->daemon_alive()) {
    return {ErrorCode::kDaemonNotRunning, "daemon '" + name + "' (pid " +
                                              std::to_string(c->daemon_pid) +
                                              ") has exited; its segment is stale"};
  }
  if (shm::load(h->state) == static_cast<uint32_t>(shm::SegmentState::kStopping)) {
    return {ErrorCode::kShuttingDown,
            "daemon '" + name + "' is shutting down and admits no new requests"};
  }
  c->own_start_time = shm::process_start_time(::getpid());
  const std::string& mode = options.wait_mode;
  if (mode.empty()) {
    c->wait_policy.mode = c->daemon_wait_mode;
  } else if (mode == "spin") {
    c->wait_policy.mode = shm::WaitMode::kSpin;
  } else if (mode == "futex") {
    c->wait_policy.mode = shm::WaitMode::kFutex;
  } else if (mode == "hybrid") {
    c->wait_policy.mode = shm::WaitMode::kHybrid;
  } else {
    return {ErrorCode::kInvalidArgument,
            "wait_mode '" + mode + "' must be spin, futex, hybrid or empty"};
  }
  c->wait_policy.spin_ns = spin_ns;
  out->reset(new Client(std::move(c)));
  return {};
}

uint32_t Client::max_prompt_bytes() const { return connection_->view.shape().prompt_capacity; }
uint32_t Client::max_tokens_limit() const { return connection_->max_tokens_limit; }
uint32_t Client::max_priority() const { return connection_->max_priority; }

}  // namespace ringserve
