/* The provider's materialization loop (RESOLVER_SPEC.md §3.2, §5, §6.5):
 * resolve in discovery mode, read what the suspended resolve asks for in
 * one batch, resume with the answers, hand the assignments to one batched
 * write (inline or through the bounded writer queue). Also the batch
 * object stores answer through, and the store counters. */
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

#define DEFAULT_READ_MS 2000
#define DEFAULT_WRITE_MS 5000
#define DEFAULT_MAX_QUEUED 10000

static const size_t STORE_SIZES[CONFIDENCE_STORE_VERSION] = {sizeof(confidence_store)};
static const size_t STATS_SIZES[CONFIDENCE_STORE_STATS_VERSION] = {sizeof(confidence_store_stats)};

struct confidence_store_batch {
  bool is_read;
  size_t count;
  const confidence_store_read_op *const *ops; /* reads only */
  char **variants;                            /* reads: owned copies, NULL = none */
  unsigned char *included;
  int64_t deadline_ns;
  char error[CF_STORE_MSG];
};

/* One asynchronous write: the ops and every string in one allocation. */
typedef struct write_job {
  struct write_job *next;
  size_t count;
  const confidence_store_write_op **ptrs;
} write_job;

struct cf_store_ctx {
  confidence_store vt; /* the accepted vtable (copied; the user's stays valid until free) */
  uint32_t read_ms, write_ms, max_queued;
  bool async;
  _Atomic uint64_t reads, read_failures, read_timeouts, writes, write_failures, writes_dropped;
  pthread_mutex_t mu; /* the queue and the writer's life */
  pthread_cond_t cond;
  write_job *head, *tail;
  size_t queued;
  bool writer_started, stopping;
  pthread_t writer;
};

/* ---- the batch (public: confidence/sys/store.h) ---------------------------- */

int confidence_store_batch_set_variant(confidence_store_batch *b, size_t i, const char *variant)
{
  if (!b || !b->is_read || i >= b->count || b->ops[i]->kind != CONFIDENCE_STORE_OP_VARIANT_READ)
    return cf_error(CONFIDENCE_EINVAL, "not a variant read of this batch");
  char *copy = variant && *variant ? strdup(variant) : NULL;
  if (variant && *variant && !copy)
    return cf_error(CONFIDENCE_ENOMEM, "out of memory");
  free(b->variants[i]);
  b->variants[i] = copy;
  return 0;
}

int confidence_store_batch_set_included(confidence_store_batch *b, size_t i, int included)
{
  if (!b || !b->is_read || i >= b->count || b->ops[i]->kind != CONFIDENCE_STORE_OP_INCLUSION_READ)
    return cf_error(CONFIDENCE_EINVAL, "not an inclusion read of this batch");
  b->included[i] = included != 0;
  return 0;
}

void confidence_store_batch_set_error(confidence_store_batch *b, const char *message)
{
  if (b && message)
    snprintf(b->error, sizeof b->error, "%s", message);
}

uint32_t confidence_store_batch_timeout_ms(const confidence_store_batch *b)
{
  if (!b)
    return 0;
  int64_t left = (b->deadline_ns - cf_clock_mono_ns()) / 1000000;
  return left <= 0 ? 0 : left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

void confidence_store_free(confidence_store *store)
{
  if (store && store->free)
    store->free(store->user_data);
}

/* ---- options and life ---------------------------------------------------- */

int cf_provider_store_validate(const confidence_provider_options *o)
{
  if (o->version < 4 || (!o->materialization_store && !o->use_remote_materialization_store))
    return 0;
  if (o->materialization_store && o->use_remote_materialization_store)
    return cf_error(CONFIDENCE_EINVAL, "materialization_store and use_remote_materialization_store are exclusive");
  const confidence_store *s = o->materialization_store;
  if (s && cf_check_version(s->version, CONFIDENCE_STORE_VERSION, "confidence_store"))
    return CONFIDENCE_EINVAL;
  if (s && !s->read)
    return cf_error(CONFIDENCE_EINVAL, "materialization_store needs read");
  return 0;
}

cf_store_ctx *cf_store_ctx_new(const confidence_store *vt, const confidence_provider_options *o)
{
  cf_store_ctx *c = calloc(1, sizeof *c);
  if (!c) {
    confidence_store_free((confidence_store *)vt);
    return NULL;
  }
  memcpy(&c->vt, vt, STORE_SIZES[vt->version - 1]);
  c->read_ms = o->materialization_read_timeout_ms ? o->materialization_read_timeout_ms : DEFAULT_READ_MS;
  c->write_ms = o->materialization_write_timeout_ms ? o->materialization_write_timeout_ms : DEFAULT_WRITE_MS;
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
  if (c->vt.free)
    c->vt.free(c->vt.user_data);
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
    s.reads = atomic_load(&c->reads);
    s.read_failures = atomic_load(&c->read_failures);
    s.read_timeouts = atomic_load(&c->read_timeouts);
    s.writes = atomic_load(&c->writes);
    s.write_failures = atomic_load(&c->write_failures);
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

/* One write call within the write timeout; failures are only counted. */
static void write_now(cf_store_ctx *c, const confidence_store_write_op *const *ops, size_t count)
{
  confidence_store_batch b = {.count = count, .deadline_ns = cf_clock_mono_ns() + (int64_t)c->write_ms * 1000000};
  atomic_fetch_add_explicit(&c->writes, 1, memory_order_relaxed);
  int rc = c->vt.write(ops, count, &b, c->vt.user_data);
  if (rc != 0 || cf_clock_mono_ns() > b.deadline_ns)
    atomic_fetch_add_explicit(&c->write_failures, 1, memory_order_relaxed);
}

static char *put_str(char **cursor, const char *s, size_t n)
{
  char *out = *cursor;
  memcpy(out, s, n);
  out[n] = '\0';
  *cursor += n + 1;
  return out;
}

/* A job holding copies of the result's writes (the state and the result
 * may be gone by the time the writer gets to it). */
static write_job *job_new(const confidence_resolve_result *res, size_t n)
{
  size_t bytes = sizeof(write_job) + n * (sizeof(confidence_store_write_op *) + sizeof(confidence_store_write_op));
  for (size_t i = 0; i < n; i++) {
    const confidence_materialization_record *r = confidence_resolve_result_write_at(res, i);
    bytes += r->unit_len + strlen(r->materialization) + strlen(r->rule) + strlen(r->variant) + 4;
  }
  write_job *j = malloc(bytes);
  if (!j)
    return NULL;
  j->next = NULL;
  j->count = n;
  j->ptrs = (const confidence_store_write_op **)(j + 1);
  confidence_store_write_op *ops = (confidence_store_write_op *)(j->ptrs + n);
  char *cursor = (char *)(ops + n);
  for (size_t i = 0; i < n; i++) {
    const confidence_materialization_record *r = confidence_resolve_result_write_at(res, i);
    ops[i].unit = put_str(&cursor, r->unit, r->unit_len);
    ops[i].unit_len = r->unit_len;
    ops[i].materialization = put_str(&cursor, r->materialization, strlen(r->materialization));
    ops[i].rule = put_str(&cursor, r->rule, strlen(r->rule));
    ops[i].variant = put_str(&cursor, r->variant, strlen(r->variant));
    j->ptrs[i] = &ops[i];
  }
  return j;
}

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
      give_up_ns = cf_clock_mono_ns() + (int64_t)c->write_ms * 1000000;
    if (!c->head || cf_clock_mono_ns() > give_up_ns)
      break;
    write_job *j = c->head;
    c->head = j->next;
    if (!c->head)
      c->tail = NULL;
    pthread_mutex_unlock(&c->mu);
    write_now(c, j->ptrs, j->count);
    free(j);
    pthread_mutex_lock(&c->mu);
    c->queued--;
  }
  atomic_fetch_add_explicit(&c->writes_dropped, c->queued, memory_order_relaxed); /* left at free */
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* Queues the writes; false when they were dropped (queue full, no thread). */
static bool enqueue(cf_store_ctx *c, const confidence_resolve_result *res, size_t n)
{
  write_job *j = job_new(res, n);
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

static void write_results(cf_store_ctx *c, const confidence_resolve_result *res)
{
  size_t n = confidence_resolve_result_write_count(res);
  if (n == 0 || !c->vt.write)
    return; /* nothing assigned, or a read-only store */
  if (c->async) {
    enqueue(c, res, n);
    return;
  }
  write_job *j = job_new(res, n); /* the same copies: records are views into `res` */
  if (!j) {
    atomic_fetch_add_explicit(&c->write_failures, 1, memory_order_relaxed);
    return;
  }
  write_now(c, j->ptrs, j->count);
  free(j);
}

/* ---- the read and the resume ---------------------------------------------- */

/* One read's working memory: ops with copies of the units, the answers,
 * and the records they become. */
typedef struct read_scratch {
  confidence_store_read_op *ops;
  const confidence_store_read_op **ptrs;
  char **variants;
  unsigned char *included;
  confidence_materialization_record *records;
  char *units;
} read_scratch;

static void scratch_free(read_scratch *s, size_t n)
{
  for (size_t i = 0; s->variants && i < n; i++)
    free(s->variants[i]);
  free(s->ops);
  free(s->ptrs);
  free(s->variants);
  free(s->included);
  free(s->records);
  free(s->units);
}

static bool scratch_new(read_scratch *s, const confidence_resolve_result *res, size_t n)
{
  size_t unit_bytes = 0;
  for (size_t i = 0; i < n; i++)
    unit_bytes += confidence_resolve_result_read_at(res, i)->unit_len + 1;
  s->ops = calloc(n, sizeof *s->ops);
  s->ptrs = calloc(n, sizeof *s->ptrs);
  s->variants = calloc(n, sizeof *s->variants);
  s->included = calloc(n, 1);
  s->records = calloc(n, sizeof *s->records);
  s->units = malloc(unit_bytes);
  if (!s->ops || !s->ptrs || !s->variants || !s->included || !s->records || !s->units)
    return false;
  char *cursor = s->units;
  for (size_t i = 0; i < n; i++) {
    const confidence_materialization_record *r = confidence_resolve_result_read_at(res, i);
    confidence_store_read_op *op = &s->ops[i];
    op->kind = *r->rule ? CONFIDENCE_STORE_OP_VARIANT_READ : CONFIDENCE_STORE_OP_INCLUSION_READ;
    op->unit = put_str(&cursor, r->unit, r->unit_len);
    op->unit_len = r->unit_len;
    op->materialization = r->materialization; /* in the state: alive while the caller holds it */
    op->rule = r->rule;
    s->ptrs[i] = op;
  }
  return true;
}

/* Answers -> resume records (§5 mapping): a variant read with a variant,
 * an inclusion read that is included; everything else is absent. */
static size_t to_records(read_scratch *s, size_t n)
{
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const confidence_store_read_op *op = &s->ops[i];
    bool variant_read = op->kind == CONFIDENCE_STORE_OP_VARIANT_READ;
    if (variant_read ? !s->variants[i] : !s->included[i])
      continue;
    s->records[k++] = (confidence_materialization_record){op->unit, op->materialization, op->rule,
                                                          variant_read ? s->variants[i] : "", op->unit_len};
  }
  return k;
}

static int read_and_resume(cf_store_ctx *c, const confidence_state *st, const confidence_resolve_request *req,
                           confidence_resolve_result *res, char *msg)
{
  size_t n = confidence_resolve_result_read_count(res);
  read_scratch s = {0};
  if (!scratch_new(&s, res, n)) {
    scratch_free(&s, n);
    snprintf(msg, CF_STORE_MSG, "out of memory reading materializations");
    return CF_STORE_FAILED;
  }
  confidence_store_batch b = {true, n, s.ptrs, s.variants, s.included,
                              cf_clock_mono_ns() + (int64_t)c->read_ms * 1000000, ""};
  atomic_fetch_add_explicit(&c->reads, 1, memory_order_relaxed);
  int rc = c->vt.read(s.ptrs, n, &b, c->vt.user_data);
  bool late = cf_clock_mono_ns() > b.deadline_ns;
  if (rc != 0 || late) {
    atomic_fetch_add_explicit(&c->read_failures, 1, memory_order_relaxed);
    if (late || rc == CONFIDENCE_ETIMEDOUT)
      atomic_fetch_add_explicit(&c->read_timeouts, 1, memory_order_relaxed);
    if (late && rc == 0)
      snprintf(msg, CF_STORE_MSG, "materialization store read timed out after %u ms", c->read_ms);
    else
      snprintf(msg, CF_STORE_MSG, "materialization store read failed: %s",
               *b.error ? b.error : confidence_strerror(rc));
    scratch_free(&s, n);
    return CF_STORE_FAILED;
  }
  rc = confidence_resolve_resume(st, req, s.records, to_records(&s, n), res);
  scratch_free(&s, n);
  return rc;
}

int cf_provider_store_resolve(confidence_provider *p, const confidence_state *st, confidence_resolve_request *req,
                              confidence_resolve_result *res, char *msg)
{
  return cf_store_ctx_resolve(p->store, st, req, res, msg);
}

int cf_store_ctx_resolve(cf_store_ctx *c, const confidence_state *st, confidence_resolve_request *req,
                         confidence_resolve_result *res, char *msg)
{
  req->materialization_mode = CONFIDENCE_MATERIALIZATIONS_DISCOVER;
  int rc = confidence_resolve(st, req, res);
  if (rc == 0 && confidence_resolve_result_suspended(res)) {
    rc = read_and_resume(c, st, req, res, msg);
    if (rc == 0 && confidence_resolve_result_suspended(res)) { /* a resume answers in complete mode */
      snprintf(msg, CF_STORE_MSG, "Unexpected second suspend after resume");
      rc = CF_STORE_FAILED;
    }
  }
  if (rc == 0)
    write_results(c, res);
  return rc;
}
