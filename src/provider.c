/* Provider lifecycle and its two background threads:
 *  - sync: downloads the state from the CDN (ETag), loads it off the hot
 *    path, swaps it in atomically and reports status changes and events;
 *  - log: drains the evaluating threads' exposure rings into the flag log
 *    and frees replaced states once no reader can see them;
 *  - send: ships WriteFlagLogsRequest batches (gRPC edge or HTTP ingest,
 *    primary then fallback) every log interval and on flush. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "net.h"
#include "provider_internal.h"
#include "state_internal.h"
#include "wire.h"

#define DEFAULT_CDN "https://confidence-resolver-state-cdn.spotifycdn.com"
#define DEFAULT_GRPC "https://edge-grpc.spotify.com"
#define DEFAULT_INGEST "https://epx-flags-logs.experimentation-platform.workers.dev/v1/flagLogs:ingest"
#define LOG_METHOD "/confidence.flags.resolver.v1.InternalFlagLoggerService/ClientWriteFlagLogs"
#define DRAIN_INTERVAL_MS 50
#define NOT_READY_RETRY_MS 1000

int64_t cf_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cf_provider_log(confidence_provider *p, int level, const char *fmt, ...)
{
  if (!p->log_fn || level < p->log_level)
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  p->log_fn(level, msg, p->log_user);
}

int confidence_provider_options_init(confidence_provider_options *opts, unsigned version)
{
  if (!opts || version != CONFIDENCE_PROVIDER_OPTIONS_VERSION)
    return cf_error(CONFIDENCE_EINVAL, "unsupported confidence_provider_options version %u", version);
  memset(opts, 0, sizeof *opts);
  opts->version = version;
  return 0;
}

/* ---- slots (one per evaluating thread) ----------------------------------------- */

static void slot_release(void *arg)
{
  cf_slot *slot = arg;
  atomic_store(&slot->in_use, 0); /* the log thread still drains its ring */
}

cf_slot *cf_provider_slot(confidence_provider *p)
{
  cf_slot *slot = pthread_getspecific(p->slot_key);
  if (slot)
    return slot;
  pthread_mutex_lock(&p->slots_mu);
  /* Reuse the slot of an exited thread once its ring is empty. */
  for (cf_slot *s = atomic_load(&p->slots); s && !slot; s = s->next)
    if (!atomic_load(&s->in_use) && atomic_load(&s->head) == atomic_load(&s->tail))
      slot = s;
  if (slot) {
    atomic_store(&slot->in_use, 1);
  } else {
    slot = aligned_alloc(64, (sizeof *slot + 63) / 64 * 64);
    if (slot) {
      memset(slot, 0, sizeof *slot);
      slot->ring = calloc(CF_SLOT_RING, sizeof *slot->ring);
      slot->res = confidence_resolve_result_new();
      if (!slot->ring || !slot->res) {
        free(slot->ring);
        confidence_resolve_result_free(slot->res);
        free(slot);
        slot = NULL;
      } else {
        atomic_store(&slot->in_use, 1);
        slot->next = atomic_load(&p->slots);
        atomic_store(&p->slots, slot);
      }
    }
  }
  pthread_mutex_unlock(&p->slots_mu);
  if (slot)
    pthread_setspecific(p->slot_key, slot);
  return slot;
}

/* ---- construction ---------------------------------------------------------------- */

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

int confidence_provider_new(const confidence_provider_options *opts, confidence_provider **out)
{
  if (!out)
    return cf_error(CONFIDENCE_EINVAL, "out must not be NULL");
  *out = NULL;
  if (!opts || opts->version != CONFIDENCE_PROVIDER_OPTIONS_VERSION)
    return cf_error(CONFIDENCE_EINVAL, "options missing or of an unsupported version");
  if (!opts->client_secret || !*opts->client_secret)
    return cf_error(CONFIDENCE_EINVAL, "client_secret is required");
  if (opts->encryption_key_hex && *opts->encryption_key_hex && strlen(opts->encryption_key_hex) != 64)
    return cf_error(CONFIDENCE_EINVAL, "encryption_key_hex must be 64 hex characters");
  confidence_provider *p = calloc(1, sizeof *p);
  if (!p)
    return cf_error(CONFIDENCE_ENOMEM, "out of memory");
  p->secret = strdup(opts->client_secret);
  p->encryption_key = dup_opt(opts->encryption_key_hex, NULL);
  p->cdn_url = dup_opt(opts->cdn_base_url, DEFAULT_CDN);
  p->grpc_url = dup_opt(opts->flag_log_grpc_url, DEFAULT_GRPC);
  p->ingest_url = dup_opt(opts->ingest_url, DEFAULT_INGEST);
  p->state_file = dup_opt(opts->state_file, NULL);
  p->account_id = dup_opt(opts->account_id, NULL);
  trim_slash(p->cdn_url);
  trim_slash(p->grpc_url);
  if (opts->state_bytes && opts->state_len) {
    p->state_bytes = malloc(opts->state_len);
    if (p->state_bytes) {
      memcpy(p->state_bytes, opts->state_bytes, opts->state_len);
      p->state_len = opts->state_len;
    }
  }
  p->state_poll_ms = opts->state_poll_interval_ms ? opts->state_poll_interval_ms : 30000;
  p->log_poll_ms = opts->log_poll_interval_ms ? opts->log_poll_interval_ms : 10000;
  p->http_timeout_ms = opts->http_timeout_ms ? opts->http_timeout_ms : 30000;
  p->stale_after_ms = opts->stale_after_ms ? opts->stale_after_ms : 3 * p->state_poll_ms;
  p->disable_exposures = opts->disable_exposure_collection != 0;
  p->disable_sync = opts->disable_state_sync != 0;
  p->log_fn = opts->log;
  p->log_level = opts->log_level;
  p->log_user = opts->log_user_data;
  p->event_fn = opts->on_event;
  p->event_user = opts->event_user_data;
  p->transport = opts->transport ? opts->transport : confidence_transport_curl();
  p->max_queued = opts->max_queued_exposures ? opts->max_queued_exposures : 100000;
  p->flag_log = cf_flag_log_new(p->max_queued);
  bool ok = p->secret && p->cdn_url && p->grpc_url && p->ingest_url && p->flag_log &&
            (!opts->encryption_key_hex || !*opts->encryption_key_hex || p->encryption_key) &&
            (!opts->state_file || p->state_file) && (!opts->state_len || p->state_bytes);
  if (!ok || pthread_key_create(&p->slot_key, slot_release) != 0) {
    cf_flag_log_free(p->flag_log);
    free(p->secret);
    free(p->encryption_key);
    free(p->cdn_url);
    free(p->grpc_url);
    free(p->ingest_url);
    free(p->state_file);
    free(p->account_id);
    free(p->state_bytes);
    free(p);
    return cf_error(CONFIDENCE_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&p->slots_mu, NULL);
  pthread_mutex_init(&p->drain_mu, NULL);
  pthread_mutex_init(&p->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->cond, &ca);
  pthread_condattr_destroy(&ca);
  *out = p;
  return 0;
}

/* ---- events and state swaps ------------------------------------------------------- */

static void emit(confidence_provider *p, int type, const char *message, const char *const *flags, size_t n)
{
  if (!p->event_fn)
    return;
  confidence_event ev = {type, atomic_load(&p->status), message, flags, n};
  p->event_fn(&ev, p->event_user);
}

/* Names of flags added, removed or changed between two states. A flag
 * changed when its fingerprint (its definition and its segments) did. */
static size_t changed_flags(const confidence_state *old, const confidence_state *new_st, const char ***out)
{
  size_t cap = (old ? old->n_flags : 0) + new_st->n_flags;
  const char **names = calloc(cap + 1, sizeof *names);
  size_t n = 0;
  if (!names) {
    *out = NULL;
    return 0;
  }
  for (uint32_t i = 0; i < new_st->n_flags; i++) {
    const cf_flag *f = &new_st->flags[i];
    const cf_flag *o = old ? cf_strmap_get(&old->flag_index, f->name.s, f->name.len) : NULL;
    if (!o || o->fingerprint != f->fingerprint)
      names[n++] = f->name.s;
  }
  for (uint32_t i = 0; old && i < old->n_flags; i++) {
    const cf_flag *o = &old->flags[i];
    if (!cf_strmap_get(&new_st->flag_index, o->name.s, o->name.len))
      names[n++] = o->name.s;
  }
  *out = names;
  return n;
}

static void set_status(confidence_provider *p, int status) { atomic_store(&p->status, status); }

/* Installs a freshly loaded state; the old one is retired, not freed. */
void cf_provider_install_state(confidence_provider *p, confidence_state *st, const char *origin)
{
  confidence_state *old = atomic_exchange(&p->current, st);
  const char **changed = NULL;
  size_t n_changed = changed_flags(old, st, &changed);
  pthread_mutex_lock(&p->mu);
  if (old) {
    cf_retired *nr = realloc(p->retired, (p->n_retired + 1) * sizeof *nr);
    if (nr) {
      p->retired = nr;
      p->retired[p->n_retired++] = (cf_retired){old, false};
    } else {
      /* Cannot track it: leaking one state beats freeing it under a reader. */
      cf_provider_log(p, CONFIDENCE_LOG_ERROR, "out of memory retiring a state; it is kept");
    }
  }
  p->state_updates++;
  p->last_sync_ok_ms = cf_now_ms();
  p->n_log_dest = confidence_state_log_destination_count(st);
  for (size_t i = 0; i < p->n_log_dest && i < 2; i++)
    p->log_dest[i] = confidence_state_log_destination_at(st, i);
  char *account = strdup(st->account_id.s);
  if (account) {
    free(p->log_account);
    p->log_account = account;
  }
  pthread_mutex_unlock(&p->mu);
  cf_flag_log_set_memory(p->flag_log, confidence_state_memory_bytes(st));
  int before = atomic_load(&p->status);
  set_status(p, CONFIDENCE_STATUS_READY);
  cf_provider_log(p, CONFIDENCE_LOG_INFO, "flag state loaded from %s (%u flags, %zu changed)", origin, st->n_flags,
                  n_changed);
  if (before != CONFIDENCE_STATUS_READY)
    emit(p, CONFIDENCE_EVENT_READY, "flag state loaded", NULL, 0);
  if (old && n_changed)
    emit(p, CONFIDENCE_EVENT_CONFIGURATION_CHANGED, "flag state changed", changed, n_changed);
  free(changed);
}

static int load_bytes(confidence_provider *p, const void *data, size_t len, confidence_state **out)
{
  confidence_state_options o = CONFIDENCE_STATE_OPTIONS_INIT;
  o.account_id = p->account_id;
  o.encryption_key_hex = p->encryption_key;
  return confidence_state_load(data, len, &o, out);
}

static void bootstrap(confidence_provider *p)
{
  confidence_state *st = NULL;
  int rc = 0;
  if (p->state_bytes) {
    rc = load_bytes(p, p->state_bytes, p->state_len, &st);
  } else if (p->state_file) {
    confidence_state_options o = CONFIDENCE_STATE_OPTIONS_INIT;
    o.account_id = p->account_id;
    o.encryption_key_hex = p->encryption_key;
    rc = confidence_state_load_file(p->state_file, &o, &st);
  } else {
    return;
  }
  if (rc) {
    cf_provider_log(p, CONFIDENCE_LOG_WARN, "bootstrap state rejected: %s", confidence_last_error_message());
    emit(p, CONFIDENCE_EVENT_ERROR, "bootstrap state rejected", NULL, 0);
    return;
  }
  cf_provider_install_state(p, st, "bootstrap");
}

/* ---- sync thread -------------------------------------------------------------------- */

/* Waits on the provider's condition until `deadline_ms` or a stop; returns
 * true when stopping. Called with p->mu held. */
/* One wait on the condition (a broadcast or the deadline ends it). Called
 * with p->mu held. */
static void wait_once(confidence_provider *p, int64_t deadline_ms)
{
  int64_t left = deadline_ms - cf_now_ms();
  if (left <= 0)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t ns = (int64_t)ts.tv_nsec + left * 1000000;
  ts.tv_sec += ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  pthread_cond_timedwait(&p->cond, &p->mu, &ts);
}

static bool wait_until(confidence_provider *p, int64_t deadline_ms)
{
  while (!p->stopping) {
    if (cf_now_ms() >= deadline_ms)
      return false;
    wait_once(p, deadline_ms);
  }
  return true;
}

static void sync_once(confidence_provider *p)
{
  char hash[65];
  cf_net_secret_hash(p->secret, hash);
  size_t url_len = strlen(p->cdn_url) + 70;
  char *url = malloc(url_len);
  if (!url)
    return;
  snprintf(url, url_len, "%s/%s%s", p->cdn_url, hash, p->encryption_key ? ".enc" : "");
  pthread_mutex_lock(&p->mu);
  char *etag = p->etag ? strdup(p->etag) : NULL;
  pthread_mutex_unlock(&p->mu);
  cf_fetch f = {0};
  cf_fetch_outcome outcome = cf_net_fetch_state(p->transport, url, etag, p->http_timeout_ms, &f);
  free(url);
  free(etag);
  bool ok = false;
  char why[320] = "";
  if (outcome == CF_FETCH_NOT_MODIFIED) {
    ok = atomic_load(&p->current) != NULL;
    if (!ok)
      snprintf(why, sizeof why, "CDN answered 304 but no state is loaded");
  } else if (outcome == CF_FETCH_NEW) {
    confidence_state *st = NULL;
    if (load_bytes(p, f.body, f.len, &st) == 0) {
      cf_provider_install_state(p, st, "CDN");
      pthread_mutex_lock(&p->mu);
      free(p->etag);
      p->etag = f.etag;
      f.etag = NULL;
      pthread_mutex_unlock(&p->mu);
      ok = true;
    } else {
      snprintf(why, sizeof why, "CDN state rejected: %s", confidence_last_error_message());
    }
  } else {
    snprintf(why, sizeof why, "%s", f.error);
  }
  free(f.body);
  free(f.etag);
  pthread_mutex_lock(&p->mu);
  if (ok) {
    p->last_sync_ok_ms = cf_now_ms();
  } else {
    p->fetch_failures++;
  }
  int64_t last_ok = p->last_sync_ok_ms;
  pthread_mutex_unlock(&p->mu);
  if (ok) {
    if (atomic_load(&p->status) == CONFIDENCE_STATUS_STALE) {
      set_status(p, CONFIDENCE_STATUS_READY);
      emit(p, CONFIDENCE_EVENT_READY, "flag state sync recovered", NULL, 0);
    }
    return;
  }
  cf_provider_log(p, CONFIDENCE_LOG_WARN, "flag state sync failed: %s", why);
  emit(p, CONFIDENCE_EVENT_ERROR, why, NULL, 0);
  if (atomic_load(&p->status) == CONFIDENCE_STATUS_READY && cf_now_ms() - last_ok >= (int64_t)p->stale_after_ms) {
    set_status(p, CONFIDENCE_STATUS_STALE);
    emit(p, CONFIDENCE_EVENT_STALE, "flag state is stale: syncs keep failing", NULL, 0);
  }
}

static void *sync_main(void *arg)
{
  confidence_provider *p = arg;
  uint32_t backoff = NOT_READY_RETRY_MS < p->state_poll_ms ? NOT_READY_RETRY_MS : p->state_poll_ms;
  for (;;) {
    sync_once(p);
    /* Not ready: retry soon, backing off up to the poll interval. */
    bool ready = atomic_load(&p->current) != NULL;
    uint32_t wait = ready ? p->state_poll_ms : backoff;
    if (!ready)
      backoff = backoff * 2 > p->state_poll_ms ? p->state_poll_ms : backoff * 2;
    pthread_mutex_lock(&p->mu);
    bool stop = wait_until(p, cf_now_ms() + wait);
    pthread_mutex_unlock(&p->mu);
    if (stop)
      return NULL;
  }
}

/* ---- log thread ----------------------------------------------------------------------- */

/* Moves every queued record into the flag log; returns the largest number
 * of records one ring held. */
static uint64_t drain_rings(confidence_provider *p)
{
  uint64_t most = 0;
  pthread_mutex_lock(&p->drain_mu); /* each ring has one consumer at a time */
  for (cf_slot *s = atomic_load(&p->slots); s; s = s->next) {
    uint64_t tail = atomic_load_explicit(&s->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&s->head, memory_order_acquire);
    if (head - tail > most)
      most = head - tail;
    for (; tail < head; tail++)
      cf_flag_log_add(p->flag_log, &s->ring[tail % CF_SLOT_RING]);
    atomic_store_explicit(&s->tail, tail, memory_order_release);
    uint64_t dropped = atomic_exchange(&s->dropped, 0);
    if (dropped)
      cf_flag_log_count_dropped(p->flag_log, dropped);
  }
  pthread_mutex_unlock(&p->drain_mu);
  return most;
}

static bool held_by_reader(confidence_provider *p, const confidence_state *st)
{
  for (cf_slot *s = atomic_load(&p->slots); s; s = s->next)
    if (atomic_load(&s->hazard) == st)
      return true;
  return false;
}

/* Frees retired states in two steps: first seen with no reader, then after
 * one more full drain of the rings (their records point into the state). */
static void reclaim(confidence_provider *p)
{
  pthread_mutex_lock(&p->mu);
  size_t keep = 0;
  for (size_t i = 0; i < p->n_retired; i++) {
    cf_retired r = p->retired[i];
    if (r.quiescent) {
      confidence_state_unref(r.state);
      continue;
    }
    r.quiescent = !held_by_reader(p, r.state);
    p->retired[keep++] = r;
  }
  p->n_retired = keep;
  pthread_mutex_unlock(&p->mu);
}

/* Sleeps between gRPC retries, giving up at the deadline. */
typedef struct retry_clock {
  confidence_provider *p;
  int64_t deadline_ms;
} retry_clock;

static bool retry_sleep(uint32_t ms, void *user_data)
{
  retry_clock *rc = user_data;
  pthread_mutex_lock(&rc->p->mu);
  int64_t until = cf_now_ms() + ms;
  bool in_time = until <= rc->deadline_ms;
  if (in_time) {
    /* During a normal run a stop request cuts the wait; at shutdown the
     * deadline alone bounds it. */
    bool stopping_already = rc->p->stopping;
    while (cf_now_ms() < until) {
      struct timespec ts = {0, 2000000};
      pthread_mutex_unlock(&rc->p->mu);
      nanosleep(&ts, NULL);
      pthread_mutex_lock(&rc->p->mu);
      if (!stopping_already && rc->p->stopping) {
        in_time = false;
        break;
      }
    }
  }
  pthread_mutex_unlock(&rc->p->mu);
  return in_time;
}

static bool send_to(confidence_provider *p, int destination, const cf_batch *b, uint32_t timeout_ms,
                    int64_t deadline_ms)
{
  char auth[600];
  snprintf(auth, sizeof auth, "ClientSecret %s", p->secret);
  if (destination == CONFIDENCE_LOG_DESTINATION_CLOUDFLARE) {
    pthread_mutex_lock(&p->mu);
    char *account = strdup(p->log_account ? p->log_account : (p->account_id ? p->account_id : ""));
    pthread_mutex_unlock(&p->mu);
    if (!account)
      return false;
    /* IngestFlagLogsRequest{1 account_id, 2 batch}: two length-delimited fields. */
    size_t alen = strlen(account);
    uint8_t *body = malloc(alen + b->len + 24);
    bool ok = false;
    if (body) {
      size_t o = 0;
      body[o++] = 0x0a; /* field 1, length-delimited */
      o += cf_wire_put_varint(body + o, alen);
      memcpy(body + o, account, alen);
      o += alen;
      body[o++] = 0x12; /* field 2, length-delimited */
      o += cf_wire_put_varint(body + o, b->len);
      memcpy(body + o, b->bytes, b->len);
      o += b->len;
      long status = 0;
      char err[256] = "";
      ok = cf_http_post_proto(p->transport, p->ingest_url, "application/protobuf", auth, body, o, timeout_ms, &status,
                              err) == 0;
      if (!ok)
        cf_provider_log(p, CONFIDENCE_LOG_WARN, "flag log ingest failed: %s", err);
    }
    free(body);
    free(account);
    return ok;
  }
  retry_clock clock = {p, deadline_ms};
  cf_retry_policy retry = {3, 1000, 10000, 2.0, retry_sleep, &clock};
  cf_grpc_result r = {0};
  /* The gRPC deadline covers all attempts and the backoff between them. */
  uint64_t grpc_deadline = (uint64_t)timeout_ms * 3 + 3000;
  int64_t left = deadline_ms - cf_now_ms();
  if (deadline_ms != INT64_MAX && (uint64_t)(left > 0 ? left : 1) < grpc_deadline)
    grpc_deadline = (uint64_t)(left > 0 ? left : 1); /* shutdown: stay within its budget */
  uint32_t call_timeout = grpc_deadline > UINT32_MAX ? UINT32_MAX : (uint32_t)grpc_deadline;
  bool ok = cf_grpc_unary(p->transport, p->grpc_url, LOG_METHOD, auth, b->bytes, b->len, call_timeout, &retry, &r) == 0;
  if (!ok)
    cf_provider_log(p, CONFIDENCE_LOG_WARN, "flag log gRPC call failed: status %d: %s", r.grpc_status, r.message);
  free(r.body);
  return ok;
}

/* Sends queued batches until the queue is empty or a send fails. */
static int ship(confidence_provider *p, uint32_t timeout_ms, int64_t deadline_ms)
{
  int dest[2] = {CONFIDENCE_LOG_DESTINATION_EDGE, 0};
  pthread_mutex_lock(&p->mu);
  size_t n_dest = p->n_log_dest ? p->n_log_dest : 1;
  if (p->n_log_dest)
    memcpy(dest, p->log_dest, sizeof dest);
  pthread_mutex_unlock(&p->mu);
  cf_batch b;
  while (cf_flag_log_take(p->flag_log, &b)) {
    bool ok = send_to(p, dest[0], &b, timeout_ms, deadline_ms);
    if (!ok && n_dest > 1)
      ok = send_to(p, dest[1], &b, timeout_ms, deadline_ms);
    size_t n_events = b.n_events;
    cf_flag_log_batch_done(p->flag_log, &b, ok);
    if (!ok) {
      pthread_mutex_lock(&p->mu);
      p->send_failures++;
      pthread_mutex_unlock(&p->mu);
      return CONFIDENCE_ENETWORK;
    }
    cf_provider_log(p, CONFIDENCE_LOG_DEBUG, "sent a flag log batch with %zu exposure events", n_events);
  }
  return 0;
}

/* Drainer: moves exposure records out of the rings and frees retired
 * states. It never waits on the network, so rings keep draining while a
 * send is slow or retrying. */
/* Background threads yield to evaluating threads when CPU is short (Linux
 * per-thread nice; failure is harmless). */
static void lower_priority(void) { setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 5); }

static void *log_main(void *arg)
{
  confidence_provider *p = arg;
  lower_priority();
  for (;;) {
    uint64_t fill = drain_rings(p);
    reclaim(p);
    cf_flag_log_stats ls;
    cf_flag_log_stats_get(p->flag_log, &ls);
    if (ls.queued >= p->max_queued / 2) { /* send early rather than drop */
      pthread_mutex_lock(&p->mu);
      if (!p->ship_soon) {
        p->ship_soon = true;
        pthread_cond_broadcast(&p->cond);
      }
      pthread_mutex_unlock(&p->mu);
    }
    /* Busy rings are drained again soon, quiet ones every 50 ms. */
    int64_t pause = fill > CF_SLOT_RING / 8 ? 2 : DRAIN_INTERVAL_MS;
    pthread_mutex_lock(&p->mu);
    bool stopping = wait_until(p, cf_now_ms() + pause);
    pthread_mutex_unlock(&p->mu);
    if (stopping)
      return NULL; /* shutdown drains one last time itself */
  }
}

/* Sender: ships batches every log_poll_interval_ms and on flush requests
 * (which first drain the rings, so "everything queued so far" is sent). */
static void *send_main(void *arg)
{
  confidence_provider *p = arg;
  lower_priority();
  int64_t next_ship = cf_now_ms(); /* the first flush happens right away */
  bool last_ok = true;                /* a failing sink is not hammered early */
  for (;;) {
    pthread_mutex_lock(&p->mu);
    while (!p->stopping && p->flush_requested == p->flush_done && !(p->ship_soon && last_ok) &&
           cf_now_ms() < next_ship)
      wait_once(p, next_ship);
    bool stopping = p->stopping;
    uint64_t want = p->flush_requested;
    p->ship_soon = false;
    pthread_mutex_unlock(&p->mu);
    if (stopping)
      return NULL; /* the final flush is done by shutdown itself */
    if (want != p->flush_done)
      drain_rings(p);
    int rc = ship(p, p->http_timeout_ms, INT64_MAX);
    last_ok = rc == 0;
    next_ship = cf_now_ms() + p->log_poll_ms;
    pthread_mutex_lock(&p->mu);
    if (want != p->flush_done) {
      p->flush_done = want;
      p->flush_result = rc;
      pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->mu);
  }
}

/* ---- public lifecycle ---------------------------------------------------------------------- */

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
    bootstrap(p);
    bool log_ok = pthread_create(&p->log_thread, NULL, log_main, p) == 0;
    bool send_ok = log_ok && pthread_create(&p->send_thread, NULL, send_main, p) == 0;
    bool sync_ok = send_ok && (p->disable_sync || pthread_create(&p->sync_thread, NULL, sync_main, p) == 0);
    if (!sync_ok) {
      pthread_mutex_lock(&p->mu);
      p->stopping = true;
      p->stopped = true;
      p->threads_joined = true;
      pthread_cond_broadcast(&p->cond);
      pthread_mutex_unlock(&p->mu);
      if (log_ok)
        pthread_join(p->log_thread, NULL);
      if (send_ok)
        pthread_join(p->send_thread, NULL);
      p->started = false;
      return cf_error(CONFIDENCE_ENOMEM, "cannot start the provider's threads");
    }
  }
  int64_t deadline = cf_now_ms() + timeout_ms;
  while (timeout_ms && atomic_load(&p->current) == NULL && cf_now_ms() < deadline) {
    struct timespec ts = {0, 5 * 1000000};
    nanosleep(&ts, NULL);
  }
  if (atomic_load(&p->current))
    return 0;
  return timeout_ms ? cf_error(CONFIDENCE_ETIMEDOUT, "provider not ready within %u ms", timeout_ms) : 0;
}

int confidence_provider_status(const confidence_provider *p)
{
  return p ? atomic_load(&((confidence_provider *)p)->status) : CONFIDENCE_STATUS_NOT_READY;
}

confidence_state *confidence_provider_state(confidence_provider *p)
{
  if (!p)
    return NULL;
  cf_slot *slot = cf_provider_slot(p);
  if (!slot)
    return NULL;
  confidence_state *st;
  do {
    st = atomic_load(&p->current);
    atomic_store(&slot->hazard, st);
  } while (st != atomic_load(&p->current));
  confidence_state_ref(st);
  atomic_store(&slot->hazard, NULL);
  return st;
}

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
  int64_t deadline = cf_now_ms() + timeout_ms;
  while (p->flush_done < ticket && !p->stopping && cf_now_ms() < deadline) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 10 * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&p->cond, &p->mu, &ts);
  }
  int rc = p->flush_done >= ticket ? p->flush_result : CONFIDENCE_ETIMEDOUT;
  pthread_mutex_unlock(&p->mu);
  return rc ? cf_error(rc, "flush did not deliver every exposure") : 0;
}

static bool join_by(pthread_t t, int64_t deadline_ms)
{
  int64_t left = deadline_ms - cf_now_ms();
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t ns = ts.tv_nsec + (left > 0 ? left : 0) * 1000000;
  ts.tv_sec += ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

int confidence_provider_shutdown(confidence_provider *p, uint32_t timeout_ms)
{
  if (!p)
    return cf_error(CONFIDENCE_EINVAL, "provider is NULL");
  int64_t deadline = cf_now_ms() + timeout_ms;
  pthread_mutex_lock(&p->mu);
  if (p->stopped) {
    bool joined = p->threads_joined;
    pthread_mutex_unlock(&p->mu);
    return joined ? 0 : cf_error(CONFIDENCE_ETIMEDOUT, "background threads still stopping");
  }
  bool started = p->started;
  p->stopping = true;
  p->stopped = true;
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->mu);

  /* No new evaluation can see a state; wait for those in flight so their
   * exposure records are queued before the final drain. */
  set_status(p, CONFIDENCE_STATUS_NOT_READY);
  confidence_state *last = atomic_exchange(&p->current, NULL);
  while (last && held_by_reader(p, last)) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  bool joined = true;
  if (started) {
    joined = join_by(p->log_thread, deadline);
    joined = join_by(p->send_thread, deadline) && joined;
    if (!p->disable_sync)
      joined = join_by(p->sync_thread, deadline) && joined;
  }
  drain_rings(p);
  int rc = 0;
  if (started) {
    int64_t left = deadline - cf_now_ms();
    rc = left > 0 ? ship(p, (uint32_t)(left < p->http_timeout_ms ? left : p->http_timeout_ms), deadline) : CONFIDENCE_ETIMEDOUT;
  }
  pthread_mutex_lock(&p->mu);
  p->threads_joined = joined;
  if (last) {
    cf_retired *nr = realloc(p->retired, (p->n_retired + 1) * sizeof *nr);
    if (nr) {
      p->retired = nr;
      p->retired[p->n_retired++] = (cf_retired){last, true};
    }
  }
  pthread_mutex_unlock(&p->mu);
  if (!joined)
    return cf_error(CONFIDENCE_ETIMEDOUT, "background threads did not stop within %u ms", timeout_ms);
  return rc ? cf_error(rc, "not every queued exposure was delivered at shutdown") : 0;
}

void confidence_provider_free(confidence_provider *p)
{
  if (!p)
    return;
  confidence_provider_shutdown(p, 5000);
  if (p->started && !p->threads_joined) { /* wait for good: they touch p */
    pthread_join(p->log_thread, NULL);
    pthread_join(p->send_thread, NULL);
    if (!p->disable_sync)
      pthread_join(p->sync_thread, NULL);
  }
  pthread_key_delete(p->slot_key);
  for (size_t i = 0; i < p->n_retired; i++)
    confidence_state_unref(p->retired[i].state);
  free(p->retired);
  cf_slot *s = atomic_load(&p->slots);
  while (s) {
    cf_slot *next = s->next;
    uint64_t tail = atomic_load(&s->tail), head = atomic_load(&s->head);
    for (; tail < head; tail++) { /* records nobody will send: free their parts */
      free(s->ring[tail % CF_SLOT_RING].fts);
      cf_schema_free(s->ring[tail % CF_SLOT_RING].schema);
    }
    free(s->ring);
    confidence_resolve_result_free(s->res);
    free(s);
    s = next;
  }
  cf_flag_log_free(p->flag_log);
  pthread_mutex_destroy(&p->slots_mu);
  pthread_mutex_destroy(&p->drain_mu);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cond);
  free(p->etag);
  free(p->log_account);
  free(p->secret);
  free(p->encryption_key);
  free(p->cdn_url);
  free(p->grpc_url);
  free(p->ingest_url);
  free(p->state_file);
  free(p->account_id);
  free(p->state_bytes);
  free(p);
}

void confidence_provider_read_stats(const confidence_provider *cp, confidence_provider_stats *out)
{
  if (!out)
    return;
  memset(out, 0, sizeof *out);
  confidence_provider *p = (confidence_provider *)cp;
  if (!p)
    return;
  uint64_t ring_drops = 0;
  for (cf_slot *s = atomic_load(&p->slots); s; s = s->next) {
    out->evaluations += atomic_load_explicit(&s->evaluations, memory_order_relaxed);
    ring_drops += atomic_load_explicit(&s->dropped, memory_order_relaxed);
    out->resolve_counts_dropped += atomic_load_explicit(&s->counts_dropped, memory_order_relaxed);
  }
  cf_flag_log_stats ls;
  cf_flag_log_stats_get(p->flag_log, &ls);
  out->exposures_queued = ls.queued;
  out->exposures_sent = ls.sent;
  out->exposures_dropped = ls.dropped + ring_drops;
  pthread_mutex_lock(&p->mu);
  out->state_updates = p->state_updates;
  out->state_fetch_failures = p->fetch_failures;
  out->log_send_failures = p->send_failures;
  pthread_mutex_unlock(&p->mu);
}
