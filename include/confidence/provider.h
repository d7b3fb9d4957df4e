/* The provider: keeps a flag state fresh from Confidence's CDN, evaluates
 * flags with OpenFeature semantics from any thread without network calls,
 * and reports exposures and resolve analytics back to Confidence.
 * Threading contract: docs/threading.md. */
#ifndef CONFIDENCE_PROVIDER_H
#define CONFIDENCE_PROVIDER_H

#include "common.h"
#include "state.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct confidence_provider confidence_provider;

typedef enum confidence_status {
  CONFIDENCE_STATUS_NOT_READY = 0, /* no state yet (still retrying) */
  CONFIDENCE_STATUS_READY = 1,
  CONFIDENCE_STATUS_ERROR = 2,     /* reserved: the provider never parks itself here */
  CONFIDENCE_STATUS_STALE = 3,     /* serving the last good state; syncs keep failing */
  CONFIDENCE_STATUS_FATAL = 4      /* no state can ever load (bootstrap rejected, sync disabled; no CAs for an https CDN) */
} confidence_status;

typedef enum confidence_event_type {
  CONFIDENCE_EVENT_READY = 1,
  CONFIDENCE_EVENT_ERROR = 2,
  CONFIDENCE_EVENT_STALE = 3,
  CONFIDENCE_EVENT_CONFIGURATION_CHANGED = 4
} confidence_event_type;

/* Passed to the event callback; everything is borrowed for the call only. */
typedef struct confidence_event {
  int type;            /* confidence_event_type */
  int status;          /* status after the event */
  const char *message; /* human-readable, never NULL */
  const char *const *flags_changed; /* CONFIGURATION_CHANGED: full flag names */
  size_t flags_changed_count;
} confidence_event;

/* Called on the provider's sync thread, and for the bootstrap state on the
 * thread calling confidence_provider_start; never on an evaluating thread.
 * Must not block for long and must not call confidence_provider_shutdown
 * or _free. */
typedef void (*confidence_event_fn)(const confidence_event *event, void *user_data);

typedef enum confidence_log_level {
  CONFIDENCE_LOG_DEBUG = 0,
  CONFIDENCE_LOG_INFO = 1,
  CONFIDENCE_LOG_WARN = 2,
  CONFIDENCE_LOG_ERROR = 3
} confidence_log_level;

/* Called from the provider's background threads and from the thread
 * calling confidence_provider_start (bootstrap messages); never from an
 * evaluation. Messages never contain the client secret. */
typedef void (*confidence_log_fn)(int level, const char *message, void *user_data);

#define CONFIDENCE_PROVIDER_OPTIONS_VERSION 5 /* 3: tracking (events_grpc_url, max_queued_events); 4: materialization stores; 5: state_memory_budget_bytes */
typedef struct confidence_provider_options {
  unsigned version;
  const char *client_secret;        /* required */
  uint32_t state_poll_interval_ms;  /* 0: 30000 */
  uint32_t log_poll_interval_ms;    /* 0: 10000 */
  const char *encryption_key_hex;   /* 64 hex chars: fetch and decrypt `<hash>.enc` */
  int disable_exposure_collection;  /* nonzero: no FlagAssigned events are sent */
  const char *cdn_base_url;         /* NULL: Confidence's CDN */
  const char *flag_log_grpc_url;    /* NULL: https://edge-grpc.spotify.com; http://host:port speaks h2c */
  const char *ingest_url;           /* NULL: Confidence's Cloudflare ingest endpoint */
  /* 0: 30000. Also sets the delivery deadline of one exposure batch,
   * 3 x http_timeout_ms + 3 s (attempts and backoff included): a sink
   * slower than that gets the batch again later (at-least-once; counted
   * in stats.exposures_resent), a slower one within it never twice. */
  uint32_t http_timeout_ms;
  /* Bootstrap (offline start): a state file or bytes in any format
   * confidence_state_load accepts; READY at once when it loads. */
  const char *state_file;
  const void *state_bytes;
  size_t state_len;
  const char *account_id;           /* needed only for a bare ResolverState bootstrap */
  int disable_state_sync;           /* nonzero: never contact the CDN (use the bootstrap) */
  uint32_t stale_after_ms;          /* 0: 3 x state_poll_interval_ms without a successful sync */
  uint32_t max_queued_exposures;    /* 0: 100000 FlagAssigned events waiting to be sent */
  confidence_log_fn log;
  int log_level;                    /* lowest level passed to `log` */
  void *log_user_data;
  confidence_event_fn on_event;
  void *event_user_data;
  /* NULL: the built-in libcurl transport. See confidence/sys/transport.h. */
  const struct confidence_transport *transport;
  /* ---- version 2 ---- */
  /* Apply dedup (on by default, as in Confidence's own providers): an
   * exposure identical to one sent within the last 120 s (same flag, unit,
   * assignment, variant, rule) is not sent again, for up to 100,000
   * distinct exposures in the window; counted in
   * stats.exposures_deduplicated. Resolve counters and telemetry still
   * count every evaluation. Nonzero turns it off. */
  int disable_apply_dedup;
  /* ---- version 3 (tracking: confidence/tracking.h) ---- */
  const char *events_grpc_url;      /* NULL: https://edge-grpc.spotify.com; http://host:port speaks h2c */
  uint32_t max_queued_events;       /* 0: 100000 track events waiting to be sent */
  /* ---- version 4 (materializations: confidence/store.h, docs/materializations.md) ---- */
  /* A store (confidence/sys/store.h) for flags that need sticky assignments
   * or materialized segments; confidence_provider_new takes it in every
   * case, success or failure (it calls its free; the caller never does),
   * unless the options' version is one this library does not know. NULL
   * and use_remote_materialization_store 0: such flags return the default
   * (GENERAL, "requires materializations"). Setting both: CONFIDENCE_EINVAL. */
  const struct confidence_store *materialization_store;
  int use_remote_materialization_store; /* nonzero: Confidence's store over flag_log_grpc_url */
  uint32_t materialization_read_timeout_ms;  /* 0: 2000 per batched read */
  uint32_t materialization_write_timeout_ms; /* 0: 5000 per batched write */
  /* Nonzero: writes go to a background thread through a bounded queue, so
   * an evaluation waits only for its read. */
  int async_materialization_writes;
  uint32_t max_queued_materialization_writes; /* 0: 10000 batches (beyond: dropped, counted) */
  /* Memory for flag states: during a reload the state served and the one
   * being loaded coexist, so each may use half (confidence_state_options'
   * memory_budget_bytes); a state over it is rejected (ELIMIT) and the
   * current one kept. 0: 2 x CONFIDENCE_STATE_DEFAULT_MEMORY_BUDGET. */
  size_t state_memory_budget_bytes;
} confidence_provider_options;
/* Every other field zero (its default); valid C and C++. */
#define CONFIDENCE_PROVIDER_OPTIONS_INIT {CONFIDENCE_PROVIDER_OPTIONS_VERSION}

/* Zeroes the fields of `version` and sets it. Returns 0 or
 * CONFIDENCE_EINVAL (NULL, or a version this library does not know). */
CONFIDENCE_API int confidence_provider_options_init(confidence_provider_options *opts, unsigned version);

/* Creates a provider (no threads, no I/O yet). Strings in `opts` are
 * copied; `opts->transport` must stay valid until the provider is freed.
 * On success *out is owned: free with confidence_provider_free. Returns 0,
 * CONFIDENCE_EINVAL (missing secret, malformed encryption key, unknown
 * options or transport version; see confidence_last_error_message) or
 * CONFIDENCE_ENOMEM. */
CONFIDENCE_API int confidence_provider_new(const confidence_provider_options *opts, confidence_provider **out);

/* Starts the background threads. timeout_ms 0 returns at once; otherwise
 * waits up to timeout_ms for READY and returns 0 if ready, CONFIDENCE_ETIMEDOUT
 * if not yet (the provider keeps trying in the background either way).
 * A bootstrap state (state_file / state_bytes) that does not load, or has
 * no client for the secret, is reported at once: the first start returns
 * its code (CONFIDENCE_EIO, _EINVAL, _EPARSE, _EDECRYPT, _ESTATE, _ESECRET,
 * _ELIMIT or _ENOMEM, message in confidence_last_error_message), an ERROR
 * event is emitted, and with disable_state_sync the status becomes FATAL
 * (getters then report PROVIDER_FATAL); with sync on, the CDN is still
 * tried in the background.
 * With the built-in transport, an https:// CDN and no CA certificates to
 * be found (README, "TLS certificates"), the first start returns
 * CONFIDENCE_ENETWORK at once, the status becomes FATAL and the message
 * (also logged and sent as an ERROR event) names SSL_CERT_FILE. When the
 * wait times out, the message gives the last CDN failure.
 * Other returns: CONFIDENCE_EINVAL (NULL), CONFIDENCE_ENOMEM (threads). */
CONFIDENCE_API int confidence_provider_start(confidence_provider *p, uint32_t timeout_ms);
CONFIDENCE_API int confidence_provider_status(const confidence_provider *p);

/* Sends every exposure queued so far; waits up to timeout_ms. Returns 0 when
 * nothing is left to send (all delivered, or refused by the server as
 * invalid: logged and counted in stats.exposures_rejected, never retried),
 * CONFIDENCE_ETIMEDOUT (not within timeout_ms),
 * CONFIDENCE_ENETWORK (a send failed; they stay queued) or CONFIDENCE_EINVAL
 * (NULL, not started, or shut down). */
CONFIDENCE_API int confidence_provider_flush(confidence_provider *p, uint32_t timeout_ms);

/* Stops the threads and sends everything still queued, within timeout_ms.
 * Final: no state is installed and no event emitted once it begins.
 * Bounded: it returns within timeout_ms + 250 ms whatever the network
 * does (exchanges in flight are abandoned: the CDN's at once, flag-log
 * sends at the deadline; a custom transport that ignores
 * should_abort bounds it by its own timeouts instead). Exposures not
 * delivered by then, a send still in flight included, are counted in
 * stats.exposures_lost_at_shutdown (and exposures_dropped) when it
 * returns, whatever it returns. Idempotent. Evaluations after shutdown return
 * defaults (NOT_READY).
 * Returns 0, CONFIDENCE_ETIMEDOUT (threads or sends not done in time),
 * CONFIDENCE_ENETWORK (exposures left undelivered) or CONFIDENCE_EINVAL. */
CONFIDENCE_API int confidence_provider_shutdown(confidence_provider *p, uint32_t timeout_ms);

/* Shuts down (if needed, with a 5 s budget) and frees: at most 5.25 s
 * without an earlier shutdown, 250 ms after one (built-in transport).
 * NULL is a no-op. No other thread may use `p` during or after this call.
 * In a child process after fork() it is as bounded, and never touches the
 * parent's threads (docs/threading.md, "fork"). */
CONFIDENCE_API void confidence_provider_free(confidence_provider *p);

/* The state currently served, with a reference the caller must release
 * (confidence_state_unref); NULL when NOT_READY. */
CONFIDENCE_API confidence_state *confidence_provider_state(confidence_provider *p);

/* Counters for monitoring, filled by confidence_provider_read_stats. */
/* At rest (after flush or shutdown) the exposure counters add up exactly:
 * evaluations that send an exposure = exposures_sent +
 * exposures_deduplicated + exposures_dropped + exposures_queued. In a fork
 * child they count from the fork. */
#define CONFIDENCE_PROVIDER_STATS_VERSION 2
typedef struct confidence_provider_stats {
  unsigned version; /* set by the caller (CONFIDENCE_PROVIDER_STATS_INIT) */
  uint64_t evaluations; /* every getter call with a flag key, ready or not */
  uint64_t exposures_queued;
  uint64_t exposures_sent;
  /* Every exposure that will never be sent: ring or queue full, rejected
   * by the server as invalid, lost at shutdown (the last two also below). */
  uint64_t exposures_dropped;
  uint64_t state_updates;
  uint64_t state_fetch_failures;
  uint64_t log_send_failures;
  /* Evaluations without an exposure (skip-apply, collection disabled) whose
   * resolve counters were lost to a full ring. */
  uint64_t resolve_counts_dropped;
  /* ---- version 2 ---- */
  uint64_t exposures_deduplicated;     /* not sent: apply dedup (not drops) */
  uint64_t exposures_rejected;         /* in batches refused as invalid (gRPC INVALID_ARGUMENT, HTTP 400/413/422); never retried */
  uint64_t exposures_lost_at_shutdown; /* still queued (or unconfirmed) when shutdown ended */
  uint64_t exposures_resent;           /* sent again after an attempt that may have delivered them */
} confidence_provider_stats;
#define CONFIDENCE_PROVIDER_STATS_INIT {CONFIDENCE_PROVIDER_STATS_VERSION}
/* Copies the counters into *out, writing only the fields of out->version.
 * Returns 0 or CONFIDENCE_EINVAL (NULL, unknown version). */
CONFIDENCE_API int confidence_provider_read_stats(const confidence_provider *p, confidence_provider_stats *out);

/* ---- evaluation ------------------------------------------------------------ */

/* OpenFeature resolution reasons. */
typedef enum confidence_eval_reason {
  CONFIDENCE_EVAL_REASON_UNKNOWN = 0,
  CONFIDENCE_EVAL_REASON_TARGETING_MATCH = 1,
  CONFIDENCE_EVAL_REASON_DEFAULT = 2,
  CONFIDENCE_EVAL_REASON_DISABLED = 3,
  CONFIDENCE_EVAL_REASON_STALE = 4,
  CONFIDENCE_EVAL_REASON_ERROR = 5,
  CONFIDENCE_EVAL_REASON_STATIC = 6,
  CONFIDENCE_EVAL_REASON_SPLIT = 7,
  CONFIDENCE_EVAL_REASON_CACHED = 8
} confidence_eval_reason;

/* OpenFeature error codes. */
typedef enum confidence_eval_error_code {
  CONFIDENCE_EVAL_ERROR_CODE_NONE = 0,
  CONFIDENCE_EVAL_ERROR_CODE_PROVIDER_NOT_READY = 1,
  CONFIDENCE_EVAL_ERROR_CODE_FLAG_NOT_FOUND = 2,
  CONFIDENCE_EVAL_ERROR_CODE_PARSE_ERROR = 3,
  CONFIDENCE_EVAL_ERROR_CODE_TYPE_MISMATCH = 4,
  CONFIDENCE_EVAL_ERROR_CODE_TARGETING_KEY_MISSING = 5,
  CONFIDENCE_EVAL_ERROR_CODE_INVALID_CONTEXT = 6,
  CONFIDENCE_EVAL_ERROR_CODE_PROVIDER_FATAL = 7,
  CONFIDENCE_EVAL_ERROR_CODE_GENERAL = 8
} confidence_eval_error_code;

/* "TARGETING_MATCH", "FLAG_NOT_FOUND", ... (static strings). */
CONFIDENCE_API const char *confidence_eval_reason_name(int reason);
CONFIDENCE_API const char *confidence_eval_error_code_name(int code);

/* Details of one evaluation: create once per thread and pass to the typed
 * getters; each evaluation overwrites it. Everything read from it is
 * borrowed and valid until its next use or free. */
typedef struct confidence_details confidence_details;
CONFIDENCE_API confidence_details *confidence_details_new(void);
CONFIDENCE_API void confidence_details_free(confidence_details *d);
CONFIDENCE_API const char *confidence_details_flag_key(const confidence_details *d);
CONFIDENCE_API int confidence_details_reason(const confidence_details *d);
CONFIDENCE_API int confidence_details_error_code(const confidence_details *d);
CONFIDENCE_API const char *confidence_details_error_message(const confidence_details *d); /* "" if none */
/* The variant of the value returned: "" if none, and on every error result
 * (which returns the caller's default). */
CONFIDENCE_API const char *confidence_details_variant(const confidence_details *d);
/* 1 when the getter returned the caller's default (an error, no variant
 * assigned, a null value at the path), 0 when it returned the flag's value.
 * Bindings whose default is not a C value (a Python object) hand back their
 * own default when it is 1. */
CONFIDENCE_API int confidence_details_value_is_default(const confidence_details *d);
/* Flag metadata (OpenFeature flagMetadata): a struct with string entries
 * such as "rule", "segment", "assignment_id"; never NULL. */
CONFIDENCE_API const confidence_value *confidence_details_metadata(const confidence_details *d);
/* The same entries one by one, "" when absent (the metadata leaves those
 * out), without building the struct: for bindings that make their own. */
CONFIDENCE_API const char *confidence_details_rule(const confidence_details *d);
CONFIDENCE_API const char *confidence_details_segment(const confidence_details *d);
CONFIDENCE_API const char *confidence_details_assignment_id(const confidence_details *d);

/* Typed getters. `flag_key` is "flag-name" or "flag-name.path.to.value",
 * with or without the "flags/" prefix of the flag's resource name. `context` is a struct (or NULL); its
 * "_confidence_skip_apply": true suppresses the exposure for this call.
 * They never fail outward: on any problem they return the default and,
 * when `details` is given, the reason and error code. `details` may be NULL. */
CONFIDENCE_API int confidence_provider_get_bool(confidence_provider *p, const char *flag_key,
                                                const confidence_value *context, int default_value,
                                                confidence_details *details);
CONFIDENCE_API int64_t confidence_provider_get_int(confidence_provider *p, const char *flag_key,
                                                   const confidence_value *context, int64_t default_value,
                                                   confidence_details *details);
CONFIDENCE_API double confidence_provider_get_double(confidence_provider *p, const char *flag_key,
                                                     const confidence_value *context, double default_value,
                                                     confidence_details *details);
/* Owned result (free with confidence_string_free): the flag's string or a
 * copy of `default_value`. NULL only when out of memory or both are NULL. */
CONFIDENCE_API char *confidence_provider_get_string(confidence_provider *p, const char *flag_key,
                                                    const confidence_value *context, const char *default_value,
                                                    confidence_details *details);
/* Owned result (free with confidence_value_free): a copy of the struct at
 * the path, or a copy of `default_value` (NULL stays NULL). */
CONFIDENCE_API confidence_value *confidence_provider_get_object(confidence_provider *p, const char *flag_key,
                                                                const confidence_value *context,
                                                                const confidence_value *default_value,
                                                                confidence_details *details);

#ifdef __cplusplus
}
#endif
#endif
