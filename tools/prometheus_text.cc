// The Prometheus text exposition (version 0.0.4) of a daemon's status and metrics: what
// `ringctl metrics` prints and ringserve-http serves at /metrics, from one renderer so the two
// never differ (tools/prometheus_text.h).
#include "tools/prometheus_text.h"

#include <charconv>
#include <cstdint>
#include <string>

namespace ringserve::prometheus {
namespace {

std::string format(double v) {
  char buf[64];
  // Shortest text that reads back as the same double: 1e-06, 0.000128, 1073.741824.
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  return {buf, r.ptr};
}

std::string format(uint64_t v) { return std::to_string(v); }

// Label values and HELP text: the escapes the format defines.
std::string escape(const std::string& text, bool quotes) {
  std::string out;
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

class Exposition {
 public:
  explicit Exposition(const std::string& name) : labels_("name=\"" + escape(name, true) + "\"") {}

  void gauge(const std::string& metric, const std::string& help, const std::string& value,
             const std::string& extra_labels = "") {
    header(metric, "gauge", help);
    sample(metric, value, extra_labels);
  }
  void counter(const std::string& metric, const std::string& help, const std::string& value) {
    header(metric, "counter", help);
    sample(metric, value);
  }
  void histogram(const std::string& metric, const std::string& help,
                 const ringserve::LatencyHistogram& h) {
    using ringserve::LatencyHistogram;
    header(metric, "histogram", help + " Power-of-two microsecond buckets.");
    uint64_t cumulative = 0;
    for (uint32_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
      cumulative += h.counts[i];
      const uint64_t edge = LatencyHistogram::upper_edge_us(i);
      const std::string le = edge != 0 ? format(static_cast<double>(edge) / 1e6) : "+Inf";
      sample(metric + "_bucket", format(cumulative), "le=\"" + le + "\"");
    }
    sample(metric + "_sum", format(static_cast<double>(h.sum_ns) / 1e9));
    sample(metric + "_count", format(cumulative));
  }
  const std::string& text() const { return text_; }

 private:
  void header(const std::string& metric, const char* type, const std::string& help) {
    text_ += "# HELP " + metric + " " + escape(help, false) + "\n";
    text_ += "# TYPE " + metric + " " + type + "\n";
  }
  void sample(const std::string& metric, const std::string& value,
              const std::string& extra_labels = "") {
    text_ += metric + "{" + labels_ + (extra_labels.empty() ? "" : ",") + extra_labels + "} " +
             value + "\n";
  }

  std::string labels_;
  std::string text_;
};

void up(Exposition& e, bool read) {
  e.gauge("ringserve_up", "1 when ringctl read the daemon's segment, 0 when it could not.",
          read ? "1" : "0");
}

}  // namespace

std::string render(const std::string& name, const ringserve::DaemonStatus& st,
                   const ringserve::DaemonMetrics& m) {
  Exposition e(name);
  up(e, true);
  e.gauge("ringserve_info", "The daemon's identity, in labels.", "1",
          "pid=\"" + std::to_string(st.pid) + "\",layout_version=\"" +
              std::to_string(st.layout_version) + "\",wait_mode=\"" + escape(st.wait_mode, true) +
              "\"");
  const ringserve::ModelInfo& model = st.model;
  e.gauge("ringserve_model_info",
          "The model the daemon serves, in labels (path, or built-in, echo).", "1",
          "model=\"" + escape(model.path, true) + "\",architecture=\"" +
              escape(model.architecture, true) + "\",format=\"" + escape(model.format, true) +
              "\",device=\"" + escape(model.device, true) + "\"");
  e.gauge("ringserve_model_context_length", "Positions per sequence, prompt and output (0: none).",
          format(uint64_t{model.context_length}));
  e.gauge("ringserve_model_weight_bytes", "The model's weights as held in memory.",
          format(model.weight_bytes));
  e.gauge("ringserve_model_kv_cache_bytes", "The KV cache, preallocated.",
          format(model.kv_cache_bytes));
  e.gauge("ringserve_resident_memory_bytes", "The daemon process's resident set size.",
          format(st.resident_bytes));
  e.gauge("ringserve_heartbeat_age_seconds", "Time since the daemon's last loop iteration.",
          format(static_cast<double>(st.heartbeat_age_ns) / 1e9));
  e.gauge("ringserve_requests_running", "Requests generating now.", format(uint64_t{st.running}));
  e.gauge("ringserve_requests_waiting", "Requests in the waiting line.",
          format(uint64_t{st.waiting}));
  e.gauge("ringserve_slots", "Request slots in the segment.", format(uint64_t{st.slots}));
  e.gauge("ringserve_slots_in_use", "Request slots not free.", format(uint64_t{st.slots_in_use}));
  e.gauge("ringserve_max_concurrent", "Configured limit of requests generating at once.",
          format(uint64_t{st.max_concurrent}));
  e.gauge("ringserve_max_queue", "Configured limit of the waiting line.",
          format(uint64_t{st.max_queue}));
  // The paged KV cache as separate gauges, as ringserve_slots and ringserve_slots_in_use are:
  // the three are not a partition (free blocks are the rest), so a state label would invite a
  // sum() that means nothing. All zeros from a daemon without a paged cache (echo).
  const ringserve::KvCacheStatus& kv = st.kv_cache;
  e.gauge("ringserve_kv_cache_block_positions", "Positions per KV cache block (0: no paged cache).",
          format(uint64_t{kv.block_positions}));
  e.gauge("ringserve_kv_cache_blocks", "KV cache blocks in all.",
          format(uint64_t{kv.blocks_total}));
  e.gauge("ringserve_kv_cache_blocks_in_use", "KV cache blocks held by running requests.",
          format(uint64_t{kv.blocks_in_use}));
  e.gauge("ringserve_kv_cache_blocks_cached",
          "KV cache blocks held by no request, kept for the prefix cache; evicted when room is "
          "needed.",
          format(uint64_t{kv.blocks_cached}));
  e.counter("ringserve_requests_received_total", "Requests taken off the request ring.",
            format(st.received));
  e.counter("ringserve_requests_admitted_total", "Requests admitted to generate.",
            format(st.admitted));
  e.counter("ringserve_requests_rejected_total",
            "Requests rejected (queue full, invalid, shutting down).", format(st.rejected));
  e.counter("ringserve_requests_completed_total", "Requests that finished normally.",
            format(st.completed));
  e.counter("ringserve_requests_cancelled_total", "Requests cancelled by their client.",
            format(st.cancelled));
  e.counter("ringserve_requests_failed_total", "Requests that ended with an error.",
            format(st.failed));
  e.counter("ringserve_tokens_generated_total", "Tokens generated.", format(st.tokens_generated));
  // The prefix cache's hit rate over any window is
  // rate(ringserve_prompt_tokens_cached_total) / rate(ringserve_prompt_tokens_total).
  e.counter("ringserve_prompt_tokens_total", "Prompt tokens of every request started.",
            format(kv.prompt_tokens));
  e.counter("ringserve_prompt_tokens_cached_total",
            "Prompt tokens taken from the prefix cache instead of computed.",
            format(kv.prompt_tokens_cached));
  e.counter("ringserve_kv_cache_preemptions_total",
            "Requests that gave their KV cache blocks up mid-decode, to be recomputed later.",
            format(kv.preemptions));
  // Totals rather than status's per-step means: rate(x_seconds_total) / rate(steps_total) is
  // the mean over any window.
  e.counter("ringserve_steps_total", "Model steps run.", format(m.steps));
  e.counter("ringserve_backend_step_seconds_total", "Wall time inside the model's steps.",
            format(static_cast<double>(m.backend_step_ns) / 1e9));
  e.counter("ringserve_daemon_step_seconds_total",
            "CPU time of the daemon's loop outside the model, in iterations that ran a step.",
            format(static_cast<double>(m.daemon_step_ns) / 1e9));
  e.counter("ringserve_wake_thread_seconds_total",
            "CPU time of the daemon's thread that wakes sleeping clients.",
            format(static_cast<double>(m.wake_thread_ns) / 1e9));
  e.histogram("ringserve_queue_wait_seconds", "Time from receipt to admission.", m.queue_wait);
  e.histogram("ringserve_time_to_first_token_seconds", "Time from receipt to the first token.",
              m.time_to_first_token);
  e.histogram("ringserve_inter_token_seconds", "Time between consecutive tokens of a request.",
              m.inter_token);
  e.histogram("ringserve_end_to_end_seconds", "Time from receipt to the end of a request.",
              m.end_to_end);
  return e.text();
}

std::string render_down(const std::string& name) {
  Exposition e(name);
  up(e, false);
  return e.text();
}

}  // namespace ringserve::prometheus
