// Segment creation and opening with Boost.Interprocess. Boost reports failures with
// exceptions; they are caught here and turned into SegmentError values, so no exception
// leaves shm/. The mapping is kept by moving the mapped_region into a heap object we own.
#include "shm/segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "shm/atomics.h"
#include "shm/clock.h"

namespace bip = boost::interprocess;

namespace ringserve::shm {
namespace {

SegmentError classify(const bip::interprocess_exception& e) {
  const int err = e.get_native_error();
  if (err == ENOENT || e.get_error_code() == bip::not_found_error) return SegmentError::kNotFound;
  if (err == EACCES || err == EPERM) return SegmentError::kPermissionDenied;
  return SegmentError::kSystem;
}

bool geometry_matches(const SegmentHeader& h, uint64_t mapped, std::string* message) {
  const SegmentShape shape{h.slot_count, h.prompt_capacity, h.token_ring_capacity};
  if (!shape_is_valid(shape)) {
    *message = "segment header has an invalid shape";
    return false;
  }
  const SegmentGeometry g = segment_geometry(shape);
  if (h.header_bytes != kHeaderBytes || h.request_ring_capacity != g.request_ring_capacity ||
      h.request_ring_offset != g.request_ring_offset ||
      h.slot_table_offset != g.slot_table_offset || h.slot_stride != g.slot_stride ||
      h.token_rings_offset != g.token_rings_offset || h.token_ring_stride != g.token_ring_stride ||
      h.segment_bytes != g.segment_bytes) {
    *message = "segment header offsets do not match its shape";
    return false;
  }
  if (g.segment_bytes > mapped) {
    *message = "segment is smaller than its header says (" + std::to_string(mapped) + " < " +
               std::to_string(g.segment_bytes) + " bytes)";
    return false;
  }
  return true;
}

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// The client's check of who made the object it opened (docs/SECURITY.md, "Who may own a
// segment"), on the descriptor it is about to map, not on the path: a path checked and then
// opened could name another object by then.
SegmentError check_trust(int fd, const std::string& object_name, const SegmentTrust& trust,
                         std::string* message) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    *message = "cannot stat /dev/shm/" + object_name + ": " + std::strerror(errno);
    return SegmentError::kSystem;
  }
  const std::string path = "/dev/shm/" + object_name;
  if (!S_ISREG(st.st_mode)) {
    *message = path + " is not a shared memory object";
    return SegmentError::kUntrustedOwner;
  }
  const uid_t self = ::geteuid();
  const bool trusted_owner = st.st_uid == self || st.st_uid == 0 ||
                             (trust.daemon_uid != SegmentTrust::kNone &&
                              st.st_uid == static_cast<uid_t>(trust.daemon_uid));
  if (!trusted_owner) {
    *message = path + " is owned by uid " + std::to_string(st.st_uid) +
               ", not by a user this client trusts to run the daemon (its own uid " +
               std::to_string(self) + ", root" +
               (trust.daemon_uid != SegmentTrust::kNone
                    ? ", or the configured daemon uid " + std::to_string(trust.daemon_uid)
                    : std::string()) +
               "): another user may have taken the daemon's name. If that user runs the daemon, "
               "set RINGSERVE_DAEMON_UID (or ConnectOptions::daemon_uid) to it";
    return SegmentError::kUntrustedOwner;
  }
  // Writable by every user: anyone could rewrite what the daemon answers. A group-writable
  // segment is accepted: its trusted owner chose the group (transport.group), whose members
  // are clients with access by design.
  if ((st.st_mode & S_IWOTH) != 0) {
    *message = path + " has mode " + octal_mode(st.st_mode) +
               ": any user may write to it, so nothing read from it can be trusted (the daemon's "
               "transport.permissions must not give others write access)";
    return SegmentError::kUntrustedOwner;
  }
  return SegmentError::kOk;
}

// Why the daemon could not replace an existing object of its name: one of another user, which
// it may not remove because /dev/shm is sticky.
std::string squatter_message(const std::string& object_name) {
  const std::string path = "/dev/shm/" + object_name;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || st.st_uid == ::geteuid()) return "";
  return path + " already exists and belongs to uid " + std::to_string(st.st_uid) +
         ", and this daemon (uid " + std::to_string(::geteuid()) +
         ") may not remove it (/dev/shm is sticky: only its owner or root can). Another user "
         "may have taken the name; clients refuse such a segment, but the daemon cannot serve "
         "the name until it is gone: remove it as root (rm " +
         path + ") or choose another daemon name";
}

}  // namespace

void write_geometry(SegmentHeader* h, const SegmentShape& shape) {
  const SegmentGeometry g = segment_geometry(shape);
  h->magic = kMagic;
  h->layout_version = kLayoutVersion;
  h->segment_bytes = g.segment_bytes;
  h->header_bytes = kHeaderBytes;
  h->slot_count = shape.slot_count;
  h->prompt_capacity = shape.prompt_capacity;
  h->token_ring_capacity = shape.token_ring_capacity;
  h->request_ring_capacity = g.request_ring_capacity;
  h->slot_stride = g.slot_stride;
  h->token_ring_stride = g.token_ring_stride;
  h->request_ring_offset = g.request_ring_offset;
  h->slot_table_offset = g.slot_table_offset;
  h->token_rings_offset = g.token_rings_offset;
}

bool daemon_name_is_valid(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string segment_object_name(std::string_view daemon_name) {
  return "ringserve." + std::string(daemon_name);
}

Segment::~Segment() {
  if (base_ != nullptr) ::munmap(base_, size_);
  if (owner_) bip::shared_memory_object::remove(object_name_.c_str());
}

void Segment::remove(std::string_view daemon_name) {
  bip::shared_memory_object::remove(segment_object_name(daemon_name).c_str());
}

// We map with mmap(2) on the descriptor Boost opened rather than keep a bip::mapped_region, so
// a Segment is a plain (base, size) pair that needs no Boost type in its header. `populate`
// maps every page at once (the creating daemon: see create()).
static void* map_descriptor(int fd, uint64_t size, bool populate = false) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
  return p == MAP_FAILED ? nullptr : p;
}

SegmentError Segment::create(std::string_view daemon_name, const SegmentShape& shape,
                             const SegmentAccess& access, std::unique_ptr<Segment>* out,
                             std::string* message) {
  if (!shape_is_valid(shape)) {
    *message = "invalid segment shape";
    return SegmentError::kBadGeometry;
  }
  const SegmentGeometry g = segment_geometry(shape);
  const std::string object_name = segment_object_name(daemon_name);
  try {
    bip::shared_memory_object::remove(object_name.c_str());
    if (std::string squatted = squatter_message(object_name); !squatted.empty()) {
      *message = std::move(squatted);
      return SegmentError::kPermissionDenied;
    }
    // Created 0600 and opened up only after the group is set, so no one outside the intended
    // group ever has a window to open it.
    bip::permissions perms(0600);
    bip::shared_memory_object object(bip::create_only, object_name.c_str(), bip::read_write, perms);
    const int fd = object.get_mapping_handle().handle;
    if (access.group_id != SegmentAccess::kCreatorsGroup &&
        ::fchown(fd, static_cast<uid_t>(-1), static_cast<gid_t>(access.group_id)) != 0) {
      const int err = errno;
      *message = "cannot give /" + object_name + " to group " + std::to_string(access.group_id) +
                 ": " + std::strerror(err) +
                 (err == EPERM ? " (the daemon's user must be root or a member of the group)" : "");
      bip::shared_memory_object::remove(object_name.c_str());
      return err == EPERM ? SegmentError::kPermissionDenied : SegmentError::kSystem;
    }
    // shm_open applies the umask; the configured mode is the contract, so set it exactly.
    if (::fchmod(fd, static_cast<mode_t>(access.mode)) != 0) {
      *message = std::string("fchmod: ") + std::strerror(errno);
      bip::shared_memory_object::remove(object_name.c_str());
      return SegmentError::kSystem;
    }
    object.truncate(static_cast<bip::offset_t>(g.segment_bytes));
    // All of the segment's memory is taken from /dev/shm now, and mapped now. Otherwise a
    // full /dev/shm would surface later as a SIGBUS in the daemon on its first write to some
    // ring, and each page's first write (mostly ring entries, as streams advance) would be a
    // page fault on the loop thread (about 1200 of them for 300 slots of the default size).
    if (const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(g.segment_bytes)); err != 0) {
      *message = "cannot reserve " + std::to_string(g.segment_bytes) + " bytes for /" +
                 object_name + " in /dev/shm: " + std::strerror(err) +
                 (err == ENOSPC ? " (lower transport.slots, transport.prompt_bytes or "
                                  "transport.token_ring_entries)"
                                : "");
      bip::shared_memory_object::remove(object_name.c_str());
      return SegmentError::kSystem;
    }
    void* base = map_descriptor(fd, g.segment_bytes, /*populate=*/true);
    if (base == nullptr) {
      *message = std::string("mmap: ") + std::strerror(errno);
      bip::shared_memory_object::remove(object_name.c_str());
      return SegmentError::kSystem;
    }
    std::unique_ptr<Segment> segment(new Segment());
    segment->base_ = base;
    segment->size_ = g.segment_bytes;
    segment->object_name_ = object_name;
    segment->owner_ = true;
    segment->view_ = SegmentView(base, shape);
    *out = std::move(segment);
    return SegmentError::kOk;
  } catch (const bip::interprocess_exception& e) {
    // Another user's object that appeared after the check above.
    if (std::string squatted = squatter_message(object_name); !squatted.empty()) {
      *message = std::move(squatted);
      return SegmentError::kPermissionDenied;
    }
    *message = std::string("cannot create shared memory /") + object_name + ": " + e.what();
    return classify(e);
  }
}

SegmentError Segment::open(std::string_view daemon_name, uint64_t ready_timeout_ns,
                           std::unique_ptr<Segment>* out, std::string* message,
                           const SegmentTrust& trust) {
  const std::string object_name = segment_object_name(daemon_name);
  try {
    bip::shared_memory_object object(bip::open_only, object_name.c_str(), bip::read_write);
    // Before anything is read from it: not even a wait for an untrusted object.
    if (const SegmentError e =
            check_trust(object.get_mapping_handle().handle, object_name, trust, message);
        e != SegmentError::kOk) {
      return e;
    }
    bip::offset_t size = 0;
    if (!object.get_size(size) || size < static_cast<bip::offset_t>(kHeaderBytes)) {
      // A daemon between shm_open and ftruncate, or a foreign object: wait like for kReady.
      size = 0;
    }
    const int fd = object.get_mapping_handle().handle;
    const uint64_t deadline = deadline_after(monotonic_ns(), ready_timeout_ns);
    while (size == 0) {
      if (monotonic_ns() >= deadline) {
        *message =
            "segment /" + object_name + " exists but was never sized (daemon died starting?)";
        return SegmentError::kNotReady;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      bip::offset_t s = 0;
      if (object.get_size(s) && s >= static_cast<bip::offset_t>(kHeaderBytes)) size = s;
    }
    void* base = map_descriptor(fd, static_cast<uint64_t>(size));
    if (base == nullptr) {
      *message = std::string("mmap: ") + std::strerror(errno);
      return SegmentError::kSystem;
    }
    std::unique_ptr<Segment> segment(new Segment());
    segment->base_ = base;
    segment->size_ = static_cast<uint64_t>(size);
    segment->object_name_ = object_name;
    const SegmentHeader* h = header_at(base);
    // magic, layout_version and state sit at offsets 0, 8 and 12 in every layout version. A
    // stopping daemon's segment opens too: the caller says "shutting down", not "never ready".
    const auto formed = [&] {
      const uint32_t state = load(h->state);
      return state == static_cast<uint32_t>(SegmentState::kReady) ||
             state == static_cast<uint32_t>(SegmentState::kStopping);
    };
    while (!formed() || load(h->magic) != kMagic) {
      if (load(h->magic) != kMagic && formed()) {
        *message = "/" + object_name + " is not a ringserve segment (bad magic)";
        return SegmentError::kBadMagic;
      }
      if (monotonic_ns() >= deadline) {
        *message = "segment /" + object_name + " never became ready (daemon died starting?)";
        return SegmentError::kNotReady;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (h->layout_version != kLayoutVersion) {
      *message = "layout version mismatch: daemon has version " +
                 std::to_string(h->layout_version) + ", this client speaks version " +
                 std::to_string(kLayoutVersion);
      return SegmentError::kVersionMismatch;
    }
    if (!geometry_matches(*h, segment->size_, message)) return SegmentError::kBadGeometry;
    segment->view_ = SegmentView(base, {h->slot_count, h->prompt_capacity, h->token_ring_capacity});
    *out = std::move(segment);
    return SegmentError::kOk;
  } catch (const bip::interprocess_exception& e) {
    *message = "cannot open shared memory /" + object_name + ": " + e.what();
    return classify(e);
  }
}

}  // namespace ringserve::shm
