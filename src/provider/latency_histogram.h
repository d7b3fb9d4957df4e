/* The resolve-latency histogram of Confidence's telemetry (RESOLVER_SPEC
 * §4.5): exponential buckets of ratio 10^(1/18) over microseconds, shared
 * by the flag log's telemetry and the per-thread metrics. */
#ifndef CF_LATENCY_HISTOGRAM_H
#define CF_LATENCY_HISTOGRAM_H

#include <stdint.h>

#define CF_LATENCY_BUCKETS 174
#define CF_LATENCY_LN_RATIO 0.12792139405522476 /* ln(10) / 18 */
#define CF_LATENCY_BUCKETS_PER_DECADE 18

/* Bucket of a latency in µs: floor(ln(us) / ln_ratio), capped at the last. */
int cf_latency_bucket(uint32_t us);
/* Upper bound of bucket `i` in µs: e^((i + 1) ln_ratio). */
double cf_latency_bucket_upper(uint32_t i);

#endif
