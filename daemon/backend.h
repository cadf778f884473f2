// Backend: what produces tokens for the daemon. The server hands it a batch of running
// sequences per step and gets one token back for each. The echo backend (no model) serves
// transport tests and benchmarks; the libtorch engine implements the same interface.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "daemon/sequence.h"

namespace ringserve::daemon {

struct StepOutput {
  int32_t token_id = 0;
  std::string text;  // UTF-8 piece (whole characters)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // Prepares a sequence that was just admitted (e.g. tokenizes the prompt into
  // seq.prompt_tokens). False with *error set rejects the request.
  virtual bool start(Sequence& seq, std::string* error) = 0;

  // One step: one new token for every sequence in `batch`; outputs[i] belongs to batch[i].
  virtual void step(std::span<Sequence* const> batch, std::vector<StepOutput>* outputs) = 0;

  // The sequence has ended; release whatever the backend holds for it.
  virtual void release(Sequence& seq) = 0;
};

}  // namespace ringserve::daemon
