/* Exposure delivery, on two threads:
 *  - the drainer moves exposure records out of the evaluating threads'
 *    rings into the flag log and frees retired states; it never waits on
 *    the network, so rings keep draining while a send is slow or retrying;
 *  - the sender ships WriteFlagLogsRequest batches (gRPC edge or HTTP
 *    ingest, primary then fallback) every log interval, early when the
 *    queue is half full, and on flush. */
#define _GNU_SOURCE /* syscall(SYS_gettid) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "event_log.h"
#include "net.h"
#include "provider_internal.h"
#include "queue_policy.h"
#include "wire.h"

#define LOG_METHOD "/confidence.flags.resolver.v1.InternalFlagLoggerService/ClientWriteFlagLogs"
#define DRAIN_INTERVAL_MS 50
#define BUSY_DRAIN_INTERVAL_MS 2
#define GRPC_INVALID_ARGUMENT 3

static bool stopping(confidence_provider *p)
{
  pthread_mutex_lock(&p->mu);
  bool s = p->stopping;
  pthread_mutex_unlock(&p->mu);
  return s;
}

/* Sleeps between gRPC retries, giving up at the deadline. */
typedef struct retry_clock {
  confidence_provider *p;
  int64_t deadline_ms;
} retry_clock;

static bool retry_sleep(uint32_t ms, void *user_data)
{
  retry_clock *rc = user_data;
  int64_t until = cf_deadline_in(ms);
  /* Once shutdown has begun its deadline bounds every wait, also one of the
   * sender thread's own sends that shutdown found in flight. */
  int64_t abort_at = atomic_load(&rc->p->send_abort_at);
  int64_t limit = abort_at < rc->deadline_ms ? abort_at : rc->deadline_ms;
  if (limit != CF_NO_DEADLINE && until > limit)
    return false;
  /* During a normal run a stop request cuts the wait; at shutdown the
   * deadline alone bounds it. */
  pthread_mutex_lock(&rc->p->mu);
  bool stopping_already = rc->p->stopping;
  pthread_mutex_unlock(&rc->p->mu);
  while (cf_clock_ms() < until) {
    cf_sleep_ms(2);
    pthread_mutex_lock(&rc->p->mu);
    bool cut = !stopping_already && rc->p->stopping;
    pthread_mutex_unlock(&rc->p->mu);
    if (cut)
      return false;
  }
  return true;
}

/* HTTP statuses meaning "this body will never be accepted". */
static bool http_rejects(long status) { return status == 400 || status == 413 || status == 422; }

/* HTTP ingest: IngestFlagLogsRequest{account_id, batch}, the batch being
 * the already serialised WriteFlagLogsRequest. */
static cf_batch_outcome send_ingest(confidence_provider *p, const char *auth, const cf_batch *b, uint32_t timeout_ms)
{
  pthread_mutex_lock(&p->mu);
  char *account = strdup(p->log_account ? p->log_account : (p->account_id ? p->account_id : ""));
  pthread_mutex_unlock(&p->mu);
  size_t alen = account ? strlen(account) : 0;
  uint8_t *body = account ? malloc(alen + b->len + 2 * CF_WIRE_MAX_LEN_HEADER) : NULL;
  cf_batch_outcome out = CF_BATCH_FAILED;
  if (body) {
    size_t o = cf_wire_put_len_header(body, CF_INGEST_FIELD_ACCOUNT_ID, alen);
    memcpy(body + o, account, alen);
    o += alen;
    o += cf_wire_put_len_header(body + o, CF_INGEST_FIELD_BATCH, b->len);
    memcpy(body + o, b->bytes, b->len);
    o += b->len;
    long status = 0;
    char err[256] = "";
    int rc = cf_http_post_proto(p->transport, p->ingest_url, "application/protobuf", auth, body, o, timeout_ms,
                                &status, err);
    out = rc == 0                         ? CF_BATCH_DELIVERED
          : http_rejects(status)          ? CF_BATCH_REJECTED
          : rc == CONFIDENCE_ETIMEDOUT    ? CF_BATCH_UNCERTAIN
                                          : CF_BATCH_FAILED;
    if (rc)
      cf_provider_log(p, CONFIDENCE_LOG_WARN, "flag log ingest failed: %s", err);
  }
  free(body);
  free(account);
  return out;
}

static cf_batch_outcome send_grpc(confidence_provider *p, const char *auth, const cf_batch *b, int64_t deadline_ms)
{
  retry_clock clock = {p, deadline_ms};
  cf_retry_policy retry = {3, 1000, 10000, 2.0, retry_sleep, &clock};
  cf_grpc_result r = {0};
  /* The delivery deadline covers all attempts and the backoff between
   * them; at shutdown it stays within shutdown's budget. */
  uint32_t call_timeout = cf_deadline_timeout_ms(deadline_ms, cf_provider_delivery_deadline_ms(p));
  bool ok = cf_grpc_unary(p->transport, p->grpc_url, LOG_METHOD, auth, b->bytes, b->len, call_timeout, &retry, &r) == 0;
  if (!ok)
    cf_provider_log(p, CONFIDENCE_LOG_WARN, "flag log gRPC call failed: status %d: %s", r.grpc_status, r.message);
  free(r.body);
  if (ok)
    return CF_BATCH_DELIVERED;
  if (r.grpc_status == GRPC_INVALID_ARGUMENT || r.http_status == 413)
    return CF_BATCH_REJECTED;
  return r.uncertain ? CF_BATCH_UNCERTAIN : CF_BATCH_FAILED;
}

static cf_batch_outcome send_to(confidence_provider *p, int destination, const cf_batch *b, uint32_t timeout_ms,
                                int64_t deadline_ms)
{
  char auth[600];
  snprintf(auth, sizeof auth, "ClientSecret %s", p->secret);
  if (destination == CONFIDENCE_LOG_DESTINATION_CLOUDFLARE)
    return send_ingest(p, auth, b, timeout_ms);
  return send_grpc(p, auth, b, deadline_ms);
}

/* Primary, then (on a failure that is not a rejection) the fallback. */
static cf_batch_outcome send_batch(confidence_provider *p, const int dest[2], size_t n_dest, const cf_batch *b,
                                   uint32_t timeout_ms, int64_t deadline_ms)
{
  cf_batch_outcome out = send_to(p, dest[0], b, timeout_ms, deadline_ms);
  if ((out == CF_BATCH_FAILED || out == CF_BATCH_UNCERTAIN) && n_dest > 1) {
    cf_batch_outcome second = send_to(p, dest[1], b, timeout_ms, deadline_ms);
    if (second == CF_BATCH_DELIVERED && out == CF_BATCH_UNCERTAIN)
      cf_flag_log_count_resent(p->flag_log, b->n_events); /* the primary may have it too */
    out = second == CF_BATCH_FAILED && out == CF_BATCH_UNCERTAIN ? out : second;
  }
  return out;
}

int cf_provider_send_aborted(void *provider)
{
  confidence_provider *p = provider;
  return cf_clock_ms() >= atomic_load(&p->send_abort_at);
}

/* Sends batches until none is left or one fails. p->ship_mu held. */
static int ship_locked(confidence_provider *p, uint32_t timeout_ms, int64_t deadline_ms, bool from_thread)
{
  int dest[2] = {CONFIDENCE_LOG_DESTINATION_EDGE, 0};
  pthread_mutex_lock(&p->mu);
  size_t n_dest = p->n_log_dest ? p->n_log_dest : 1;
  if (p->n_log_dest)
    memcpy(dest, p->log_dest, sizeof dest);
  pthread_mutex_unlock(&p->mu);
  cf_batch b;
  while (!(from_thread && stopping(p)) && cf_flag_log_take(p->flag_log, &b)) {
    cf_batch_outcome out = send_batch(p, dest, n_dest, &b, timeout_ms, deadline_ms);
    size_t n_events = b.n_events;
    cf_flag_log_batch_done(p->flag_log, &b, out);
    if (out == CF_BATCH_REJECTED) {
      cf_provider_log(p, CONFIDENCE_LOG_ERROR, "the server refused a flag log batch as invalid: %zu exposure "
                      "events dropped (counted in exposures_rejected)", n_events);
      continue;
    }
    if (out != CF_BATCH_DELIVERED) {
      pthread_mutex_lock(&p->mu);
      p->send_failures++;
      pthread_mutex_unlock(&p->mu);
      return CONFIDENCE_ENETWORK;
    }
    cf_provider_log(p, CONFIDENCE_LOG_DEBUG, "sent a flag log batch with %zu exposure events", n_events);
  }
  return 0;
}

/* Publishes track events (provider_tracking.c) with the flag logs' retry
 * policy and delivery deadline. */
static int ship_events(confidence_provider *p, int64_t deadline_ms)
{
  retry_clock clock = {p, deadline_ms};
  cf_retry_policy retry = {3, 1000, 10000, 2.0, retry_sleep, &clock};
  return cf_provider_ship_events(p, cf_deadline_timeout_ms(deadline_ms, cf_provider_delivery_deadline_ms(p)), &retry);
}

int cf_provider_ship(confidence_provider *p, uint32_t timeout_ms, int64_t deadline_ms, bool from_thread)
{
  /* One batch in flight at a time; at shutdown, wait for a sender thread
   * still finishing only until the deadline. */
  if (deadline_ms == CF_NO_DEADLINE) {
    pthread_mutex_lock(&p->ship_mu);
  } else {
    struct timespec until = cf_deadline_abstime(deadline_ms, CF_CLOCK_REALTIME);
    if (pthread_mutex_timedlock(&p->ship_mu, &until) != 0)
      return CONFIDENCE_ETIMEDOUT;
  }
  cf_net_set_abort(cf_provider_send_aborted, p);
  int rc = ship_locked(p, timeout_ms, deadline_ms, from_thread);
  int events_rc = ship_events(p, deadline_ms); /* track events ride with every ship */
  rc = rc ? rc : events_rc;
  cf_net_set_abort(NULL, NULL);
  pthread_mutex_unlock(&p->ship_mu);
  return rc;
}

/* Background threads yield to evaluating threads when CPU is short (Linux
 * per-thread nice; failure is harmless). */
static void lower_priority(void) { setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 5); }

/* Asks the sender to ship before its interval when the exposure or the
 * event queue is half full: sending early beats dropping. */
static void ship_early_if_half_full(confidence_provider *p)
{
  cf_flag_log_stats ls;
  cf_flag_log_stats_get(p->flag_log, &ls);
  if (!cf_half_full(ls.queued, p->max_queued) && !cf_event_log_half_full(p->events))
    return;
  pthread_mutex_lock(&p->mu);
  if (!p->ship_soon) {
    p->ship_soon = true;
    pthread_cond_broadcast(&p->cond);
  }
  pthread_mutex_unlock(&p->mu);
}

void cf_provider_drain_soon(confidence_provider *p)
{
  if (pthread_mutex_trylock(&p->mu) != 0)
    return;
  atomic_store(&p->drain_soon, true);
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->mu);
}

void *cf_provider_drain_main(void *arg)
{
  confidence_provider *p = arg;
  lower_priority();
  for (;;) {
    atomic_store(&p->drain_soon, false);
    uint64_t fill = cf_slots_drain(p);
    cf_reclaim_states(p);
    ship_early_if_half_full(p);
    /* Busy rings (over 128 records since the last pass: 2,560 evaluations/s
     * and up) are drained again soon, in small passes that a drainer short
     * of CPU still finishes long before a ring fills; quiet ones every 50 ms,
     * unless a burst fills a ring past its mark first (ring_push). */
    uint32_t pause = fill > CF_SLOT_RING / 64 ? BUSY_DRAIN_INTERVAL_MS : DRAIN_INTERVAL_MS;
    int64_t deadline = cf_deadline_in(pause);
    pthread_mutex_lock(&p->mu);
    while (!p->stopping && !atomic_load(&p->drain_soon) && cf_deadline_left_ms(deadline) > 0)
      cf_provider_wait_once(p, deadline);
    bool stopping = p->stopping;
    pthread_mutex_unlock(&p->mu);
    if (stopping)
      return NULL; /* shutdown drains one last time itself */
  }
}

void *cf_provider_send_main(void *arg)
{
  confidence_provider *p = arg;
  lower_priority();
  int64_t next_ship = cf_clock_ms(); /* the first flush happens right away */
  bool last_ok = true;               /* a failing sink is not hammered early */
  for (;;) {
    pthread_mutex_lock(&p->mu);
    while (!p->stopping && p->flush_requested == p->flush_done && !(p->ship_soon && last_ok) &&
           cf_clock_ms() < next_ship)
      cf_provider_wait_once(p, next_ship);
    bool stopping = p->stopping;
    uint64_t want = p->flush_requested;
    p->ship_soon = false;
    pthread_mutex_unlock(&p->mu);
    if (stopping)
      return NULL; /* the final flush is done by shutdown itself */
    if (want != p->flush_done) /* "everything queued so far" includes the rings */
      cf_slots_drain(p);
    int rc = cf_provider_ship(p, p->http_timeout_ms, CF_NO_DEADLINE, true);
    last_ok = rc == 0;
    next_ship = cf_deadline_in(p->log_poll_ms);
    pthread_mutex_lock(&p->mu);
    if (want != p->flush_done) {
      p->flush_done = want;
      p->flush_result = rc;
      pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->mu);
  }
}
