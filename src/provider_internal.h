/* Provider internals shared by provider.c (lifecycle, background threads)
 * and provider_eval.c (the evaluation path).
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
#include "confidence/sys/transport.h"
#include "flag_log.h"

/* Exposure records one evaluating thread can queue between drains. */
#define CF_SLOT_RING 8192

/* One evaluating thread's private area (cache-line aligned). */
typedef struct cf_slot {
  _Alignas(64) _Atomic(confidence_state *) hazard;
  _Atomic uint64_t head; /* written by the owner thread */
  _Atomic uint64_t tail; /* written by the log thread */
  _Atomic uint64_t dropped;        /* exposure records lost to a full ring */
  _Atomic uint64_t counts_dropped; /* counter-only records (no exposure) lost */
  _Atomic uint64_t evaluations;
  _Atomic int in_use; /* 0 when its thread has exited */
  cf_exposure *ring;
  confidence_resolve_result *res;
  struct cf_slot *next;
} cf_slot;

typedef struct cf_retired {
  confidence_state *state;
  bool quiescent; /* no hazard held it at the last check */
} cf_retired;

struct confidence_provider {
  /* configuration (owned copies) */
  char *secret, *encryption_key, *cdn_url, *grpc_url, *ingest_url, *state_file, *account_id;
  void *state_bytes;
  size_t state_len;
  uint32_t state_poll_ms, log_poll_ms, http_timeout_ms, stale_after_ms;
  bool disable_exposures, disable_sync;
  confidence_log_fn log_fn;
  int log_level;
  void *log_user;
  confidence_event_fn event_fn;
  void *event_user;
  const confidence_transport *transport;

  _Atomic(confidence_state *) current;
  _Atomic int status;
  pthread_key_t slot_key;
  pthread_mutex_t slots_mu;
  _Atomic(cf_slot *) slots;

  cf_flag_log *flag_log;
  pthread_mutex_t mu; /* everything below */
  pthread_cond_t cond;
  bool started, stopping, stopped, threads_joined;
  pthread_t sync_thread, log_thread, send_thread;
  pthread_mutex_t drain_mu; /* one ring consumer at a time */
  cf_retired *retired;
  size_t n_retired;
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
};

/* Milliseconds on the monotonic clock. */
int64_t cf_now_ms(void);
/* Log through the user's callback when the level passes the threshold. */
void cf_provider_log(confidence_provider *p, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Swaps in a loaded state (takes the reference), emitting events. */
void cf_provider_install_state(confidence_provider *p, confidence_state *st, const char *origin);
/* This thread's slot, registering one on first use; NULL when out of memory. */
cf_slot *cf_provider_slot(confidence_provider *p);

#endif
