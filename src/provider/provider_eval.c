/* The evaluation path: OpenFeature-shaped typed getters over the resolver.
 * Lock-free against state swaps (hazard pointer in the thread's slot), no
 * I/O, no logging, no allocation in the common case; each evaluation hands
 * one exposure record to the log thread through the slot's ring. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "proto/confidence/flags/resolver/v1/types.pb-c.h"
#include "provider_internal.h"
#include "utf8.h"

/* Latency is measured for one evaluation in this many, schemas derived
 * for one in SCHEMA_SAMPLE: both cost more than the resolve itself. */
#define LATENCY_SAMPLE 16
#define SCHEMA_SAMPLE 256
#define MAX_FLAG_NAME 512

/* Reasons only telemetry knows: failures the provider detects around the resolver. */
#define TELEMETRY_TYPE_MISMATCH CONFIDENCE__FLAGS__RESOLVER__V1__RESOLVE_REASON__RESOLVE_REASON_TYPE_MISMATCH
#define TELEMETRY_FLAG_NOT_FOUND CONFIDENCE__FLAGS__RESOLVER__V1__RESOLVE_REASON__RESOLVE_REASON_FLAG_NOT_FOUND

static const char SKIP_APPLY_KEY[] = "_confidence_skip_apply";

/* ---- details ---------------------------------------------------------------- */

typedef struct text {
  char *s;
  size_t cap;
} text;

struct confidence_details {
  text flag_key, variant, message, rule, segment, assignment_id;
  int reason, error_code;
  bool value_is_default; /* the getter returned the caller's default */
  confidence_value *metadata; /* built lazily */
};

static void text_set(text *t, const char *s, size_t n)
{
  if (n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 32;
    while (cap < n + 1)
      cap *= 2;
    char *p = realloc(t->s, cap);
    if (!p) { /* keep the old buffer; an empty string is the safe answer */
      if (t->s)
        t->s[0] = '\0';
      return;
    }
    t->s = p;
    t->cap = cap;
  }
  memcpy(t->s, s, n);
  t->s[n] = '\0';
}

static void text_cstr(text *t, const char *s) { text_set(t, s, strlen(s)); }
static void text_str(text *t, cf_str s) { text_set(t, s.s, s.len); }

static void text_clear(text *t)
{
  if (t->s)
    t->s[0] = '\0';
}
static const char *text_get(const text *t) { return t->s ? t->s : ""; }

confidence_details *confidence_details_new(void)
{
  confidence_details *d = calloc(1, sizeof(confidence_details));
  if (d)
    d->value_is_default = true; /* nothing evaluated yet */
  return d;
}

void confidence_details_free(confidence_details *d)
{
  if (!d)
    return;
  free(d->flag_key.s);
  free(d->variant.s);
  free(d->message.s);
  free(d->rule.s);
  free(d->segment.s);
  free(d->assignment_id.s);
  confidence_value_free(d->metadata);
  free(d);
}

const char *confidence_details_flag_key(const confidence_details *d) { return d ? text_get(&d->flag_key) : ""; }
int confidence_details_reason(const confidence_details *d) { return d ? d->reason : CONFIDENCE_EVAL_REASON_UNKNOWN; }
int confidence_details_error_code(const confidence_details *d) { return d ? d->error_code : 0; }
const char *confidence_details_error_message(const confidence_details *d) { return d ? text_get(&d->message) : ""; }
const char *confidence_details_variant(const confidence_details *d) { return d ? text_get(&d->variant) : ""; }
int confidence_details_value_is_default(const confidence_details *d) { return d ? d->value_is_default : 1; }
const char *confidence_details_rule(const confidence_details *d) { return d ? text_get(&d->rule) : ""; }
const char *confidence_details_segment(const confidence_details *d) { return d ? text_get(&d->segment) : ""; }
const char *confidence_details_assignment_id(const confidence_details *d)
{
  return d ? text_get(&d->assignment_id) : "";
}

const confidence_value *confidence_details_metadata(const confidence_details *d)
{
  if (!d)
    return NULL;
  confidence_details *m = (confidence_details *)d; /* lazily built cache */
  if (!m->metadata) {
    m->metadata = confidence_value_new_struct();
    if (m->metadata) {
      if (m->rule.s && *m->rule.s)
        confidence_value_struct_set(m->metadata, "rule", confidence_value_new_string(m->rule.s));
      if (m->segment.s && *m->segment.s)
        confidence_value_struct_set(m->metadata, "segment", confidence_value_new_string(m->segment.s));
      if (m->assignment_id.s && *m->assignment_id.s)
        confidence_value_struct_set(m->metadata, "assignment_id", confidence_value_new_string(m->assignment_id.s));
    }
  }
  return m->metadata;
}

static void details_reset(confidence_details *d, const char *flag_key)
{
  text_cstr(&d->flag_key, flag_key ? flag_key : "");
  text_clear(&d->variant);
  text_clear(&d->message);
  text_clear(&d->rule);
  text_clear(&d->segment);
  text_clear(&d->assignment_id);
  d->reason = CONFIDENCE_EVAL_REASON_UNKNOWN;
  d->error_code = CONFIDENCE_EVAL_ERROR_CODE_NONE;
  d->value_is_default = true;
  if (d->metadata) {
    confidence_value_free(d->metadata);
    d->metadata = NULL;
  }
}

const char *confidence_eval_reason_name(int reason)
{
  static const char *const names[] = {"UNKNOWN", "TARGETING_MATCH", "DEFAULT", "DISABLED", "STALE",
                                      "ERROR",   "STATIC",          "SPLIT",   "CACHED"};
  return reason >= 0 && reason < (int)(sizeof names / sizeof names[0]) ? names[reason] : "UNKNOWN";
}

const char *confidence_eval_error_code_name(int code)
{
  static const char *const names[] = {"NONE",          "PROVIDER_NOT_READY",    "FLAG_NOT_FOUND",
                                      "PARSE_ERROR",   "TYPE_MISMATCH",         "TARGETING_KEY_MISSING",
                                      "INVALID_CONTEXT", "PROVIDER_FATAL",      "GENERAL"};
  return code >= 0 && code < (int)(sizeof names / sizeof names[0]) ? names[code] : "GENERAL";
}

/* ---- one evaluation ---------------------------------------------------------- */

typedef enum want { WANT_BOOL, WANT_INT, WANT_DOUBLE, WANT_STRING, WANT_OBJECT } want;

typedef struct outcome {
  const confidence_value *value; /* borrowed from the state; valid while the hazard is held */
  int reason, error_code;
  const char *message;
  char message_buf[256];
} outcome;

static int map_reason(int resolver_reason)
{
  switch (resolver_reason) {
  case CONFIDENCE_RESOLVE_REASON_MATCH: return CONFIDENCE_EVAL_REASON_TARGETING_MATCH;
  case CONFIDENCE_RESOLVE_REASON_NO_SEGMENT_MATCH: return CONFIDENCE_EVAL_REASON_DEFAULT;
  case CONFIDENCE_RESOLVE_REASON_FLAG_ARCHIVED: return CONFIDENCE_EVAL_REASON_DISABLED;
  case CONFIDENCE_RESOLVE_REASON_TARGETING_KEY_ERROR:
  case CONFIDENCE_RESOLVE_REASON_ERROR:
  case CONFIDENCE_RESOLVE_REASON_UNRECOGNIZED_TARGETING_RULE:
  case CONFIDENCE_RESOLVE_REASON_MATERIALIZATION_NOT_SUPPORTED: return CONFIDENCE_EVAL_REASON_ERROR;
  default: return CONFIDENCE_EVAL_REASON_UNKNOWN;
  }
}

static void fail(outcome *o, int code, const char *fmt, const char *a, const char *b)
{
  o->value = NULL;
  o->reason = CONFIDENCE_EVAL_REASON_ERROR;
  o->error_code = code;
  snprintf(o->message_buf, sizeof o->message_buf, fmt, a, b);
  o->message = o->message_buf;
}

static bool type_ok(const confidence_value *v, want w)
{
  switch (w) {
  case WANT_BOOL: return v->type == CONFIDENCE_VALUE_BOOL;
  case WANT_STRING: return v->type == CONFIDENCE_VALUE_STRING;
  case WANT_DOUBLE: return v->type == CONFIDENCE_VALUE_NUMBER;
  case WANT_INT:
    return v->type == CONFIDENCE_VALUE_NUMBER && v->u.n == trunc(v->u.n) && v->u.n >= -9223372036854775808.0 &&
           v->u.n < 9223372036854775808.0;
  default: return v->type == CONFIDENCE_VALUE_STRUCT;
  }
}

static const char *type_name(want w)
{
  static const char *const names[] = {"bool", "integer", "double", "string", "object"};
  return names[w];
}

/* A struct view of the caller's context without the skip-apply key (only
 * built when the key is there: the one allocation on this path). */
typedef struct context_view {
  confidence_value value;
  cf_field *fields;
} context_view;

static const confidence_value *strip_skip_apply(const confidence_value *ctx, bool *skip, context_view *view)
{
  const confidence_value *flag = cf_value_get(ctx, SKIP_APPLY_KEY, sizeof SKIP_APPLY_KEY - 1);
  if (!flag)
    return ctx;
  *skip = flag->type == CONFIDENCE_VALUE_BOOL && flag->u.b;
  view->fields = malloc(ctx->u.obj.n * sizeof *view->fields);
  if (!view->fields)
    return ctx; /* resolve with the key rather than fail */
  size_t n = 0;
  for (size_t i = 0; i < ctx->u.obj.n; i++)
    if (ctx->u.obj.fields[i].value != flag)
      view->fields[n++] = ctx->u.obj.fields[i];
  view->value.type = CONFIDENCE_VALUE_STRUCT;
  view->value.u.obj.fields = view->fields;
  view->value.u.obj.n = view->value.u.obj.cap = n;
  return &view->value;
}

/* ---- UTF-8 (strings sent to Confidence must be valid) ------------------------ */

#define UTF8_MAX_DEPTH 64

/* True when every key and string in the context is valid UTF-8. A walk
 * with a fixed stack (no allocation); deeper nesting counts as invalid. */
static bool context_utf8_ok(const confidence_value *ctx)
{
  struct frame {
    const confidence_value *v;
    size_t next;
  } stack[UTF8_MAX_DEPTH];
  size_t depth = 0;
  stack[depth++] = (struct frame){ctx, 0};
  while (depth) {
    struct frame *f = &stack[depth - 1];
    const confidence_value *v = f->v, *child = NULL;
    if (v->type == CONFIDENCE_VALUE_STRUCT && f->next < v->u.obj.n) {
      const cf_field *fl = &v->u.obj.fields[f->next++];
      if (!cf_utf8_valid(fl->key, fl->key_len))
        return false;
      child = fl->value;
    } else if (v->type == CONFIDENCE_VALUE_LIST && f->next < v->u.list.n) {
      child = v->u.list.items[f->next++];
    } else {
      depth--;
      continue;
    }
    if (!child)
      continue;
    if (child->type == CONFIDENCE_VALUE_STRING && !cf_utf8_valid(child->u.s.ptr, child->u.s.len))
      return false;
    if (child->type == CONFIDENCE_VALUE_STRUCT || child->type == CONFIDENCE_VALUE_LIST) {
      if (depth == UTF8_MAX_DEPTH)
        return false;
      stack[depth++] = (struct frame){child, 0};
    }
  }
  return true;
}

/* Records past this many waiting in a ring wake the drainer early: a burst
 * after a quiet spell (the drainer pausing 50 ms) would fill a ring of
 * 8,192 in 12 ms at 700,000 evaluations a second. */
#define DRAIN_SOON_MARK (CF_SLOT_RING / 4)

static bool ring_push(confidence_provider *p, cf_slot *slot, const cf_exposure *e)
{
  uint64_t head = atomic_load_explicit(&slot->head, memory_order_relaxed);
  uint64_t tail = atomic_load_explicit(&slot->tail, memory_order_acquire);
  uint64_t skip = atomic_load_explicit(&slot->skip_from, memory_order_relaxed); /* our own store */
  /* Left early, the old lap holds no record: only the new one's count. */
  uint64_t oldest = tail == skip ? cf_slot_next_lap_start(skip) : tail;
  if (head - oldest >= CF_SLOT_RING) {
    atomic_fetch_add_explicit(e->apply ? &slot->dropped : &slot->counts_dropped, 1, memory_order_relaxed);
    return false;
  }
  uint64_t waiting = head - oldest + 1;
  if (head == tail && head % CF_SLOT_RING >= CF_SLOT_REWIND) {
    /* Empty: start the next lap now. Published by the head store below. */
    atomic_store_explicit(&slot->skip_from, head, memory_order_relaxed);
    head = cf_slot_next_lap_start(head);
    waiting = 1;
  }
  slot->ring[head % CF_SLOT_RING] = *e;
  atomic_store_explicit(&slot->head, head + 1, memory_order_release);
  if (waiting >= DRAIN_SOON_MARK && !atomic_load_explicit(&p->drain_soon, memory_order_relaxed))
    cf_provider_drain_soon(p);
  return true;
}

/* The exposure record for this evaluation (fallthroughs copied out). */
static void record(confidence_provider *p, cf_slot *slot, const confidence_resolved_flag *f,
                   const confidence_value *ctx, bool apply, int telemetry_reason, int64_t started_ns, uint64_t n)
{
  cf_exposure e;
  memset(&e, 0, offsetof(cf_exposure, key));
  e.cred = slot->res->cred;
  e.apply = apply && !p->disable_exposures;
  e.telemetry_reason = telemetry_reason;
  e.latency_us = UINT32_MAX;
  e.time_ns = cf_clock_wall_ns();
  e.key[0] = '\0';
  e.key_len = 0;
  e.fts = NULL;
  e.n_fts = 0;
  e.schema = NULL;
  if (f) {
    e.flag = f->flag;
    e.variant = f->variant;
    e.rule = f->rule;
    e.segment = f->segment;
    e.assignment_id = f->assignment_id;
    e.reason = f->reason;
    e.resolved = true;
    e.should_apply = confidence_resolved_flag_should_apply(f);
    memcpy(e.key, f->key, f->key_len + 1);
    e.key_len = f->key_len;
    if (f->ft_count) {
      e.fts = malloc(f->ft_count * sizeof *e.fts);
      for (uint32_t i = 0; e.fts && i < f->ft_count; i++) {
        const cf_ft_entry *ft = &slot->res->fallthroughs.items[f->ft_start + i];
        e.fts[i].rule = ft->rule;
        e.fts[i].assignment_id = ft->assignment_id;
        memcpy(e.fts[i].key, ft->key, ft->key_len + 1);
        e.fts[i].key_len = ft->key_len;
      }
      e.n_fts = e.fts ? f->ft_count : 0;
    }
  }
  if (n % SCHEMA_SAMPLE == 0 && e.cred)
    e.schema = cf_schema_derive(ctx);
  if (started_ns) {
    int64_t us = (cf_clock_mono_ns() - started_ns) / 1000;
    e.latency_us = us < 0 ? 0 : (us > (int64_t)UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)us);
  }
  cf_slot_metrics_count(&slot->metrics, telemetry_reason, e.latency_us); /* metrics */
  if (!ring_push(p, slot, &e)) {
    free(e.fts);
    cf_schema_free(e.schema);
  }
}

/* "[flags/]name.path.to.value": the flag is everything before the first
 * dot (flag names have none). Writes "flags/name" into `name` and returns
 * the path after the dot (NULL for none), or sets the failure. */
static bool parse_flag_key(const char *flag_key, char name[MAX_FLAG_NAME + 7], const char **path, outcome *o)
{
  if (strncmp(flag_key, "flags/", 6) == 0)
    flag_key += 6;
  const char *dot = strchr(flag_key, '.');
  size_t name_len = dot ? (size_t)(dot - flag_key) : strlen(flag_key);
  if (name_len == 0 || name_len > MAX_FLAG_NAME) {
    fail(o, CONFIDENCE_EVAL_ERROR_CODE_FLAG_NOT_FOUND, "Flag '%s' not found%s", flag_key, "");
    return false;
  }
  memcpy(name, "flags/", 6);
  memcpy(name + 6, flag_key, name_len);
  name[6 + name_len] = '\0';
  *path = dot ? dot + 1 : NULL;
  return true;
}

/* Turns a resolved flag into the OpenFeature outcome: reason, error code
 * and the value at `path` if it has the wanted type. Returns the reason
 * telemetry registers. */
static int map_resolved(confidence_provider *p, const confidence_resolved_flag *f, const char *name,
                        const char *path, const confidence_value *ctx, want w, outcome *o)
{
  if (f->reason == CONFIDENCE_RESOLVE_REASON_MATERIALIZATION_NOT_SUPPORTED) {
    fail(o, CONFIDENCE_EVAL_ERROR_CODE_GENERAL, "Flag '%s' requires materializations. Configure a materialization store.%s",
         name + 6, "");
    return f->reason;
  }
  o->reason = map_reason(f->reason);
  if (f->reason == CONFIDENCE_RESOLVE_REASON_TARGETING_KEY_ERROR) {
    bool has_key = ctx && cf_value_get(ctx, "targeting_key", 13);
    o->error_code = has_key ? CONFIDENCE_EVAL_ERROR_CODE_INVALID_CONTEXT : CONFIDENCE_EVAL_ERROR_CODE_TARGETING_KEY_MISSING;
    snprintf(o->message_buf, sizeof o->message_buf, "invalid or missing targeting key for flag '%s'", name + 6);
    o->message = o->message_buf;
  }
  if (!f->variant)
    return f->reason;
  /* Walk the path: every piece must be a struct key (lists are not indexable). */
  const confidence_value *v = f->variant->value;
  for (const char *piece = path; piece && v;) {
    const char *next = strchr(piece, '.');
    size_t plen = next ? (size_t)(next - piece) : strlen(piece);
    v = cf_value_get(v, piece, plen);
    piece = next ? next + 1 : NULL;
  }
  if (!v) {
    fail(o, CONFIDENCE_EVAL_ERROR_CODE_FLAG_NOT_FOUND, "Path '%s' not found in flag '%s'", path, name + 6);
    return TELEMETRY_FLAG_NOT_FOUND;
  }
  if (v->type != CONFIDENCE_VALUE_NULL && !type_ok(v, w)) {
    fail(o, CONFIDENCE_EVAL_ERROR_CODE_TYPE_MISMATCH, "Value is not %s%s", type_name(w), "");
    return TELEMETRY_TYPE_MISMATCH;
  }
  if (v->type != CONFIDENCE_VALUE_NULL) {
    o->value = v; /* a schema-filled null falls back to the default */
    if (atomic_load_explicit(&p->status, memory_order_relaxed) == CONFIDENCE_STATUS_STALE)
      o->reason = CONFIDENCE_EVAL_REASON_STALE;
  }
  return f->reason;
}

/* Copies, with the lengths the state knows: it may be freed later. The
 * variant names the value returned (OpenFeature), so an error result, which
 * returns the caller's default, has none. */
static void details_copy_flag(confidence_details *d, const confidence_resolved_flag *f, bool error)
{
  if (f->variant && !error)
    text_str(&d->variant, f->variant->name);
  if (f->rule)
    text_str(&d->rule, f->rule->name);
  if (f->segment)
    text_str(&d->segment, f->segment->name);
  text_str(&d->assignment_id, f->assignment_id);
}

/* Resolves `flag_key` and extracts the value of the wanted type. The
 * caller holds the hazard for `st` until it has copied what it needs. */
static void evaluate(confidence_provider *p, cf_slot *slot, const confidence_state *st, const char *flag_key,
                     const confidence_value *context, want w, outcome *o, confidence_details *d, uint64_t n)
{
  int64_t started = n % LATENCY_SAMPLE == 0 ? cf_clock_mono_ns() : 0;
  memset(o, 0, offsetof(outcome, message_buf));
  char name[MAX_FLAG_NAME + 7];
  const char *path = NULL;
  if (!parse_flag_key(flag_key, name, &path, o))
    return;
  if (context && context->type != CONFIDENCE_VALUE_STRUCT) {
    fail(o, CONFIDENCE_EVAL_ERROR_CODE_INVALID_CONTEXT, "The evaluation context must be a struct%s%s", "", "");
    return;
  }
  /* Its strings reach Confidence (targeting keys, schema paths), which
   * refuses a batch holding invalid UTF-8: such a context gets nowhere. */
  if (context && !context_utf8_ok(context)) {
    fail(o, CONFIDENCE_EVAL_ERROR_CODE_INVALID_CONTEXT, "The evaluation context holds invalid UTF-8%s%s", "", "");
    return;
  }
  bool skip_apply = false;
  context_view view = {0};
  const confidence_value *ctx = context ? strip_skip_apply(context, &skip_apply, &view) : NULL;

  const char *flags[1] = {name};
  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = p->secret;
  req.flags = flags;
  req.flag_count = 1;
  req.context = ctx;
  /* with a materialization store, discover -> read -> resume -> write (provider_store.c) */
  char store_msg[CF_STORE_MSG];
  int rc = p->store ? cf_provider_store_resolve(p, st, &req, slot->res, store_msg) : confidence_resolve(st, &req, slot->res);
  const confidence_resolved_flag *f = rc == 0 ? confidence_resolve_result_flag_at(slot->res, 0) : NULL;
  int telemetry_reason = CONFIDENCE_RESOLVE_REASON_UNSPECIFIED;
  if (rc == CF_STORE_FAILED) { /* the store failed or timed out */
    fail(o, CONFIDENCE_EVAL_ERROR_CODE_GENERAL, "%s%s", store_msg, "");
  } else if (rc != 0) {
    /* The resolver's message for an unknown secret shows some of its
     * characters; details may be logged by the caller, so say it plainly. */
    fail(o, CONFIDENCE_EVAL_ERROR_CODE_GENERAL, "%s%s",
         rc == CONFIDENCE_ESECRET ? "the client secret is not in the flag state"
                                  : confidence_resolve_result_error(slot->res),
         "");
  } else if (!f) {
    fail(o, CONFIDENCE_EVAL_ERROR_CODE_FLAG_NOT_FOUND, "Flag '%s' not found%s", name + 6, "");
    telemetry_reason = TELEMETRY_FLAG_NOT_FOUND;
  } else {
    telemetry_reason = map_resolved(p, f, name, path, ctx, w, o);
  }
  if (d && f)
    details_copy_flag(d, f, o->error_code != 0);
  record(p, slot, rc == 0 ? f : NULL, ctx, !skip_apply && rc == 0, telemetry_reason, started, n);
  free(view.fields);
}

/* Common frame of the typed getters: status check, hazard, evaluate.
 * `copy_out` runs while the state is still protected. */
typedef void (*copy_fn)(const confidence_value *v, void *out);

static void get(confidence_provider *p, const char *flag_key, const confidence_value *context, want w,
                confidence_details *d, copy_fn copy_out, void *out)
{
  if (d)
    details_reset(d, flag_key);
  outcome o;
  memset(&o, 0, offsetof(outcome, message_buf));
  cf_slot *slot = p && flag_key ? cf_provider_slot(p) : NULL;
  confidence_state *st = NULL;
  cf_slot_turn turn = {0};
  uint64_t n = 0;
  if (slot) { /* every evaluation counts, ready or not */
    n = atomic_load_explicit(&slot->evaluations, memory_order_relaxed);
    atomic_store_explicit(&slot->evaluations, n + 1, memory_order_relaxed);
    st = cf_slot_protect(p, slot, true, &turn);
  }
  if (!p || !flag_key) {
    fail(&o, CONFIDENCE_EVAL_ERROR_CODE_GENERAL, "%s%s", !p ? "no provider" : "no flag key", "");
  } else if (!slot || turn.oom) {
    fail(&o, CONFIDENCE_EVAL_ERROR_CODE_GENERAL, "out of memory%s%s", "", "");
  } else if (!st && atomic_load_explicit(&p->status, memory_order_relaxed) == CONFIDENCE_STATUS_FATAL) {
    fail(&o, CONFIDENCE_EVAL_ERROR_CODE_PROVIDER_FATAL, "The provider cannot load a flag state%s%s", "", "");
  } else if (!st) {
    fail(&o, CONFIDENCE_EVAL_ERROR_CODE_PROVIDER_NOT_READY, "The provider has no flag state yet%s%s", "", "");
  } else {
    evaluate(p, slot, st, flag_key, context, w, &o, d, n);
  }
  if (o.value)
    copy_out(o.value, out);
  if (slot)
    cf_slot_unprotect(slot, &turn);
  if (d) {
    d->reason = o.reason;
    d->error_code = o.error_code;
    if (o.message)
      text_cstr(&d->message, o.message);
  }
}

/* What a getter found; `set` stays false when the default applies. */
typedef struct found {
  bool set;
  int b;
  int64_t i;
  double d;
  char *s;
  confidence_value *o;
} found;

/* After the copy, which may fail for want of memory: only then is it known
 * whether the caller gets the flag's value or its own default. */
static void found_done(confidence_details *d, const found *f)
{
  if (d)
    d->value_is_default = !f->set;
}

static void copy_bool(const confidence_value *v, void *out)
{
  ((found *)out)->b = v->u.b;
  ((found *)out)->set = true;
}

static void copy_int(const confidence_value *v, void *out)
{
  ((found *)out)->i = (int64_t)v->u.n;
  ((found *)out)->set = true;
}

static void copy_double(const confidence_value *v, void *out)
{
  ((found *)out)->d = v->u.n;
  ((found *)out)->set = true;
}

static void copy_string(const confidence_value *v, void *out)
{
  found *f = out;
  f->s = malloc(v->u.s.len + 1);
  if (f->s)
    memcpy(f->s, v->u.s.ptr, v->u.s.len + 1);
  f->set = f->s != NULL;
}

static void copy_object(const confidence_value *v, void *out)
{
  found *f = out;
  f->o = confidence_value_copy(v);
  f->set = f->o != NULL;
}

int confidence_provider_get_bool(confidence_provider *p, const char *flag_key, const confidence_value *context,
                                 int default_value, confidence_details *details)
{
  found f = {0};
  get(p, flag_key, context, WANT_BOOL, details, copy_bool, &f);
  found_done(details, &f);
  return f.set ? f.b : default_value;
}

int64_t confidence_provider_get_int(confidence_provider *p, const char *flag_key, const confidence_value *context,
                                    int64_t default_value, confidence_details *details)
{
  found f = {0};
  get(p, flag_key, context, WANT_INT, details, copy_int, &f);
  found_done(details, &f);
  return f.set ? f.i : default_value;
}

double confidence_provider_get_double(confidence_provider *p, const char *flag_key, const confidence_value *context,
                                      double default_value, confidence_details *details)
{
  found f = {0};
  get(p, flag_key, context, WANT_DOUBLE, details, copy_double, &f);
  found_done(details, &f);
  return f.set ? f.d : default_value;
}

char *confidence_provider_get_string(confidence_provider *p, const char *flag_key, const confidence_value *context,
                                     const char *default_value, confidence_details *details)
{
  found f = {0};
  get(p, flag_key, context, WANT_STRING, details, copy_string, &f);
  found_done(details, &f);
  if (f.set)
    return f.s;
  return default_value ? strdup(default_value) : NULL;
}

confidence_value *confidence_provider_get_object(confidence_provider *p, const char *flag_key,
                                                 const confidence_value *context,
                                                 const confidence_value *default_value, confidence_details *details)
{
  found f = {0};
  get(p, flag_key, context, WANT_OBJECT, details, copy_object, &f);
  found_done(details, &f);
  if (f.set)
    return f.o;
  return default_value ? confidence_value_copy(default_value) : NULL;
}

/* ---- hooks for tracking and all-flags (provider_internal.h) ---- */

int cf_provider_eval_context(const confidence_value *context, const confidence_value **ctx_out, bool *skip_apply,
                             void **to_free)
{
  *ctx_out = NULL;
  *skip_apply = false;
  *to_free = NULL;
  if (context && (context->type != CONFIDENCE_VALUE_STRUCT || !context_utf8_ok(context)))
    return CONFIDENCE_EINVAL;
  if (!context)
    return 0;
  context_view *view = calloc(1, sizeof *view);
  if (!view)
    return CONFIDENCE_ENOMEM;
  *ctx_out = strip_skip_apply(context, skip_apply, view);
  if (*ctx_out == context) {
    free(view);
    return 0;
  }
  *to_free = view;
  return 0;
}

void cf_provider_free_context_view(void *view)
{
  if (view)
    free(((context_view *)view)->fields);
  free(view);
}

void cf_provider_record_flag(confidence_provider *p, cf_slot *slot, const confidence_resolved_flag *f,
                             const confidence_value *ctx, bool apply, int64_t started_ns, uint64_t n)
{
  record(p, slot, f, ctx, apply, f->reason, started_ns, n);
}
