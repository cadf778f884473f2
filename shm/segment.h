// Creating (daemon) and opening (client) the shared-memory segment of a daemon name, and a
// typed view of a mapped segment. The segment is a POSIX shared memory object named
// "/ringserve.NAME", created and mapped through Boost.Interprocess.
//
// Thread-safety: a SegmentView is an immutable set of addresses, safe to share between
// threads; what the addresses point to follows the protocol of each part.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "shm/layout.h"

namespace ringserve::shm {

// Daemon names: 1-64 characters of [A-Za-z0-9_.-], not starting with '.'.
bool daemon_name_is_valid(std::string_view name);
std::string segment_object_name(std::string_view daemon_name);  // "ringserve.NAME"

class SegmentView {
 public:
  SegmentView() = default;
  SegmentView(void* base, const SegmentShape& shape)
      : base_(static_cast<char*>(base)), shape_(shape), geometry_(segment_geometry(shape)) {}

  SegmentHeader* header() const { return reinterpret_cast<SegmentHeader*>(base_); }
  SegmentMetrics* metrics() const {
    return reinterpret_cast<SegmentMetrics*>(base_ + kMetricsOffset);
  }
  KvCacheMetrics* kv_cache() const {
    return reinterpret_cast<KvCacheMetrics*>(base_ + kKvCacheOffset);
  }
  ModelInfo* model_info() const { return reinterpret_cast<ModelInfo*>(base_ + kModelInfoOffset); }
  RequestRingHeader* request_ring() const {
    return reinterpret_cast<RequestRingHeader*>(base_ + geometry_.request_ring_offset);
  }
  SlotHeader* slot(uint32_t index) const {
    return reinterpret_cast<SlotHeader*>(base_ + geometry_.slot_table_offset +
                                         uint64_t{geometry_.slot_stride} * index);
  }
  char* prompt(uint32_t index) const { return reinterpret_cast<char*>(slot(index) + 1); }
  TokenRingHeader* token_ring(uint32_t index) const {
    return reinterpret_cast<TokenRingHeader*>(base_ + geometry_.token_rings_offset +
                                              uint64_t{geometry_.token_ring_stride} * index);
  }
  const SegmentShape& shape() const { return shape_; }
  const SegmentGeometry& geometry() const { return geometry_; }
  void* base() const { return base_; }

 private:
  char* base_ = nullptr;
  SegmentShape shape_{};
  SegmentGeometry geometry_{};
};

// Daemon: writes the header's identity (magic, layout version) and the geometry of `shape`,
// exactly what Segment::open() checks a header against (segment.cc keeps writer and checker
// together). The rest of the header (pid, limits, wait mode, state) is the caller's.
void write_geometry(SegmentHeader* header, const SegmentShape& shape);

enum class SegmentError {
  kOk = 0,
  kNotFound,          // no segment: no daemon of that name
  kPermissionDenied,  // the segment exists but this user may not open it
  kNotReady,          // exists but never became ready within the timeout
  kBadMagic,          // not a ringserve segment
  kVersionMismatch,   // a ringserve segment of another layout version
  kBadGeometry,       // header sizes/offsets inconsistent with the mapped size
  kUntrustedOwner,    // owned by a user the client does not trust, or writable by anyone
  kSystem,            // any other system error (message says which)
};

// Whom a client trusts to have created a daemon's segment (docs/SECURITY.md, "Who may own a
// segment"). Anyone can create /dev/shm/ringserve.NAME for a name that is not running, and
// a client that used it would hand its prompts to that user and print that user's answers.
// So a client accepts a segment only if it is owned by its own effective uid, by root, or by
// `daemon_uid`, and is not writable by others.
struct SegmentTrust {
  static constexpr int64_t kNone = -1;
  int64_t daemon_uid = kNone;  // one more trusted owner (the daemon's user), or kNone
};

// Who may open a segment: its file mode, applied exactly (the umask does not apply), and its
// group owner (kCreatorsGroup: the creating process's group).
struct SegmentAccess {
  static constexpr int64_t kCreatorsGroup = -1;
  uint32_t mode = 0600;
  int64_t group_id = kCreatorsGroup;
};

// A mapped segment; unmaps (and, for the creator, removes the object) on destruction.
class Segment {
 public:
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  // Daemon: removes any stale object of that name (the caller holds the instance lock), creates
  // a zero-filled segment of the shape with exactly `access`, maps it. The header is left zero
  // (state kInitializing) for the caller to fill. An object of another user that we may not
  // remove (/dev/shm is sticky) is kPermissionDenied, with a message naming its owner.
  static SegmentError create(std::string_view daemon_name, const SegmentShape& shape,
                             const SegmentAccess& access, std::unique_ptr<Segment>* out,
                             std::string* message);

  // Client: opens an existing segment and checks, on the descriptor it maps (so the object
  // cannot be swapped in between), that `trust` accepts its owner and mode
  // (kUntrustedOwner otherwise); then maps it, waits up to ready_timeout_ns for kReady (or
  // kStopping: the caller tells a stopping daemon apart), and checks magic, version and that
  // the geometry the header announces is exactly what segment_geometry() computes for its
  // shape and fits the mapped size.
  static SegmentError open(std::string_view daemon_name, uint64_t ready_timeout_ns,
                           std::unique_ptr<Segment>* out, std::string* message,
                           const SegmentTrust& trust = {});

  // Removes the shared memory object of a name (the daemon at shutdown).
  static void remove(std::string_view daemon_name);

  const SegmentView& view() const { return view_; }
  uint64_t size() const { return size_; }

 private:
  Segment() = default;
  void* base_ = nullptr;
  uint64_t size_ = 0;
  std::string object_name_;
  bool owner_ = false;
  SegmentView view_;
};

}  // namespace ringserve::shm
