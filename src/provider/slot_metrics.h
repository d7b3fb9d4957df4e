/* Per-thread resolve counters for confidence_provider_metrics: each
 * evaluating thread's slot holds one cf_slot_metrics that only its own
 * thread writes (relaxed load + store: no locked instruction, no shared
 * cache line); a scrape sums the slots (both in provider_slots.c).
 * Latency is fed from the sampled evaluations (1 in 16), bucketed as
 * Confidence's telemetry is (latency_histogram.h). */
#ifndef CF_SLOT_METRICS_H
#define CF_SLOT_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "latency_histogram.h"

#define CF_METRIC_REASONS 11 /* ResolveReason 0..10 (TYPE_MISMATCH, FLAG_NOT_FOUND included) */

typedef struct cf_slot_metrics {
  _Atomic uint64_t reasons[CF_METRIC_REASONS];
  _Atomic uint64_t buckets[CF_LATENCY_BUCKETS];
  _Atomic uint64_t latency_sum, latency_count;
} cf_slot_metrics;

static inline void cf_metric_bump(_Atomic uint64_t *c, uint64_t by)
{
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by, memory_order_relaxed);
}

/* Owner thread only. `latency_us` UINT32_MAX: not sampled. */
void cf_slot_metrics_count(cf_slot_metrics *m, int reason, uint32_t latency_us);

/* The slots' counters, summed (cf_slots_sum_metrics). */
typedef struct cf_metric_totals {
  uint64_t reasons[CF_METRIC_REASONS], buckets[CF_LATENCY_BUCKETS], latency_sum, latency_count;
} cf_metric_totals;

#endif
