// The daemon's model and memory, its KV cache, counters, gauges and latency histograms in the
// Prometheus text exposition format (version 0.0.4): the text `ringctl metrics` prints and
// ringserve-http serves at GET /metrics. Pure functions of what the client library read.
//
// Every sample carries name="<daemon name>", so one collector can scrape several daemons. The
// histograms keep the daemon's power-of-two microsecond buckets, converted to seconds; _sum is
// the exact total the daemon keeps beside the buckets.
//
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include <string>

#include "ringserve/client.h"

namespace ringserve::prometheus {

// The full exposition of one reading (status and metrics of one daemon), `ringserve_up 1` first.
std::string render(const std::string& name, const DaemonStatus& st, const DaemonMetrics& m);

// The exposition of a daemon that could not be read: only `ringserve_up 0`.
std::string render_down(const std::string& name);

}  // namespace ringserve::prometheus
