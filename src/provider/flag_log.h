/* Exposure and resolve analytics, as Confidence's resolver logs them
 * (RESOLVER_SPEC §4): FlagAssigned events, per-flag resolve counters,
 * evaluation-context schemas and telemetry, batched into
 * WriteFlagLogsRequest messages. Used by the provider's log thread; all
 * functions are thread-safe (one internal mutex, never taken on the
 * evaluation path). */
#ifndef CF_FLAG_LOG_H
#define CF_FLAG_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "context_schema.h"
#include "resolve_internal.h"

/* A fallthrough copied out of a resolve result (strings point into the
 * state, which outlives the exposure record). */
typedef struct cf_ft_copy {
  const cf_rule *rule;
  cf_str assignment_id;
  char key[CF_MAX_KEY + 1];
  uint32_t key_len;
} cf_ft_copy;

/* One evaluation, as an evaluating thread hands it to the log thread.
 * Pointers into the state stay valid until the record is consumed. */
typedef struct cf_exposure {
  const cf_flag *flag; /* NULL: the flag was not resolved (not found) */
  const cf_variant *variant;
  const cf_rule *rule;
  const cf_segment *segment;
  const cf_credential *cred;
  cf_str assignment_id;
  int32_t reason;       /* resolver reason */
  int32_t telemetry_reason; /* reason registered in telemetry (TYPE_MISMATCH / FLAG_NOT_FOUND for provider-side errors) */
  bool apply;           /* emit a FlagAssigned event */
  bool resolved;        /* the resolver ran (counters + schema) */
  bool should_apply;
  uint32_t latency_us;  /* UINT32_MAX: not sampled */
  int64_t time_ns;      /* wall clock at evaluation */
  char key[CF_MAX_KEY + 1];
  uint32_t key_len;
  cf_ft_copy *fts;      /* malloc'd when n_fts > 0; the consumer frees it */
  uint32_t n_fts;
  cf_schema *schema;    /* sampled; the consumer frees it */
} cf_exposure;

/* Field numbers for the messages assembled from already encoded parts:
 * batches join events encoded once when queued, and the HTTP ingest body
 * wraps a serialised batch (checked against the generated descriptors in
 * tests/api/test_api.c). */
enum cf_write_flag_logs_field { /* confidence.flags.resolver.v1.WriteFlagLogsRequest */
  CF_WRITE_FIELD_FLAG_ASSIGNED = 1,
  CF_WRITE_FIELD_TELEMETRY_DATA = 2,
  CF_WRITE_FIELD_CLIENT_RESOLVE_INFO = 3,
  CF_WRITE_FIELD_FLAG_RESOLVE_INFO = 4
};
enum cf_ingest_field { /* confidence.flags.resolver.v1.IngestFlagLogsRequest */
  CF_INGEST_FIELD_ACCOUNT_ID = 1,
  CF_INGEST_FIELD_BATCH = 2
};

typedef struct cf_flag_log cf_flag_log;

cf_flag_log *cf_flag_log_new(uint32_t max_events);
void cf_flag_log_free(cf_flag_log *log);

/* Consumes one record (frees its fts and schema). */
void cf_flag_log_add(cf_flag_log *log, cf_exposure *e);
/* Records that `n` events could not be queued upstream (ring full). */
void cf_flag_log_count_dropped(cf_flag_log *log, uint64_t n);

/* State facts reported with telemetry. */
void cf_flag_log_set_memory(cf_flag_log *log, uint64_t bytes);

typedef struct cf_batch {
  uint8_t *bytes; /* serialized WriteFlagLogsRequest; free() */
  size_t len;
  size_t n_events; /* FlagAssigned events in it */
  size_t n_applied; /* applied flags in those events */
} cf_batch;

/* Builds the next batch (events up to ~4 MiB, resolve info, telemetry).
 * Returns false when there is nothing worth sending (telemetry only). The
 * batch's events stay counted as queued until cf_flag_log_batch_done. */
bool cf_flag_log_take(cf_flag_log *log, cf_batch *out);
/* How sending a taken batch ended. */
typedef enum cf_batch_outcome {
  CF_BATCH_DELIVERED,
  CF_BATCH_FAILED,    /* not delivered: put back in front of the queue */
  CF_BATCH_UNCERTAIN, /* put back, but it may have arrived (timed out): its
                       * next send counts as a resend */
  CF_BATCH_REJECTED   /* refused as invalid by the server: dropped and counted */
} cf_batch_outcome;
void cf_flag_log_batch_done(cf_flag_log *log, cf_batch *b, cf_batch_outcome outcome);
/* Counts `n` events sent again after an attempt whose outcome is unknown. */
void cf_flag_log_count_resent(cf_flag_log *log, uint64_t n);
/* At the end of shutdown: drops every queued event (and a batch waiting to
 * be resent) and counts them lost, with a batch still in flight, whose
 * outcome is then ignored; nothing is taken or counted after. Returns how
 * many were counted lost. */
uint64_t cf_flag_log_discard(cf_flag_log *log);
/* Apply dedup (§4.6) on or off (off after cf_flag_log_new). */
void cf_flag_log_set_dedup(cf_flag_log *log, bool on);

/* Fork support: the prepare handler holds the lock across fork(); in the
 * child the log starts empty (the parent sends what it queued). */
void cf_flag_log_lock(cf_flag_log *log);
void cf_flag_log_unlock(cf_flag_log *log);
void cf_flag_log_after_fork_child(cf_flag_log *log);

typedef struct cf_flag_log_stats {
  uint64_t queued;  /* events waiting (including a batch in flight) */
  uint64_t sent;
  uint64_t dropped; /* queue full (or no memory to encode) */
  uint64_t deduplicated;
  uint64_t rejected; /* in batches the server refused as invalid */
  uint64_t lost;     /* still queued when shutdown ended */
  uint64_t resent;   /* sent again after an attempt that may have delivered them */
} cf_flag_log_stats;
void cf_flag_log_stats_get(cf_flag_log *log, cf_flag_log_stats *out);

#endif
