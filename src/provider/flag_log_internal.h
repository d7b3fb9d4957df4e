/* The flag log's state, shared by its files: flag_log.c (queue, window
 * aggregation, stats), flag_log_batch.c (WriteFlagLogsRequest assembly)
 * and apply_dedup.c. Every field is under `mu`. */
#ifndef CF_FLAG_LOG_INTERNAL_H
#define CF_FLAG_LOG_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "apply_dedup.h"
#include "flag_log.h"
#include "latency_histogram.h"
#include "sdk_id.h"
#include "slot_metrics.h"
#include "proto/confidence/flags/resolver/v1/internal_api.pb-c.h"

#define CF_FLAG_LOG_MAX_SCHEMAS 50 /* distinct context schemas kept per credential */

/* ---- small owned containers ------------------------------------------------ */

typedef struct cf_name_count {
  char *key;
  uint32_t count;
} cf_name_count;

typedef struct cf_rule_info {
  char *rule;
  uint32_t count;
  cf_name_count *assignments;
  size_t n_assignments;
} cf_rule_info;

typedef struct cf_flag_info {
  char *flag;
  cf_name_count *variants;
  size_t n_variants;
  cf_rule_info *rules;
  size_t n_rules;
} cf_flag_info;

typedef struct cf_client_info {
  char *credential;
  cf_schema *schemas[CF_FLAG_LOG_MAX_SCHEMAS];
  size_t n_schemas;
  uint64_t distinct_seen;
} cf_client_info;

typedef struct cf_log_event {
  uint8_t *bytes; /* one encoded FlagAssigned */
  size_t len;
  uint32_t applied;
} cf_log_event;

/* Resolve counters and schemas of one flush window (§4.3). */
typedef struct cf_resolve_info {
  cf_flag_info *flags;
  size_t n_flags, flags_cap;
  uint32_t *flag_slots; /* hash index into flags: index + 1, 0 = empty */
  size_t flag_slots_cap;
  cf_client_info *clients;
  size_t n_clients;
} cf_resolve_info;

struct cf_flag_log {
  pthread_mutex_t mu;
  uint32_t max_events;
  bool dedup_on;
  cf_dedup_table dedup;
  cf_log_event *ring; /* FIFO of encoded events */
  size_t head, count;
  cf_batch retry; /* a failed batch, resent first */
  size_t retry_events, inflight_events;
  cf_resolve_info ri; /* this window's counters and schemas */
  uint64_t buckets[CF_LATENCY_BUCKETS], lat_sum, lat_count, reasons[CF_METRIC_REASONS];
  uint64_t prev_buckets[CF_LATENCY_BUCKETS], prev_sum, prev_count, prev_reasons[CF_METRIC_REASONS];
  uint64_t memory_bytes;
  uint64_t sent, dropped, deduplicated, rejected, lost, resent;
  bool retry_uncertain; /* the batch to resend may have been delivered */
  bool closed;          /* shutdown counted everything left, in flight included, as lost */
  uint64_t rng;
};

/* Frees a window's counters and schemas and empties it. */
void cf_resolve_info_clear(cf_resolve_info *ri);
/* Marks the telemetry so far as exported: the next export sends deltas. */
void cf_flag_log_telemetry_exported(cf_flag_log *log);

/* The Sdk message of FlagAssigned events and telemetry (sdk_id.h). */
static inline Confidence__Flags__Resolver__V1__Sdk cf_flag_log_sdk(void)
{
  Confidence__Flags__Resolver__V1__Sdk sdk = CONFIDENCE__FLAGS__RESOLVER__V1__SDK__INIT;
  sdk.sdk_case = CONFIDENCE__FLAGS__RESOLVER__V1__SDK__SDK_CUSTOM_ID;
  sdk.custom_id = CF_SDK_CUSTOM_ID;
  sdk.version = CF_SDK_VERSION;
  return sdk;
}

#endif
