/* The provider's public lifecycle: options, construction, start, flush,
 * shutdown, free and stats, plus the logging, event and wait helpers its
 * modules share (provider_internal.h lists who does what). */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "error.h"
#include "net.h"
#include "provider_internal.h"
#include "state_internal.h"
#include "transport_curl.h"

#define DEFAULT_CDN "https://confidence-resolver-state-cdn.spotifycdn.com"
#define DEFAULT_GRPC "https://edge-grpc.spotify.com"
#define DEFAULT_INGEST "https://epx-flags-logs.experimentation-platform.workers.dev/v1/flagLogs:ingest"
#define START_POLL_MS 5
#define FLUSH_POLL_MS 10

/* Sizes of each published version of the versioned structs (docs/api.md). */
static const size_t OPTIONS_SIZES[CONFIDENCE_PROVIDER_OPTIONS_VERSION] = {
    offsetof(confidence_provider_options, disable_apply_dedup),
    offsetof(confidence_provider_options, events_grpc_url), /* v3: tracking */
    offsetof(confidence_provider_options, materialization_store), /* v4: materialization stores */
    offsetof(confidence_provider_options, state_memory_budget_bytes), /* v5: state budget */
    sizeof(confidence_provider_options)};
static const size_t STATS_SIZES[CONFIDENCE_PROVIDER_STATS_VERSION] = {
    offsetof(confidence_provider_stats, exposures_deduplicated), sizeof(confidence_provider_stats)};

/* The next provider's resolver_id label (metrics). */
static _Atomic unsigned next_instance;

/* What shutdown may take beyond its timeout: the sender notices an
 * abandoned exchange within the transport's poll (20 ms for libcurl). */
#define SHUTDOWN_MARGIN_MS 250
/* The budget free() gives a shutdown that has not happened yet. */
#define FREE_SHUTDOWN_MS 5000

/* ---- helpers shared by the provider's modules --------------------------------- */

void cf_provider_log(confidence_provider *p, int level, const char *fmt, ...)
{
  if (!p->log_fn || level < p->log_level)
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cf_scrub_secret(msg, p->secret); /* messages carry servers' words, which may echo it */
  p->log_fn(level, msg, p->log_user);
}

void cf_provider_emit(confidence_provider *p, int type, const char *message, const char *const *flags, size_t n)
{
  if (!p->event_fn)
    return;
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", message);
  cf_scrub_secret(msg, p->secret);
  /* Held across the callback so that shutdown, which takes it to begin,
   * never sees an event after it began. */
  pthread_mutex_lock(&p->event_mu);
  if (!p->closed) {
    confidence_event ev = {type, atomic_load(&p->status), msg, flags, n};
    p->event_fn(&ev, p->event_user);
  }
  pthread_mutex_unlock(&p->event_mu);
}

uint32_t cf_provider_delivery_deadline_ms(const confidence_provider *p)
{
  uint64_t ms = (uint64_t)p->http_timeout_ms * 3 + 3000;
  return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

void cf_provider_wait_once(confidence_provider *p, int64_t deadline)
{
  if (cf_deadline_left_ms(deadline) == 0)
    return;
  struct timespec ts = cf_deadline_abstime(deadline, CF_CLOCK_MONOTONIC);
  pthread_cond_timedwait(&p->cond, &p->mu, &ts);
}

bool cf_provider_wait_until(confidence_provider *p, int64_t deadline)
{
  while (!p->stopping) {
    if (cf_deadline_left_ms(deadline) == 0)
      return false;
    cf_provider_wait_once(p, deadline);
  }
  return true;
}

/* ---- construction ----------------------------------------------------------------- */

int confidence_provider_options_init(confidence_provider_options *opts, unsigned version)
{
  int rc = cf_check_version(version, CONFIDENCE_PROVIDER_OPTIONS_VERSION, "confidence_provider_options");
  if (rc || !opts)
    return rc ? rc : cf_error(CONFIDENCE_EINVAL, "opts must not be NULL");
  memset(opts, 0, OPTIONS_SIZES[version - 1]);
  opts->version = version;
  return 0;
}

static char *dup_opt(const char *s, const char *fallback)
{
  const char *v = s && *s ? s : fallback;
  return v ? strdup(v) : NULL;
}

/* Drops trailing slashes so paths can be appended. */
static void trim_slash(char *s)
{
  size_t n = s ? strlen(s) : 0;
  while (n > 0 && s[n - 1] == '/')
    s[--n] = '\0';
}

/* Rejects what would make the provider unusable, before anything is built. */
static int validate(const confidence_provider_options *o)
{
  if (!o->client_secret || !*o->client_secret)
    return cf_error(CONFIDENCE_EINVAL, "client_secret is required");
  uint8_t key[32];
  if (o->encryption_key_hex && *o->encryption_key_hex && cf_state_parse_key(o->encryption_key_hex, key))
    return CONFIDENCE_EINVAL; /* the message names the problem */
  if (o->transport) {
    if (cf_check_version(o->transport->version, CONFIDENCE_TRANSPORT_VERSION, "confidence_transport"))
      return CONFIDENCE_EINVAL;
    if (!o->transport->exchange || !o->transport->free_response)
      return cf_error(CONFIDENCE_EINVAL, "transport needs exchange and free_response");
  }
  return cf_provider_store_validate(o); /* materialization store (provider_store.c) */
}

static void free_config(confidence_provider *p)
{
  cf_provider_tracking_free(p); /* provider_tracking.c */
  cf_provider_store_free(p);    /* provider_store.c */
  cf_flag_log_free(p->flag_log);
  free(p->secret);
  free(p->encryption_key);
  free(p->cdn_url);
  free(p->grpc_url);
  free(p->ingest_url);
  free(p->state_file);
  free(p->account_id);
  free(p->state_bytes);
  free(p->etag);
  free(p->log_account);
  /* The transport's user_data lives until the provider that accepted it goes. */
  if (p->transport && p->transport->free)
    p->transport->free(p->transport->user_data);
  free(p);
}

/* Copies the options into p; false when out of memory. */
static bool copy_config(confidence_provider *p, const confidence_provider_options *o)
{
  p->secret = strdup(o->client_secret);
  p->encryption_key = dup_opt(o->encryption_key_hex, NULL);
  p->cdn_url = dup_opt(o->cdn_base_url, DEFAULT_CDN);
  p->grpc_url = dup_opt(o->flag_log_grpc_url, DEFAULT_GRPC);
  p->ingest_url = dup_opt(o->ingest_url, DEFAULT_INGEST);
  p->state_file = dup_opt(o->state_file, NULL);
  p->account_id = dup_opt(o->account_id, NULL);
  trim_slash(p->cdn_url);
  trim_slash(p->grpc_url);
  if (o->state_bytes && o->state_len && (p->state_bytes = malloc(o->state_len)) != NULL) {
    memcpy(p->state_bytes, o->state_bytes, o->state_len);
    p->state_len = o->state_len;
  }
  p->state_poll_ms = o->state_poll_interval_ms ? o->state_poll_interval_ms : 30000;
  p->log_poll_ms = o->log_poll_interval_ms ? o->log_poll_interval_ms : 10000;
  p->http_timeout_ms = o->http_timeout_ms ? o->http_timeout_ms : 30000;
  p->stale_after_ms = o->stale_after_ms ? o->stale_after_ms : 3 * p->state_poll_ms;
  p->state_budget = (o->state_memory_budget_bytes ? o->state_memory_budget_bytes
                                                  : 2 * CONFIDENCE_STATE_DEFAULT_MEMORY_BUDGET) / 2;
  if (p->state_budget == 0)
    p->state_budget = 1; /* 0 would mean "the default" to the state loader */
  p->disable_exposures = o->disable_exposure_collection != 0;
  p->disable_sync = o->disable_state_sync != 0;
  p->log_fn = o->log;
  p->log_level = o->log_level;
  p->log_user = o->log_user_data;
  p->event_fn = o->on_event;
  p->event_user = o->event_user_data;
  p->max_queued = o->max_queued_exposures ? o->max_queued_exposures : 100000;
  p->dedup = o->disable_apply_dedup == 0; /* on by default, as Confidence's providers */
  p->flag_log = cf_flag_log_new(p->max_queued);
  if (p->flag_log)
    cf_flag_log_set_dedup(p->flag_log, p->dedup);
  return p->secret && p->cdn_url && p->grpc_url && p->ingest_url && p->flag_log &&
         (!o->encryption_key_hex || !*o->encryption_key_hex || p->encryption_key) && (!o->state_file || p->state_file) &&
         (!o->state_len || p->state_bytes);
}

void cf_provider_init_locks(confidence_provider *p)
{
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->event_mu, NULL);
  pthread_mutex_init(&p->ship_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->cond, &ca);
  pthread_condattr_destroy(&ca);
}

/* The options' store is the provider's from the call on, whatever happens:
 * a call that fails before the provider holds it frees it here. */
static int refuse(const confidence_provider_options *opts, int rc)
{
  confidence_store_free((confidence_store *)opts->materialization_store);
  return rc;
}

int confidence_provider_new(const confidence_provider_options *user_opts, confidence_provider **out)
{
  if (out)
    *out = NULL;
  if (!user_opts)
    return cf_error(CONFIDENCE_EINVAL, "options must not be NULL");
  confidence_provider_options opts;
  int rc = cf_copy_versioned(&opts, sizeof opts, user_opts, user_opts->version, OPTIONS_SIZES,
                             CONFIDENCE_PROVIDER_OPTIONS_VERSION, "confidence_provider_options");
  if (rc) /* a version we do not know: which fields it has is unknown */
    return rc;
  if (!out)
    return refuse(&opts, cf_error(CONFIDENCE_EINVAL, "out must not be NULL"));
  if ((rc = validate(&opts)) != 0)
    return refuse(&opts, rc);
  confidence_provider *p = calloc(1, sizeof *p);
  if (!p)
    return refuse(&opts, cf_error(CONFIDENCE_ENOMEM, "out of memory"));
  if (!opts.transport || opts.transport == confidence_transport_curl()) {
    /* Decided once, here: the environment of the moment the provider is
     * made, as the user set it up (start() reports what was found). */
    cf_ca_paths_find(&p->ca);
    cf_transport_curl_bind(&p->own_transport, &p->ca);
    p->transport = &p->own_transport;
  } else {
    p->transport = opts.transport;
  }
  bool slots = false;
  if (cf_provider_store_init(p, &opts) != 0 /* first: from here free_config frees the store */ ||
      !copy_config(p, &opts) || !(slots = cf_slots_init(p) == 0) || cf_provider_tracking_init(p, &opts) != 0) {
    if (slots) /* the thread key and the slot locks */
      cf_slots_free(p);
    free_config(p);
    return cf_error(CONFIDENCE_ENOMEM, "out of memory");
  }
  p->instance = atomic_fetch_add(&next_instance, 1);
  cf_provider_init_locks(p);
  atomic_store(&p->send_abort_at, CF_NO_DEADLINE);
  cf_fork_register(p);
  *out = p;
  return 0;
}

/* ---- start ---------------------------------------------------------------------------- */

int cf_provider_start_threads(confidence_provider *p)
{
  bool drain_ok = pthread_create(&p->drain_thread, NULL, cf_provider_drain_main, p) == 0;
  bool send_ok = drain_ok && pthread_create(&p->send_thread, NULL, cf_provider_send_main, p) == 0;
  bool sync_ok = send_ok && (p->disable_sync || pthread_create(&p->sync_thread, NULL, cf_provider_sync_main, p) == 0);
  if (sync_ok)
    return 0;
  pthread_mutex_lock(&p->mu);
  p->stopping = true;
  p->stopped = true;
  p->threads_joined = true;
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->mu);
  if (drain_ok)
    pthread_join(p->drain_thread, NULL);
  if (send_ok)
    pthread_join(p->send_thread, NULL);
  p->started = false;
  return cf_error(CONFIDENCE_ENOMEM, "cannot start the provider's threads");
}

static bool is_https(const char *url) { return url && strncasecmp(url, "https:", 6) == 0; }

/* Reports the CAs the built-in transport will trust. With none, while the
 * state must come from an https:// CDN, no state can ever load: FATAL at
 * once, with the message naming the variables to set, rather than retries
 * that cannot succeed. Returns that error, or 0. */
static int check_tls(confidence_provider *p)
{
  if (p->transport != &p->own_transport)
    return 0;
  if (!p->ca.error[0]) {
    cf_provider_log(p, CONFIDENCE_LOG_DEBUG, "TLS peers are verified with the CAs of %s: %s", p->ca.origin,
                    p->ca.file[0] ? p->ca.file : p->ca.dir);
    return 0;
  }
  if (!is_https(p->cdn_url) && !is_https(p->grpc_url) && !is_https(p->ingest_url) && !is_https(p->events_url))
    return 0; /* nothing here needs TLS (a local backend) */
  cf_provider_log(p, CONFIDENCE_LOG_ERROR, "%s", p->ca.error);
  if (p->disable_sync || !is_https(p->cdn_url) || atomic_load(&p->current))
    return 0; /* a state is here or comes another way; sends report the error as they fail */
  atomic_store(&p->status, CONFIDENCE_STATUS_FATAL);
  p->disable_sync = true; /* no sync thread retrying what cannot succeed */
  cf_provider_emit(p, CONFIDENCE_EVENT_ERROR, p->ca.error, NULL, 0);
  return cf_error(CONFIDENCE_ENETWORK, "%s", p->ca.error);
}

int confidence_provider_start(confidence_provider *p, uint32_t timeout_ms)
{
  if (!p)
    return cf_error(CONFIDENCE_EINVAL, "provider is NULL");
  pthread_mutex_lock(&p->mu);
  bool first = !p->started && !p->stopping;
  p->started = true;
  pthread_mutex_unlock(&p->mu);
  if (first) {
    if (!p->encryption_key && !p->disable_sync)
      cf_provider_log(p, CONFIDENCE_LOG_WARN, "no encryption key: the state is downloaded unencrypted");
    int boot_rc = cf_provider_bootstrap(p);
    int tls_rc = boot_rc ? 0 : check_tls(p);
    int rc = cf_provider_start_threads(p);
    if (rc)
      return rc;
    if (boot_rc) /* the caller hears of a broken bootstrap at once (message kept) */
      return boot_rc;
    if (tls_rc)
      return tls_rc;
  }
  int64_t deadline = cf_deadline_in(timeout_ms);
  while (timeout_ms && atomic_load(&p->current) == NULL && cf_deadline_left_ms(deadline) > 0)
    cf_sleep_ms(START_POLL_MS);
  if (atomic_load(&p->current))
    return 0;
  if (!timeout_ms)
    return 0;
  /* Why the CDN did not answer is what the caller needs to act on (a TLS
   * verify failure, a refused connection). */
  pthread_mutex_lock(&p->mu);
  char why[sizeof p->last_sync_error];
  snprintf(why, sizeof why, "%s", p->last_sync_error);
  pthread_mutex_unlock(&p->mu);
  cf_scrub_secret(why, p->secret); /* it may quote a server */
  if (why[0])
    return cf_error(CONFIDENCE_ETIMEDOUT, "provider not ready within %u ms: last CDN sync: %s", timeout_ms, why);
  return cf_error(CONFIDENCE_ETIMEDOUT, "provider not ready within %u ms", timeout_ms);
}

int confidence_provider_status(const confidence_provider *p)
{
  return p ? atomic_load(&((confidence_provider *)p)->status) : CONFIDENCE_STATUS_NOT_READY;
}

confidence_state *confidence_provider_state(confidence_provider *p)
{
  cf_slot *slot = p ? cf_provider_slot(p) : NULL;
  if (!slot)
    return NULL;
  cf_slot_turn turn;
  confidence_state *st = confidence_state_ref(cf_slot_protect(p, slot, false, &turn));
  cf_slot_unprotect(slot, &turn);
  return st;
}

/* ---- flush and shutdown ---------------------------------------------------------------- */

int confidence_provider_flush(confidence_provider *p, uint32_t timeout_ms)
{
  if (!p)
    return cf_error(CONFIDENCE_EINVAL, "provider is NULL");
  pthread_mutex_lock(&p->mu);
  if (!p->started || p->stopping) {
    pthread_mutex_unlock(&p->mu);
    return cf_error(CONFIDENCE_EINVAL, "provider is not running");
  }
  uint64_t ticket = ++p->flush_requested;
  pthread_cond_broadcast(&p->cond);
  int64_t deadline = cf_deadline_in(timeout_ms);
  while (p->flush_done < ticket && !p->stopping && cf_deadline_left_ms(deadline) > 0) {
    int64_t step = cf_deadline_in(FLUSH_POLL_MS);
    cf_provider_wait_once(p, step < deadline ? step : deadline);
  }
  int rc = p->flush_done >= ticket ? p->flush_result : CONFIDENCE_ETIMEDOUT;
  pthread_mutex_unlock(&p->mu);
  return rc ? cf_error(rc, "flush did not deliver every exposure") : 0;
}

static bool join_by(pthread_t t, int64_t deadline)
{
  struct timespec ts = cf_deadline_abstime(deadline, CF_CLOCK_REALTIME);
  return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

static bool join_threads_by(confidence_provider *p, int64_t deadline)
{
  bool joined = join_by(p->drain_thread, deadline);
  joined = join_by(p->send_thread, deadline) && joined;
  if (!p->disable_sync)
    joined = join_by(p->sync_thread, deadline) && joined;
  return joined;
}

/* Clears the current state so new evaluations return defaults, and waits
 * (until the deadline) for those in flight so their exposure records are
 * queued. Returns the state that was current (its reference now the
 * caller's); *quiescent when no reader holds it any more. */
static confidence_state *withdraw_state(confidence_provider *p, int64_t deadline, bool *quiescent)
{
  atomic_store(&p->status, CONFIDENCE_STATUS_NOT_READY);
  confidence_state *last = atomic_exchange(&p->current, NULL);
  while (last && cf_slots_hold(p, last) && cf_deadline_left_ms(deadline) > 0)
    cf_sleep_us(100); /* readers hold it for well under a microsecond */
  *quiescent = !last || !cf_slots_hold(p, last);
  return last;
}

/* Counts every exposure shutdown could not deliver, a send still in flight
 * included, so that when shutdown returns nothing is queued:
 * applied = sent + deduplicated + dropped holds from then on. */
static void settle(confidence_provider *p)
{
  cf_slots_drain(p);
  uint64_t lost = cf_flag_log_discard(p->flag_log);
  if (lost)
    cf_provider_log(p, CONFIDENCE_LOG_WARN, "%llu exposures not delivered at shutdown (counted as lost)",
                    (unsigned long long)lost);
}

/* Ends event delivery, then stops the threads' loops; false (and *joined
 * set) when shutdown had already run. */
static bool begin_shutdown(confidence_provider *p, int64_t deadline, bool *started, bool *joined)
{
  pthread_mutex_lock(&p->event_mu); /* waits for an event callback in progress */
  p->closed = true;
  pthread_mutex_unlock(&p->event_mu);
  pthread_mutex_lock(&p->mu);
  bool first = !p->stopped;
  *started = p->started;
  *joined = p->threads_joined;
  p->stopping = true;
  p->stopped = true;
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->mu);
  if (first) { /* the CDN is not needed any more; sends may use the budget */
    atomic_store(&p->abort_sync, 1);
    atomic_store(&p->send_abort_at, deadline);
  }
  return first;
}

int confidence_provider_shutdown(confidence_provider *p, uint32_t timeout_ms)
{
  if (!p)
    return cf_error(CONFIDENCE_EINVAL, "provider is NULL");
  int64_t deadline = cf_deadline_in(timeout_ms);
  bool started, joined;
  if (!begin_shutdown(p, deadline, &started, &joined))
    return joined ? 0 : cf_error(CONFIDENCE_ETIMEDOUT, "background threads still stopping");

  bool quiescent;
  confidence_state *last = withdraw_state(p, deadline, &quiescent);
  /* An exchange in flight is abandoned at the deadline: the threads follow
   * within the transport's poll. */
  joined = !started || join_threads_by(p, deadline + SHUTDOWN_MARGIN_MS);
  int rc = 0;
  if (started) {
    cf_slots_drain(p);
    rc = cf_deadline_left_ms(deadline) > 0
             ? cf_provider_ship(p, cf_deadline_timeout_ms(deadline, p->http_timeout_ms), deadline, false)
             : CONFIDENCE_ETIMEDOUT;
    settle(p); /* also with a sender thread still in its send: its outcome no longer counts */
  }
  pthread_mutex_lock(&p->mu);
  p->threads_joined = joined;
  pthread_mutex_unlock(&p->mu);
  cf_retire_state(p, last, quiescent);
  if (!joined)
    return cf_error(CONFIDENCE_ETIMEDOUT, "background threads did not stop within %u ms", timeout_ms);
  return rc ? cf_error(rc, "not every queued exposure was delivered at shutdown") : 0;
}

void confidence_provider_free(confidence_provider *p)
{
  if (!p)
    return;
  confidence_provider_shutdown(p, FREE_SHUTDOWN_MS);
  if (p->started && !p->threads_joined) {
    /* A transport that ignored the deadline: abandon everything now and
     * wait for good (the threads touch p). */
    atomic_store(&p->send_abort_at, INT64_MIN);
    pthread_join(p->drain_thread, NULL);
    pthread_join(p->send_thread, NULL);
    if (!p->disable_sync)
      pthread_join(p->sync_thread, NULL);
    settle(p);
  }
  cf_fork_unregister(p);
  confidence_state_unref(atomic_exchange(&p->current, NULL)); /* never set after shutdown; never leaked */
  cf_slots_free(p);
  pthread_mutex_destroy(&p->mu);
  pthread_mutex_destroy(&p->event_mu);
  pthread_mutex_destroy(&p->ship_mu);
  pthread_cond_destroy(&p->cond);
  free_config(p);
}

/* ---- stats ------------------------------------------------------------------------------ */

int confidence_provider_read_stats(const confidence_provider *cp, confidence_provider_stats *out)
{
  if (!out)
    return cf_error(CONFIDENCE_EINVAL, "out must not be NULL");
  unsigned version = out->version;
  int rc = cf_check_version(version, CONFIDENCE_PROVIDER_STATS_VERSION, "confidence_provider_stats");
  if (rc)
    return rc;
  confidence_provider_stats s = {CONFIDENCE_PROVIDER_STATS_VERSION};
  confidence_provider *p = (confidence_provider *)cp;
  if (!p)
    return cf_error(CONFIDENCE_EINVAL, "provider is NULL");
  uint64_t ring_drops;
  cf_slots_read_counters(p, &s.evaluations, &ring_drops, &s.resolve_counts_dropped);
  cf_flag_log_stats ls;
  cf_flag_log_stats_get(p->flag_log, &ls);
  s.exposures_queued = ls.queued;
  s.exposures_sent = ls.sent;
  s.exposures_dropped = ls.dropped + ring_drops + ls.rejected + ls.lost;
  s.exposures_deduplicated = ls.deduplicated;
  s.exposures_rejected = ls.rejected;
  s.exposures_lost_at_shutdown = ls.lost;
  s.exposures_resent = ls.resent;
  pthread_mutex_lock(&p->mu);
  s.state_updates = p->state_updates;
  s.state_fetch_failures = p->fetch_failures;
  s.log_send_failures = p->send_failures;
  pthread_mutex_unlock(&p->mu);
  /* Only the fields the caller's version has. */
  memcpy(out, &s, STATS_SIZES[version - 1]);
  out->version = version;
  return 0;
}
