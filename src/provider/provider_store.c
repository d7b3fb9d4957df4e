/* The provider's side of materializations: the configured store around
 * the core loop (store_loop.c), its writes inline or through a bounded,
 * counted writer queue on a thread of its own, the store counters, and
 * fork handling of that thread. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "error.h"
#include "provider_internal.h"
#include "confidence/store.h"

#define DEFAULT_MAX_QUEUED 10000

static const size_t STATS_SIZES[CONFIDENCE_STORE_STATS_VERSION] = {sizeof(confidence_store_stats)};

typedef cf_store_writes write_job; /* one queued write */

struct cf_store_ctx {
  cf_store_loop loop; /* the vtable, timeouts and read/write counters */
  uint32_t max_queued;
  bool async;
  _Atomic uint64_t writes_dropped;
  pthread_mutex_t mu; /* the queue and the writer's life */
  pthread_cond_t cond;
  write_job *head, *tail;
  size_t queued;
  bool writer_started, stopping;
  pthread_t writer;
};

/* ---- options and life ---------------------------------------------------- */

int cf_provider_store_validate(const confidence_provider_options *o)
{
  if (o->version < 4 || (!o->materialization_store && !o->use_remote_materialization_store))
    return 0;
  if (o->materialization_store && o->use_remote_materialization_store)
    return cf_error(CONFIDENCE_EINVAL, "materialization_store and use_remote_materialization_store are exclusive");
  cf_store_loop probe;
  return o->materialization_store ? cf_store_loop_init(&probe, o->materialization_store, 0, 0) : 0;
}

cf_store_ctx *cf_store_ctx_new(const confidence_store *vt, const confidence_provider_options *o)
{
  cf_store_ctx *c = calloc(1, sizeof *c);
  if (!c) {
    confidence_store_free((confidence_store *)vt);
    return NULL;
  }
  if (cf_store_loop_init(&c->loop, vt, o->materialization_read_timeout_ms, o->materialization_write_timeout_ms)) {
    confidence_store_free((confidence_store *)vt);
    free(c);
    return NULL;
  }
  c->async = o->async_materialization_writes != 0;
  c->max_queued = o->max_queued_materialization_writes ? o->max_queued_materialization_writes : DEFAULT_MAX_QUEUED;
  pthread_mutex_init(&c->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cond, &ca);
  pthread_condattr_destroy(&ca);
  return c;
}

int cf_provider_store_init(confidence_provider *p, const confidence_provider_options *o)
{
  p->store = NULL;
  if (o->version < 4 || (!o->materialization_store && !o->use_remote_materialization_store))
    return 0;
  confidence_store remote;
  if (!o->materialization_store)
    cf_store_remote_init(&remote, p);
  p->store = cf_store_ctx_new(o->materialization_store ? o->materialization_store : &remote, o);
  return p->store ? 0 : CONFIDENCE_ENOMEM;
}

void cf_provider_store_free(confidence_provider *p)
{
  cf_store_ctx_free(p->store);
  p->store = NULL;
}

void cf_store_ctx_free(cf_store_ctx *c)
{
  if (!c)
    return;
  pthread_mutex_lock(&c->mu);
  c->stopping = true;
  bool started = c->writer_started;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->mu);
  if (started)
    pthread_join(c->writer, NULL);
  for (write_job *j = c->head, *next; j; j = next) { /* the writer left these */
    next = j->next;
    free(j);
  }
  if (c->loop.vt.free)
    c->loop.vt.free(c->loop.vt.user_data);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cond);
  free(c);
}

/* ---- fork (provider_fork.c) ------------------------------------------------- */

void cf_store_ctx_lock_for_fork(cf_store_ctx *c)
{
  if (c)
    pthread_mutex_lock(&c->mu);
}

void cf_store_ctx_unlock_after_fork(cf_store_ctx *c)
{
  if (c)
    pthread_mutex_unlock(&c->mu);
}

/* The child has no writer thread: forget it (the next queued write starts
 * one) and the parent's queued jobs, which the parent's writer delivers. */
void cf_store_ctx_after_fork_child(cf_store_ctx *c)
{
  if (!c)
    return;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cond, NULL);
  for (write_job *j = c->head, *next; j; j = next) {
    next = j->next;
    free(j);
  }
  c->head = c->tail = NULL;
  c->queued = 0;
  c->writer_started = false;
}

int confidence_provider_read_store_stats(const confidence_provider *p, confidence_store_stats *out)
{
  if (!out)
    return cf_error(CONFIDENCE_EINVAL, "out must not be NULL");
  unsigned version = out->version;
  if (cf_check_version(version, CONFIDENCE_STORE_STATS_VERSION, "confidence_store_stats"))
    return CONFIDENCE_EINVAL;
  if (!p)
    return cf_error(CONFIDENCE_EINVAL, "provider is NULL");
  confidence_store_stats s = {CONFIDENCE_STORE_STATS_VERSION};
  cf_store_ctx *c = p->store;
  if (c) {
    s.reads = atomic_load(&c->loop.counts.reads);
    s.read_failures = atomic_load(&c->loop.counts.read_failures);
    s.read_timeouts = atomic_load(&c->loop.counts.read_timeouts);
    s.writes = atomic_load(&c->loop.counts.writes);
    s.write_failures = atomic_load(&c->loop.counts.write_failures);
    s.writes_dropped = atomic_load(&c->writes_dropped);
    pthread_mutex_lock(&c->mu);
    s.writes_queued = c->queued;
    pthread_mutex_unlock(&c->mu);
  }
  memcpy(out, &s, STATS_SIZES[version - 1]);
  out->version = version;
  return 0;
}

/* ---- writes ---------------------------------------------------------------- */

/* The writer thread: one job at a time, outside the lock. Once the
 * provider is being freed it gets one write timeout for what is left. */
static void *writer_main(void *arg)
{
  cf_store_ctx *c = arg;
  int64_t give_up_ns = INT64_MAX;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    while (!c->head && !c->stopping)
      pthread_cond_wait(&c->cond, &c->mu);
    if (c->stopping && give_up_ns == INT64_MAX)
      give_up_ns = cf_clock_mono_ns() + (int64_t)c->loop.write_ms * 1000000;
    if (!c->head || cf_clock_mono_ns() > give_up_ns)
      break;
    write_job *j = c->head;
    c->head = j->next;
    if (!c->head)
      c->tail = NULL;
    pthread_mutex_unlock(&c->mu);
    cf_store_write_now(&c->loop, j);
    free(j);
    pthread_mutex_lock(&c->mu);
    c->queued--;
  }
  atomic_fetch_add_explicit(&c->writes_dropped, c->queued, memory_order_relaxed); /* left at free */
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* Queues the writes; false when they were dropped (queue full, no thread). */
static bool enqueue(cf_store_ctx *c, const confidence_resolve_result *res)
{
  write_job *j = cf_store_writes_new(res);
  pthread_mutex_lock(&c->mu);
  bool ok = j && !c->stopping && c->queued < c->max_queued;
  if (ok && !c->writer_started)
    ok = c->writer_started = pthread_create(&c->writer, NULL, writer_main, c) == 0;
  if (ok) {
    if (c->tail)
      c->tail->next = j;
    else
      c->head = j;
    c->tail = j;
    c->queued++;
    pthread_cond_signal(&c->cond);
  }
  pthread_mutex_unlock(&c->mu);
  if (!ok) {
    free(j);
    atomic_fetch_add_explicit(&c->writes_dropped, 1, memory_order_relaxed);
  }
  return ok;
}

/* The loop's write hook for asynchronous writes: queue them. */
static void queue_writes(void *ctx, const confidence_resolve_result *res) { enqueue(ctx, res); }

int cf_provider_store_resolve(confidence_provider *p, const confidence_state *st, confidence_resolve_request *req,
                              confidence_resolve_result *res, char *msg)
{
  return cf_store_ctx_resolve(p->store, st, req, res, msg);
}

int cf_store_ctx_resolve(cf_store_ctx *c, const confidence_state *st, confidence_resolve_request *req,
                         confidence_resolve_result *res, char *msg)
{
  return cf_store_loop_resolve(&c->loop, st, req, res, msg, c->async ? queue_writes : NULL, c);
}
