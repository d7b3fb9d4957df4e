/* Provider internals, shared by its modules. The provider:
 *   provider.c          options, lifecycle (new/start/flush/shutdown/free), stats
 *   provider_slots.c    per-thread slots, hazard pointers, retired states, slot metrics
 *   provider_sync.c     bootstrap and the sync thread (CDN -> state swap)
 *   provider_send.c     the drainer and sender threads (exposure and event delivery)
 *   provider_eval.c     the evaluation path (typed getters)
 *   provider_all.c      all-flags evaluation (value tree and JSON)
 *   provider_tracking.c track calls, event stats, shipping track events
 *   provider_store.c    the materialization store around the core's store loop
 *   provider_fork.c     fork handlers (the child's provider keeps working)
 *   metrics.c           confidence_provider_metrics (Prometheus / OpenMetrics text)
 * and the parts it drives:
 *   flag_log.c          exposure queue, per-window resolve counters, schemas, telemetry
 *   flag_log_batch.c    WriteFlagLogsRequest batch assembly
 *   apply_dedup.c       apply dedup (one exposure per window)
 *   context_schema.c    evaluation-context schemas for resolve analytics
 *   latency_histogram.c the telemetry's resolve-latency buckets
 *   event_log.c         the bounded track-event queue and PublishEvents batches
 *   event_wire.c        a track call's event in protobuf wire format
 *   wbuf.c              the growable write buffer and its protobuf writes
 *   queue_policy.h      when a send queue is sent early
 *   sdk_id.h            how the library names itself to Confidence (Sdk messages)
 *   net.c               CDN downloads, gRPC calls and POSTs over a transport
 *   transport_curl.c    the built-in libcurl transport
 *   ca_paths.c          where that transport finds the CAs that verify TLS peers
 *   store_remote.c      Confidence's remote materialization store (gRPC)
 *
 * Lock-free state access uses hazard pointers: an evaluating thread
 * publishes the state it reads in its own slot, and a replaced state is
 * freed only once no slot holds it and the log thread has consumed every
 * exposure record (which point into the state) queued before that moment. */
#ifndef CF_PROVIDER_INTERNAL_H
#define CF_PROVIDER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "confidence/provider.h"
#include "ca_paths.h"
#include "confidence/sys/transport.h"
#include "flag_log.h"
#include "net.h"
#include "provider_store.h"
#include "slot_metrics.h"
#include "util.h"

typedef struct cf_event_log cf_event_log; /* event_log.h */

/* Exposure records one evaluating thread can queue between drains. */
#define CF_SLOT_RING 8192
/* A producer that finds its ring empty this far into a lap starts the next
 * lap at once (cf_slot.skip_from): a thread that the drainer keeps up with
 * touches only the ring's first pages, not all 1.7 MiB of it. */
#define CF_SLOT_REWIND 512

/* One evaluating thread's private area (cache-line aligned). */
typedef struct cf_slot {
  _Alignas(64) _Atomic(confidence_state *) hazard;
  _Atomic uint64_t head; /* written by the owner thread */
  _Atomic uint64_t tail; /* written by the log thread */
  /* Where the producer left a lap early (UINT64_MAX: never): the consumer
   * reaching it goes on at the next lap's start. Written by the owner
   * thread, only while the ring is empty. */
  _Atomic uint64_t skip_from;
  _Atomic uint64_t dropped;        /* exposure records lost to a full ring */
  _Atomic uint64_t counts_dropped; /* counter-only records (no exposure) lost */
  _Atomic uint64_t evaluations;
  _Atomic int in_use; /* 0 when its thread has exited */
  _Atomic int armed;  /* ring and res allocated (changed under slots_mu) */
  int depth;          /* evaluations under way on the owner thread (slot turns) */
  cf_exposure *ring;
  confidence_resolve_result *res;
  struct cf_slot *next;
  cf_slot_metrics metrics; /* written by the owner thread only (slot_metrics.h) */
} cf_slot;

typedef struct cf_retired {
  confidence_state *state;
  bool quiescent; /* no hazard held it at the last check */
} cf_retired;

typedef struct cf_retired_vec {
  cf_retired *items;
  size_t n, cap;
} cf_retired_vec;

struct confidence_provider {
  /* configuration (owned copies) */
  char *secret, *encryption_key, *cdn_url, *grpc_url, *ingest_url, *state_file, *account_id;
  void *state_bytes;
  size_t state_len;
  uint32_t state_poll_ms, log_poll_ms, http_timeout_ms, stale_after_ms;
  size_t state_budget; /* per loaded state: half the provider's state memory */
  bool disable_exposures, disable_sync, dedup;
  confidence_log_fn log_fn;
  int log_level;
  void *log_user;
  confidence_event_fn event_fn;
  void *event_user;
  const confidence_transport *transport;
  /* With the built-in transport, transport points at own_transport, bound
   * to the CAs found when the provider was created. */
  confidence_transport own_transport;
  cf_ca_paths ca;

  _Atomic(confidence_state *) current;
  _Atomic int status;
  pthread_key_t slot_key;
  pthread_mutex_t slots_mu;
  _Atomic(cf_slot *) slots;

  cf_flag_log *flag_log;
  cf_event_log *events; /* track events (provider_tracking.c) */
  char *events_url;      /* gRPC base URL of the events service */
  unsigned instance;     /* resolver_id label of the metrics */
  cf_store_ctx *store;   /* materialization store or NULL (provider_store.h) */
  /* Shutdown abandons network exchanges in flight: CDN requests at once,
   * flag-log sends at its deadline (a cf_clock_ms() value). */
  _Atomic int abort_sync;
  _Atomic int64_t send_abort_at;
  pthread_mutex_t event_mu; /* an event is emitted entirely before shutdown begins, or not at all */
  bool closed;              /* under event_mu: shutdown has begun */
  pthread_mutex_t ship_mu;  /* one batch in flight at a time */
  struct confidence_provider *fork_next; /* live providers (provider_fork.c) */
  pthread_mutex_t mu; /* everything below */
  pthread_cond_t cond;
  bool started, stopping, stopped, threads_joined;
  pthread_t sync_thread, drain_thread, send_thread;
  pthread_mutex_t drain_mu; /* one ring consumer at a time */
  /* A ring is filling faster than the drainer's pause allows: drain now
   * (set by an evaluating thread under mu, cleared by the drainer before
   * each pass). */
  _Atomic bool drain_soon;
  cf_retired_vec retired;
  char *etag;
  int log_dest[2]; /* from the latest state's envelope */
  size_t n_log_dest;
  char *log_account;
  int64_t last_sync_ok_ms;
  uint64_t flush_requested, flush_done;
  bool ship_soon; /* the queue is half full: send before the next interval */
  uint32_t max_queued;
  int flush_result;
  uint64_t state_updates, fetch_failures, send_failures;
  /* The sync thread waits this long before its first CDN request (0: at
   * once): a fork child already serves the parent's state. */
  uint32_t first_sync_wait_ms;
  char last_sync_error[320]; /* why the latest CDN sync failed; "" after a success */
};

/* ---- provider.c ---- */
/* Log through the user's callback when the level passes the threshold. */
void cf_provider_log(confidence_provider *p, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Calls the user's event callback (if any) with the current status. */
void cf_provider_emit(confidence_provider *p, int type, const char *message, const char *const *flags, size_t n);
/* One wait on p->cond, ended by a broadcast or the deadline. p->mu held. */
void cf_provider_wait_once(confidence_provider *p, int64_t deadline);
/* Waits until the deadline or a stop; true when stopping. p->mu held. */
bool cf_provider_wait_until(confidence_provider *p, int64_t deadline);
/* Wakes the drainer from an evaluating thread, which never waits for the
 * lock: when it is taken, the next record past the mark tries again. */
void cf_provider_drain_soon(confidence_provider *p);

/* Starts the drainer, sender and (unless disabled) sync threads; on
 * failure none is left running and the provider is stopped. */
int cf_provider_start_threads(confidence_provider *p);
/* (Re)initialises mu, event_mu, ship_mu and cond (new, and in a fork child). */
void cf_provider_init_locks(confidence_provider *p);
/* 3 x http_timeout_ms + 3 s: how long one batch's delivery may take
 * (attempts and backoff) before it is given up and later resent. */
uint32_t cf_provider_delivery_deadline_ms(const confidence_provider *p);

/* ---- provider_tracking.c ---- */
/* The event queue and events URL from the options; 0 or CONFIDENCE_ENOMEM. */
int cf_provider_tracking_init(confidence_provider *p, const confidence_provider_options *o);
void cf_provider_tracking_free(confidence_provider *p);
/* Publishes queued track events (sender thread, flush, shutdown) with the
 * flag logs' retry policy. Returns 0 or CONFIDENCE_ENETWORK. */
int cf_provider_ship_events(confidence_provider *p, uint32_t timeout_ms, const cf_retry_policy *retry);

/* ---- provider_fork.c ---- */
/* Registers a provider with the fork handlers (installed on first use) and
 * unregisters it. */
void cf_fork_register(confidence_provider *p);
void cf_fork_unregister(confidence_provider *p);
/* When a fork child polls the CDN first: [3/4, 5/4) of poll_ms, drawn from seed. */
uint32_t cf_fork_first_poll_ms(uint32_t poll_ms, uint64_t seed);

/* ---- provider_slots.c ---- */
int cf_slots_init(confidence_provider *p);
void cf_slots_free(confidence_provider *p);
/* The position after `tail` in a slot's ring: the next lap's start when the
 * producer left this lap at `tail` (skip_from). */
static inline uint64_t cf_slot_next_lap_start(uint64_t pos) { return pos - pos % CF_SLOT_RING + CF_SLOT_RING; }
/* This thread's slot, registering one on first use; NULL when out of memory. */
cf_slot *cf_provider_slot(confidence_provider *p);
/* One use of a slot by its thread, between cf_slot_protect and
 * cf_slot_unprotect. An evaluation may start inside another on the same
 * thread (Python code of a materialization store runs while its caller's
 * evaluation waits): the inner one keeps the outer one's state, and with
 * `resolves` it gets a resolve result of its own in slot->res, so the outer
 * one finds its hazard and its result intact. */
typedef struct cf_slot_turn {
  confidence_resolve_result *outer_res; /* the outer evaluation's, while an inner one runs */
  bool oom;                             /* an inner one found no memory for its result */
} cf_slot_turn;
/* Publishes and returns the current state in the slot's hazard (NULL when
 * none, or with turn->oom); the state stays alive until cf_slot_unprotect. */
confidence_state *cf_slot_protect(confidence_provider *p, cf_slot *slot, bool resolves, cf_slot_turn *turn);
void cf_slot_unprotect(cf_slot *slot, cf_slot_turn *turn);
/* True while any slot's hazard holds `st`. */
bool cf_slots_hold(confidence_provider *p, const confidence_state *st);
/* Moves every queued record into the flag log; returns the largest number
 * of records one ring held. */
uint64_t cf_slots_drain(confidence_provider *p);
void cf_slots_read_counters(confidence_provider *p, uint64_t *evaluations, uint64_t *ring_drops,
                            uint64_t *counts_dropped);
/* The slots' resolve counters and latency histogram, summed (metrics). */
void cf_slots_sum_metrics(confidence_provider *p, cf_metric_totals *out);
/* Hands a replaced state to reclamation (`quiescent`: no reader can hold it). */
void cf_retire_state(confidence_provider *p, confidence_state *st, bool quiescent);
/* Frees retired states seen unread at the previous call (rings drained since). */
void cf_reclaim_states(confidence_provider *p);
/* Fork: the prepare handler holds drain_mu and slots_mu across fork(); the
 * child releases every other thread's slot and hazard and empties the
 * rings (the parent sends their records). */
void cf_slots_lock_for_fork(confidence_provider *p);
void cf_slots_unlock_after_fork(confidence_provider *p);
void cf_slots_after_fork_child(confidence_provider *p);

/* ---- provider_sync.c ---- */
/* Loads the bootstrap state, if configured (on the thread calling start).
 * Returns 0, or the load error (ERROR emitted; FATAL when sync is off). */
int cf_provider_bootstrap(confidence_provider *p);
/* Swaps in a loaded state (takes the reference), emitting events. Once
 * shutdown has begun it frees the state instead and returns false. */
bool cf_provider_install_state(confidence_provider *p, confidence_state *st, const char *origin);
void *cf_provider_sync_main(void *arg);

/* ---- provider_send.c ---- */
/* Sends queued batches until the queue is empty or a send fails; a batch
 * the server refuses as invalid is dropped (counted) and the next one
 * goes. The sender thread (`from_thread`) stops between batches once
 * shutdown begins. Returns 0, CONFIDENCE_ENETWORK, or CONFIDENCE_ETIMEDOUT
 * (another send held the queue past the deadline). */
int cf_provider_ship(confidence_provider *p, uint32_t timeout_ms, int64_t deadline_ms, bool from_thread);
/* Abort hooks for the network layer (cf_net_set_abort). */
int cf_provider_sync_aborted(void *provider);
int cf_provider_send_aborted(void *provider);
void *cf_provider_drain_main(void *arg);
void *cf_provider_send_main(void *arg);

/* ---- provider_eval.c: hooks for tracking and all-flags ---- */
/* The getters' context handling: NULL or a struct of valid UTF-8, else
 * CONFIDENCE_EINVAL. *ctx_out is the context to resolve with (without
 * "_confidence_skip_apply"; release *to_free with cf_provider_free_context_view),
 * *skip_apply its flag. Returns 0, CONFIDENCE_EINVAL or CONFIDENCE_ENOMEM. */
int cf_provider_eval_context(const confidence_value *context, const confidence_value **ctx_out, bool *skip_apply,
                             void **to_free);
void cf_provider_free_context_view(void *view);
/* Queues the exposure record of one resolved flag from `slot->res` (as the
 * getters do; `apply`: send an exposure). `n` is the slot's evaluation
 * number (sampling); `started_ns` 0 or when the evaluation began. */
void cf_provider_record_flag(confidence_provider *p, cf_slot *slot, const confidence_resolved_flag *f,
                             const confidence_value *ctx, bool apply, int64_t started_ns, uint64_t n);

#endif
