/* Provider metrics in Prometheus text exposition format (or OpenMetrics).
 * Metric names follow Confidence's own resolver where it defines them
 * (confidence_resolve_latency_microseconds, confidence_resolves_total,
 * confidence_memory_bytes, label resolver_id); the others carry the
 * confidence_ prefix. Collecting them costs the evaluating threads nothing
 * beyond per-thread counters (no lock, no shared cache line). */
#ifndef CONFIDENCE_METRICS_H
#define CONFIDENCE_METRICS_H

#include "common.h"
#include "provider.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CONFIDENCE_METRICS_OPTIONS_VERSION 1
typedef struct confidence_metrics_options {
  unsigned version;
  int openmetrics;             /* nonzero: OpenMetrics 1.0 text (values as floats, "# EOF") */
  const char *instance;        /* resolver_id label (escaped; at most ~190 bytes); NULL: the provider's number ("0", "1", ...) */
  uint32_t buckets_per_decade; /* latency histogram resolution, 1..18; 0: 18 */
} confidence_metrics_options;
#define CONFIDENCE_METRICS_OPTIONS_INIT {CONFIDENCE_METRICS_OPTIONS_VERSION}

/* A snapshot of cumulative values: the resolve latency histogram (sampled
 * evaluations, 1 in 16), resolves by reason, evaluations, exposures
 * (queued, sent, dropped, deduplicated, ...), track events (tracked,
 * queued, sent, rejected, dropped, invalid), state updates, age and size,
 * sync and send failures, and the status. `opts` may be NULL (defaults).
 * On success *out is owned (confidence_string_free). Any thread; takes
 * the provider's mutexes briefly, never an evaluating thread's.
 * Returns 0, CONFIDENCE_EINVAL (NULL p or out, unknown options version)
 * or CONFIDENCE_ENOMEM. */
CONFIDENCE_API int confidence_provider_metrics(confidence_provider *p, const confidence_metrics_options *opts,
                                               char **out);

#ifdef __cplusplus
}
#endif
#endif
