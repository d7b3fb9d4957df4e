/* Segment matching: Kleene three-valued expressions over criteria, the
 * context-value coercions of spec 3.7 and the operators of spec 3.9, nested
 * segments with per-path cycle detection, bitsets and bloom filters.
 * Conversions are done lazily per element so no allocation is needed. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "murmur3.h"
#include "resolve_internal.h"

static const cf_str NULL_TEXT = {"null", 4};

int cf_fatal(cf_eval *ev, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ev->res->error, sizeof ev->res->error, fmt, ap);
  va_end(ap);
  return CF_ERR_FATAL;
}

/* ---- hashing -------------------------------------------------------------- */

uint64_t cf_unit_bucket(const cf_str *prefix, const cf_unit *unit, uint64_t n)
{
  char stackbuf[512];
  size_t len = (size_t)prefix->len + unit->len;
  char *key = len <= sizeof stackbuf ? stackbuf : malloc(len);
  uint64_t h1, h2;
  if (!key) { /* hash the prefix alone rather than crash; out of memory */
    cf_murmur3_128(prefix->s, prefix->len, &h1, &h2);
    return cf_bucket(h1, n);
  }
  memcpy(key, prefix->s, prefix->len);
  memcpy(key + prefix->len, unit->text, unit->len);
  cf_murmur3_128(key, len, &h1, &h2);
  if (key != stackbuf)
    free(key);
  return cf_bucket(h1, n);
}

static bool bit_at(const uint8_t *bits, uint64_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }

/* Guava BloomFilter MURMUR128_MITZ_64 membership of the unsalted unit. */
static bool bloom_contains(const cf_bloom *b, const cf_unit *unit)
{
  if (b->num_bits == 0)
    return false;
  uint64_t h1, h2;
  cf_murmur3_128(unit->text, unit->len, &h1, &h2);
  uint64_t combined = h1;
  for (uint32_t i = 0; i < b->k; i++) {
    uint64_t idx = (combined & 0x7fffffffffffffffULL) % b->num_bits;
    if (idx >= b->n_bytes * 8 || !bit_at(b->bits, idx))
      return false;
    combined += h2;
  }
  return true;
}

/* ---- context access ------------------------------------------------------- */

/* ---- typed conversion (spec 3.7) ----------------------------------------- */

/* A context scalar converted to the rule's expected type. `num` holds the
 * text of a number converted to a string. */
typedef struct conv {
  cf_tval v;
  char num[CF_NUMBUF];
} conv;

static void set_null_text(cf_tval *v)
{
  v->kind = CF_TV_STRING;
  v->s = NULL_TEXT;
}

/* Converts a non-list context value (NULL = absent). */
static void convert_scalar(const confidence_value *e, unsigned char expect, conv *out)
{
  cf_tval *v = &out->v;
  memset(v, 0, sizeof *v);
  set_null_text(v);
  if (!e)
    return;
  switch ((confidence_value_type)e->type) {
  case CONFIDENCE_VALUE_NUMBER:
    if (expect == CF_TV_NUMBER) {
      v->kind = CF_TV_NUMBER;
      v->n = e->u.n;
    } else if (expect == CF_TV_STRING) {
      size_t len = cf_fmt_f64(e->u.n, out->num);
      v->s = (cf_str){out->num, (uint32_t)len};
    } else if (expect == CF_TV_TIMESTAMP && cf_epoch_to_time(e->u.n, &v->ts)) {
      v->kind = CF_TV_TIMESTAMP;
    }
    break;
  case CONFIDENCE_VALUE_STRING: {
    const char *s = e->u.s.ptr;
    size_t len = e->u.s.len;
    if (expect == CF_TV_BOOL) {
      v->kind = CF_TV_BOOL;
      v->b = cf_parse_bool(s, len);
    } else if (expect == CF_TV_NUMBER) {
      v->kind = CF_TV_NUMBER;
      cf_parse_f64(s, len, &v->n); /* validated up front by numbers_parse */
    } else if (expect == CF_TV_STRING) {
      v->s = (cf_str){s, (uint32_t)len};
    } else if (expect == CF_TV_TIMESTAMP) {
      if (cf_parse_timestamp(s, len, &v->ts))
        v->kind = CF_TV_TIMESTAMP;
    } else if (expect == CF_TV_VERSION) {
      v->kind = CF_TV_VERSION;
      v->s = (cf_str){s, (uint32_t)len};
      cf_parse_version(s, len, v->ver);
    }
    break;
  }
  case CONFIDENCE_VALUE_BOOL:
    if (expect == CF_TV_BOOL) {
      v->kind = CF_TV_BOOL;
      v->b = e->u.b;
    }
    break;
  default: /* null, struct */
    break;
  }
}

/* The reference converts the whole value before evaluating, and a string
 * that is not a Rust float fails the whole resolve under a numeric rule. */
static bool parses_as_f64(const char *s, size_t len)
{
  double d;
  return cf_parse_f64(s, len, &d);
}

/* Iterative: a context can nest lists deeper than the C stack. */
static bool numbers_parse(const confidence_value *v) { return cf_value_strings_all(v, parses_as_f64); }

/* ---- comparisons (spec 3.9) ----------------------------------------------- */

static int cmp_bytes(cf_str a, cf_str b)
{
  size_t n = a.len < b.len ? a.len : b.len;
  int r = n ? memcmp(a.s, b.s, n) : 0;
  return r ? r : (a.len > b.len) - (a.len < b.len);
}

static bool scalar_eq(const cf_tval *a, const cf_tval *b)
{
  if (a->kind != b->kind)
    return false;
  switch (a->kind) {
  case CF_TV_UNSET: return true;
  case CF_TV_BOOL: return a->b == b->b;
  case CF_TV_NUMBER: return a->n == b->n;
  case CF_TV_STRING:
  case CF_TV_VERSION: return a->s.len == b->s.len && cmp_bytes(a->s, b->s) == 0;
  case CF_TV_TIMESTAMP: return a->ts.secs == b->ts.secs && a->ts.nanos == b->ts.nanos;
  default: return false;
  }
}

/* -1, 0, 1, or 2 when the pair does not compare (different kinds, bools,
 * lists, unset). */
static int scalar_cmp(const cf_tval *a, const cf_tval *b)
{
  if (a->kind != b->kind)
    return 2;
  switch (a->kind) {
  case CF_TV_NUMBER:
    if (a->n < b->n)
      return -1;
    if (a->n > b->n)
      return 1;
    return a->n == b->n ? 0 : 2;
  case CF_TV_STRING: {
    int r = cmp_bytes(a->s, b->s);
    return (r > 0) - (r < 0);
  }
  case CF_TV_TIMESTAMP:
    if (a->ts.secs != b->ts.secs)
      return a->ts.secs < b->ts.secs ? -1 : 1;
    return (a->ts.nanos > b->ts.nanos) - (a->ts.nanos < b->ts.nanos);
  case CF_TV_VERSION:
    for (int i = 0; i < 4; i++)
      if (a->ver[i] != b->ver[i])
        return a->ver[i] < b->ver[i] ? -1 : 1;
    return 0;
  default:
    return 2;
  }
}

/* A context element (already-known list or scalar) equals a targeting value. */
static bool elem_eq(const confidence_value *e, unsigned char expect, const cf_tval *t)
{
  if (e && e->type == CONFIDENCE_VALUE_LIST) {
    if (t->kind != CF_TV_LIST || t->n_items != e->u.list.n)
      return false;
    for (size_t i = 0; i < e->u.list.n; i++)
      if (!elem_eq(e->u.list.items[i], expect, &t->items[i]))
        return false;
    return true;
  }
  conv c;
  convert_scalar(e, expect, &c);
  return scalar_eq(&c.v, t);
}

static bool in_range(const cf_tval *v, const cf_op *op)
{
  if (op->start) {
    int r = scalar_cmp(op->start, v);
    if (r == 2 || r > 0 || (r == 0 && !op->start_inclusive))
      return false;
  }
  if (op->end) {
    int r = scalar_cmp(v, op->end);
    if (r == 2 || r > 0 || (r == 0 && !op->end_inclusive))
      return false;
  }
  return true;
}

static bool text_match(const cf_op *op, cf_str s)
{
  cf_str p = op->text;
  if (p.len > s.len)
    return false;
  switch (op->kind) {
  case CF_OP_STARTS_WITH: return memcmp(s.s, p.s, p.len) == 0;
  case CF_OP_ENDS_WITH: return memcmp(s.s + s.len - p.len, p.s, p.len) == 0;
  default:
    if (p.len == 0)
      return true;
    for (size_t i = 0; i + p.len <= s.len; i++)
      if (s.s[i] == p.s[0] && memcmp(s.s + i, p.s, p.len) == 0)
        return true;
    return false;
  }
}

/* One element against a single (inner or top-level) rule in typed mode. */
static int typed_elem(const cf_op *op, const confidence_value *e, unsigned char expect)
{
  switch (op->kind) {
  case CF_OP_EQ:
    if (!op->eq)
      return CF_ERR_UNRECOGNIZED;
    return elem_eq(e, expect, op->eq);
  case CF_OP_SET:
    for (uint32_t i = 0; i < op->n_set; i++)
      if (elem_eq(e, expect, &op->set[i]))
        return CF_TRUE;
    return CF_FALSE;
  case CF_OP_RANGE: {
    /* 0.23.1: a range with no bounds matches nothing, null and lists too. */
    if (!op->start && !op->end)
      return CF_FALSE;
    if (e && e->type == CONFIDENCE_VALUE_LIST) /* lists never compare */
      return CF_FALSE;
    conv c;
    convert_scalar(e, expect, &c);
    return in_range(&c.v, op);
  }
  case CF_OP_STARTS_WITH:
  case CF_OP_ENDS_WITH:
  case CF_OP_CONTAINS: {
    if (e && e->type == CONFIDENCE_VALUE_LIST)
      return CF_FALSE;
    conv c;
    convert_scalar(e, expect, &c);
    return c.v.kind == CF_TV_STRING && text_match(op, c.v.s);
  }
  default:
    return CF_ERR_UNRECOGNIZED;
  }
}

/* Strict string conversion: strings stay strings, anything else becomes a
 * placeholder that matches nothing. */
static int strict_elem(const cf_op *op, const confidence_value *e)
{
  if (!e || e->type != CONFIDENCE_VALUE_STRING)
    return CF_FALSE;
  return text_match(op, (cf_str){e->u.s.ptr, (uint32_t)e->u.s.len});
}

static bool is_nullish(const confidence_value *v) { return !v || v->type == CONFIDENCE_VALUE_NULL; }

/* 0.26.1's top-level `eq <unset>` ("is null"): missing, null, or a list with
 * a null element; lists are not looked into further. */
static bool is_null_match(const confidence_value *v)
{
  if (is_nullish(v))
    return true;
  if (v->type == CONFIDENCE_VALUE_LIST)
    for (size_t i = 0; i < v->u.list.n; i++)
      if (v->u.list.items[i]->type == CONFIDENCE_VALUE_NULL)
        return true;
  return false;
}

/* Evaluates a rule over the context values C (spec 3.7 step 2). */
static int eval_over(const cf_crit *cr, const confidence_value *v)
{
  const cf_op *op = &cr->op;
  bool is_list = v && v->type == CONFIDENCE_VALUE_LIST;
  size_t n = is_list ? v->u.list.n : 1;
  bool any = op->kind != CF_OP_ALL;
  if (op->kind == CF_OP_EQ && op->eq && op->eq->kind == CF_TV_UNSET)
    return is_null_match(v);
  if (!any && is_nullish(v))
    n = 0; /* 0.23.1: `all` over a missing or null attribute is vacuously true */
  const cf_op *elem_op = op;
  if (op->kind == CF_OP_ANY || op->kind == CF_OP_ALL) {
    if (!op->inner)
      return CF_ERR_UNRECOGNIZED;
    elem_op = op->inner;
  } else if (op->kind == CF_OP_UNSET || (op->kind == CF_OP_EQ && !op->eq)) {
    return CF_ERR_UNRECOGNIZED;
  }
  /* Strict mode wraps a non-string scalar into [placeholder]. */
  for (size_t i = 0; i < n; i++) {
    const confidence_value *e = is_list ? v->u.list.items[i] : v;
    int r = cr->strict ? strict_elem(elem_op, e) : typed_elem(elem_op, e, cr->expect);
    if (r < 0)
      return r;
    if (any && r == CF_TRUE)
      return CF_TRUE;
    if (!any && r == CF_FALSE)
      return CF_FALSE;
  }
  return any ? CF_FALSE : CF_TRUE;
}

static int eval_attribute(cf_eval *ev, const cf_crit *cr)
{
  const confidence_value *v = cf_eval_path(ev, cr->path, cr->n_path);
  if (!cr->strict && cr->expect == CF_TV_NUMBER && !numbers_parse(v)) {
    CF_TRACE(ev, .kind = CF_TRACE_CRITERION, .crit = cr, .value = v, .result = CF_ERR_FATAL, .depth = ev->depth);
    return cf_fatal(ev, "internal error: context attribute '%s' is not a number", cr->path[0].s);
  }
  int r = eval_over(cr, v);
  CF_TRACE(ev, .kind = CF_TRACE_CRITERION, .crit = cr, .value = v, .result = r, .depth = ev->depth);
  return r;
}

size_t cf_coerced_text(const cf_crit *cr, const confidence_value *e, char *buf, size_t cap)
{
  if (!cap)
    return 0;
  if (e && e->type == CONFIDENCE_VALUE_LIST)
    return (size_t)snprintf(buf, cap, "(a list: not compared)");
  if (cr->strict) {
    if (e && e->type == CONFIDENCE_VALUE_STRING)
      return (size_t)snprintf(buf, cap, "string \"%s\"", e->u.s.ptr);
    return (size_t)snprintf(buf, cap, "(not a string: matches nothing)");
  }
  conv c;
  convert_scalar(e, cr->expect, &c);
  const cf_tval *v = &c.v;
  switch (v->kind) {
  case CF_TV_BOOL: return (size_t)snprintf(buf, cap, "bool %s", v->b ? "true" : "false");
  case CF_TV_NUMBER: {
    char num[CF_NUMBUF];
    cf_fmt_f64(v->n, num);
    return (size_t)snprintf(buf, cap, "number %s", num);
  }
  case CF_TV_STRING: return (size_t)snprintf(buf, cap, "string \"%.*s\"", (int)v->s.len, v->s.s);
  case CF_TV_VERSION:
    return (size_t)snprintf(buf, cap, "version %llu.%llu.%llu", (unsigned long long)v->ver[0],
                            (unsigned long long)v->ver[1], (unsigned long long)v->ver[2]);
  case CF_TV_TIMESTAMP:
    return (size_t)snprintf(buf, cap, "timestamp %lld s %d ns", (long long)v->ts.secs, (int)v->ts.nanos);
  default: return (size_t)snprintf(buf, cap, "(no value of the expected type)");
  }
}

/* ---- materializations (spec 3.2) ---------------------------------------- */

bool cf_record_unit_is(const confidence_materialization_record *r, const cf_unit *u)
{
  size_t len = r->unit_len ? r->unit_len : strlen(r->unit);
  return len == u->len && memcmp(r->unit, u->text, len) == 0;
}

static int add_read(cf_eval *ev, cf_str mat, const cf_unit *unit, cf_str rule)
{
  confidence_resolve_result *res = ev->res;
  for (size_t i = 0; i < res->reads.n; i++) {
    const cf_mat_entry *m = &res->reads.items[i];
    if (m->unit_len == unit->len && memcmp(m->unit, unit->text, unit->len) == 0 &&
        cf_str_eq(m->materialization, mat.s, mat.len) && cf_str_eq(m->rule, rule.s, rule.len))
      return CF_UNKNOWN;
  }
  cf_mat_entry *m = CF_VEC_PUSH(res->reads);
  if (!m)
    return cf_fatal(ev, "out of memory");
  memcpy(m->unit, unit->text, unit->len + 1);
  m->unit_len = unit->len;
  m->materialization = mat;
  m->rule = rule;
  m->variant = (cf_str){"", 0};
  return CF_UNKNOWN;
}

int cf_mat_inclusion(cf_eval *ev, cf_str mat, const cf_unit *unit)
{
  switch (ev->mode) {
  case CONFIDENCE_MATERIALIZATIONS_STATIC:
    for (size_t i = 0; i < ev->n_records; i++) {
      const confidence_materialization_record *r = &ev->records[i];
      if (r->unit && r->materialization && cf_record_unit_is(r, unit) && strcmp(r->materialization, mat.s) == 0)
        return CF_TRUE;
    }
    return CF_FALSE;
  case CONFIDENCE_MATERIALIZATIONS_DISCOVER:
    return add_read(ev, mat, unit, (cf_str){"", 0});
  default:
    return CF_ERR_MAT_UNSUPPORTED;
  }
}

int cf_mat_rule(cf_eval *ev, cf_str mat, const cf_unit *unit, cf_str rule)
{
  switch (ev->mode) {
  case CONFIDENCE_MATERIALIZATIONS_STATIC:
    for (size_t i = 0; i < ev->n_records; i++) {
      const confidence_materialization_record *r = &ev->records[i];
      if (r->unit && r->materialization && r->rule && cf_record_unit_is(r, unit) &&
          strcmp(r->materialization, mat.s) == 0 && strcmp(r->rule, rule.s) == 0)
        return CF_TRUE;
    }
    return CF_FALSE;
  case CONFIDENCE_MATERIALIZATIONS_DISCOVER:
    return add_read(ev, mat, unit, rule);
  default:
    return CF_ERR_MAT_UNSUPPORTED;
  }
}

/* ---- expressions and segments (spec 3.6) -------------------------------- */

static int segment_match_path(cf_eval *ev, const cf_segment *seg, const cf_unit *unit);

static int eval_criterion(cf_eval *ev, const cf_crit *cr, const cf_unit *unit)
{
  switch (cr->kind) {
  case CF_CRIT_ATTRIBUTE:
    return eval_attribute(ev, cr);
  case CF_CRIT_SEGMENT: {
    if (!cr->segment)
      return CF_FALSE;
    /* Each nested evaluation sees a copy of the current path: restoring the
     * depth afterwards gives exactly that. */
    int saved = ev->depth;
    int r = segment_match_path(ev, cr->segment, unit);
    ev->depth = saved;
    return r;
  }
  case CF_CRIT_MATSEG: {
    int r = !unit->present ? CF_FALSE : cr->bloom ? bloom_contains(cr->bloom, unit) : cf_mat_inclusion(ev, cr->matseg, unit);
    CF_TRACE(ev, .kind = CF_TRACE_MATSEG, .crit = cr, .unit = unit, .result = r, .depth = ev->depth);
    return r;
  }
  default:
    return CF_FALSE;
  }
}

static int eval_expr(cf_eval *ev, const cf_expr *ex, const cf_unit *unit)
{
  switch (ex->kind) {
  case CF_EX_CRIT:
    return eval_criterion(ev, ex->crit, unit);
  case CF_EX_NOT: {
    int r = eval_expr(ev, &ex->kids[0], unit);
    if (r < 0 || r == CF_UNKNOWN)
      return r;
    return r == CF_TRUE ? CF_FALSE : CF_TRUE;
  }
  case CF_EX_AND:
  case CF_EX_OR: {
    bool is_and = ex->kind == CF_EX_AND;
    bool unknown = false;
    for (uint32_t i = 0; i < ex->n_kids; i++) {
      int r = eval_expr(ev, &ex->kids[i], unit);
      if (r < 0)
        return r;
      if (is_and && r == CF_FALSE)
        return CF_FALSE;
      if (!is_and && r == CF_TRUE)
        return CF_TRUE;
      unknown |= r == CF_UNKNOWN;
    }
    if (unknown)
      return CF_UNKNOWN;
    return is_and ? CF_TRUE : CF_FALSE;
  }
  default:
    return CF_FALSE;
  }
}

static int segment_match_path(cf_eval *ev, const cf_segment *seg, const cf_unit *unit)
{
  for (int i = 0; i < ev->depth; i++)
    if (ev->path[i] == seg)
      return CF_FALSE; /* a cycle on the current path */
  if (ev->depth >= CF_MAX_SEGMENT_DEPTH) {
    ev->fatal_code = CONFIDENCE_ELIMIT;
    return cf_fatal(ev, "segments nest deeper than %d levels", CF_MAX_SEGMENT_DEPTH);
  }
  if (++ev->segment_evals > CF_MAX_SEGMENT_EVALS) {
    ev->fatal_code = CONFIDENCE_ELIMIT;
    return cf_fatal(ev, "targeting evaluates more than %d segments", CF_MAX_SEGMENT_EVALS);
  }
  ev->path[ev->depth++] = seg;
  int t = seg->expr ? eval_expr(ev, seg->expr, unit) : CF_TRUE;
  /* ev->depth is back to this segment's level + 1 (nested ones restore it). */
  if (t <= CF_FALSE || !seg->bits) {
    CF_TRACE(ev, .kind = CF_TRACE_SEGMENT, .segment = seg, .unit = unit, .result = t, .depth = ev->depth - 1,
             .bit = -1, .bit_ok = true);
    return t;
  }
  int64_t bit = unit->present ? (int64_t)cf_unit_bucket(&ev->st->salt_key, unit, 1000000) : -1;
  bool ok = bit >= 0 ? (uint64_t)bit < seg->n_bits && bit_at(seg->bits, (uint64_t)bit) : seg->all_ones;
  CF_TRACE(ev, .kind = CF_TRACE_SEGMENT, .segment = seg, .unit = unit, .result = t, .depth = ev->depth - 1,
           .bit = bit, .bit_ok = ok);
  return ok ? t : CF_FALSE;
}

int cf_segment_match(cf_eval *ev, const cf_segment *seg, const cf_unit *unit)
{
  ev->depth = 0;
  return segment_match_path(ev, seg, unit);
}

int cf_targeting_match(cf_eval *ev, const cf_segment *seg, const cf_unit *unit)
{
  ev->depth = 0;
  if (!seg->expr)
    return CF_TRUE;
  /* The segment itself is not on the path here (reference: empty visited). */
  int t = eval_expr(ev, seg->expr, unit);
  CF_TRACE(ev, .kind = CF_TRACE_SEGMENT, .segment = seg, .unit = unit, .result = t, .depth = 0, .bit = -1,
           .bit_ok = true, .note = "targeting only (sticky assignment)");
  return t;
}
