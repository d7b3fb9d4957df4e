/* The materialization loop and the store batch (see store_loop.h). */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "store_loop.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "error.h"
#include "util.h"

#define DEFAULT_READ_MS 2000
#define DEFAULT_WRITE_MS 5000

static const size_t STORE_SIZES[CONFIDENCE_STORE_VERSION] = {sizeof(confidence_store)};

struct confidence_store_batch {
  bool is_read;
  size_t count;
  const confidence_store_read_op *const *ops; /* reads only */
  char **variants;                            /* reads: owned copies, NULL = none */
  unsigned char *included;
  int64_t deadline_ns;
  char error[CF_STORE_MSG];
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

int cf_store_loop_init(cf_store_loop *l, const confidence_store *vt, uint32_t read_ms, uint32_t write_ms)
{
  if (!vt || cf_check_version(vt->version, CONFIDENCE_STORE_VERSION, "confidence_store"))
    return vt ? CONFIDENCE_EINVAL : cf_error(CONFIDENCE_EINVAL, "no store");
  if (!vt->read)
    return cf_error(CONFIDENCE_EINVAL, "materialization_store needs read");
  memset(l, 0, sizeof *l);
  memcpy(&l->vt, vt, STORE_SIZES[vt->version - 1]);
  l->read_ms = read_ms ? read_ms : DEFAULT_READ_MS;
  l->write_ms = write_ms ? write_ms : DEFAULT_WRITE_MS;
  return 0;
}

/* ---- writes ---------------------------------------------------------------- */

static char *put_str(char **cursor, const char *s, size_t n)
{
  char *out = *cursor;
  memcpy(out, s, n);
  out[n] = '\0';
  *cursor += n + 1;
  return out;
}

cf_store_writes *cf_store_writes_new(const confidence_resolve_result *res)
{
  size_t n = confidence_resolve_result_write_count(res);
  size_t bytes = sizeof(cf_store_writes) + n * (sizeof(confidence_store_write_op *) + sizeof(confidence_store_write_op));
  for (size_t i = 0; i < n; i++) {
    const confidence_materialization_record *r = confidence_resolve_result_write_at(res, i);
    bytes += r->unit_len + strlen(r->materialization) + strlen(r->rule) + strlen(r->variant) + 4;
  }
  cf_store_writes *j = malloc(bytes);
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

void cf_store_write_now(cf_store_loop *l, const cf_store_writes *w)
{
  confidence_store_batch b = {.count = w->count, .deadline_ns = cf_clock_mono_ns() + (int64_t)l->write_ms * 1000000};
  atomic_fetch_add_explicit(&l->counts.writes, 1, memory_order_relaxed);
  int rc = l->vt.write(w->ptrs, w->count, &b, l->vt.user_data);
  if (rc != 0 || cf_clock_mono_ns() > b.deadline_ns)
    atomic_fetch_add_explicit(&l->counts.write_failures, 1, memory_order_relaxed);
}

static void write_inline(cf_store_loop *l, const confidence_resolve_result *res)
{
  cf_store_writes *w = cf_store_writes_new(res); /* the ops the store takes */
  if (!w) {
    atomic_fetch_add_explicit(&l->counts.write_failures, 1, memory_order_relaxed);
    return;
  }
  cf_store_write_now(l, w);
  free(w);
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

static int read_and_resume(cf_store_loop *c, const confidence_state *st, const confidence_resolve_request *req,
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
  atomic_fetch_add_explicit(&c->counts.reads, 1, memory_order_relaxed);
  int rc = c->vt.read(s.ptrs, n, &b, c->vt.user_data);
  bool late = cf_clock_mono_ns() > b.deadline_ns;
  if (rc != 0 || late) {
    atomic_fetch_add_explicit(&c->counts.read_failures, 1, memory_order_relaxed);
    if (late || rc == CONFIDENCE_ETIMEDOUT)
      atomic_fetch_add_explicit(&c->counts.read_timeouts, 1, memory_order_relaxed);
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

int cf_store_loop_resolve(cf_store_loop *l, const confidence_state *st, confidence_resolve_request *req,
                          confidence_resolve_result *res, char *msg, cf_store_write_fn write, void *write_ctx)
{
  req->materialization_mode = CONFIDENCE_MATERIALIZATIONS_DISCOVER;
  int rc = confidence_resolve(st, req, res);
  if (rc == 0 && confidence_resolve_result_suspended(res)) {
    rc = read_and_resume(l, st, req, res, msg);
    if (rc == 0 && confidence_resolve_result_suspended(res)) { /* a resume answers in complete mode */
      snprintf(msg, CF_STORE_MSG, "Unexpected second suspend after resume");
      rc = CF_STORE_FAILED;
    }
  }
  if (rc != 0 || confidence_resolve_result_write_count(res) == 0 || !l->vt.write)
    return rc; /* failed, nothing assigned, or a read-only store */
  if (write)
    write(write_ctx, res);
  else
    write_inline(l, res);
  return 0;
}
