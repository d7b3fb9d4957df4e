/* Resolver internals shared by resolve.c (rule loop, results) and
 * targeting.c (segments, criteria, operators). */
#ifndef CF_RESOLVE_INTERNAL_H
#define CF_RESOLVE_INTERNAL_H

#include "confidence/resolve.h"
#include "state_internal.h"
#include "util.h"
#include "value_internal.h"

/* Targeting keys longer than this many bytes are invalid. */
#define CF_MAX_KEY 100
/* Nested segment references followed before the resolve fails. */
#define CF_MAX_SEGMENT_DEPTH 64
/* Segment evaluations per flag: segments referencing a shared segment more
 * than once form a DAG whose evaluation doubles per level. */
#define CF_MAX_SEGMENT_EVALS 100000

/* Tri-state results are >= 0; errors are < 0. */
enum { CF_FALSE = 0, CF_TRUE = 1, CF_UNKNOWN = 2 };
enum {
  CF_ERR_UNRECOGNIZED = -100, /* skip the rule */
  CF_ERR_MAT_UNSUPPORTED = -101,
  CF_ERR_FATAL = -102 /* whole resolve fails; message in the result */
};

typedef struct cf_unit {
  char text[CF_MAX_KEY + 1];
  uint32_t len;
  bool present;
} cf_unit;

typedef struct cf_mat_entry {
  char unit[CF_MAX_KEY + 1];
  uint32_t unit_len;
  cf_str materialization, rule, variant;
  confidence_materialization_record view; /* filled when handed out */
} cf_mat_entry;

typedef struct cf_ft_entry {
  const cf_rule *rule;
  cf_str assignment_id;
  char key[CF_MAX_KEY + 1];
  uint32_t key_len;
  confidence_fallthrough view; /* filled when handed out */
} cf_ft_entry;

struct confidence_resolved_flag {
  const confidence_resolve_result *owner;
  const cf_flag *flag;
  int reason;
  const cf_variant *variant; /* NULL: none or client default */
  bool client_default;
  const cf_rule *rule;
  const cf_segment *segment;
  cf_str assignment_id;
  char key[CF_MAX_KEY + 1];
  uint32_t key_len;
  uint32_t ft_start, ft_count;
};

/* Growable array that keeps its storage between resolves. */
#define CF_VEC(T) \
  struct {        \
    T *items;     \
    size_t n, cap; \
  }

struct confidence_resolve_result {
  CF_VEC(confidence_resolved_flag) flags;
  CF_VEC(cf_ft_entry) fallthroughs;
  CF_VEC(cf_mat_entry) reads;
  CF_VEC(cf_mat_entry) writes;
  CF_VEC(const cf_flag *) todo;
  CF_VEC(const cf_flag *) pending; /* waiting for materializations */
  const cf_credential *cred;
  bool suspended;
  char error[512];
};

/* ---- tracing (confidence explain) ----------------------------------------
 * A resolve can report each step to a hook. The hook pointer is checked once
 * per rule, segment, criterion and assignment and is NULL on every normal
 * resolve; all event data is borrowed for the duration of the call. */
typedef enum cf_trace_kind {
  CF_TRACE_FLAG,      /* flag */
  CF_TRACE_RULE_SKIP, /* rule, note: why it was passed over before targeting */
  CF_TRACE_RULE,      /* rule, unit, value (the key in the context); result 0 absent, 1 ok, 2 invalid */
  CF_TRACE_MAT_READ,  /* rule, note = materialization, result: is the unit in it */
  CF_TRACE_CRITERION, /* crit, value (effective context value), result */
  CF_TRACE_MATSEG,    /* crit, result */
  CF_TRACE_SEGMENT,   /* segment, depth, result: expression; bit: bitset index or -1, bit_ok */
  CF_TRACE_RULE_END,  /* rule, result: segment match; note: outcome */
  CF_TRACE_BUCKET,    /* rule, bucket, assignment (NULL: no range holds it) */
  CF_TRACE_STICKY,    /* rule, assignment from the materialization */
  CF_TRACE_ASSIGN     /* rule, assignment that decided (variant, client default, fallthrough) */
} cf_trace_kind;

typedef struct cf_trace_event {
  int kind;
  const cf_flag *flag;
  const cf_rule *rule;
  const cf_segment *segment;
  const cf_crit *crit;
  const cf_unit *unit;
  const confidence_value *value;
  const cf_assignment *assignment;
  const char *note;
  int result; /* CF_TRUE / CF_FALSE / CF_UNKNOWN or < 0 */
  int depth;
  int64_t bucket, bit;
  bool bit_ok;
} cf_trace_event;

typedef void (*cf_trace_fn)(const cf_trace_event *e, void *user);

/* confidence_resolve with a trace hook (NULL: exactly confidence_resolve). */
int cf_resolve_traced(const confidence_state *st, const confidence_resolve_request *req, confidence_resolve_result *res,
                      cf_trace_fn trace, void *user);
/* The text of context element `e` after the criterion's coercion (spec 3.7),
 * as the operator compares it; for explanations only. */
size_t cf_coerced_text(const cf_crit *cr, const confidence_value *e, char *buf, size_t cap);

/* Per-call evaluation state. */
typedef struct cf_eval {
  const confidence_state *st;
  const cf_credential *cred;
  const confidence_value *context;
  const confidence_value *managed; /* the client's managed context, or NULL */
  cf_trace_fn trace;               /* NULL unless explaining */
  void *trace_user;
  const cf_flag *flag;             /* being resolved (for traces) */
  int mode; /* confidence_materialization_mode */
  const confidence_materialization_record *records;
  size_t n_records;
  confidence_resolve_result *res;
  int fatal_code; /* CONFIDENCE_E* for a CF_ERR_FATAL, ERESOLVE unless set */
  uint32_t segment_evals; /* reset per flag */
  const cf_segment *path[CF_MAX_SEGMENT_DEPTH]; /* segments on the current path */
  int depth;
} cf_eval;

/* Records a fatal message in the result; returns CF_ERR_FATAL. */
int cf_fatal(cf_eval *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* segment_match of spec 3.6 (with the segment's bitset). */
int cf_segment_match(cf_eval *ev, const cf_segment *seg, const cf_unit *unit);
/* targeting_match: the expression only, fresh visited path. */
int cf_targeting_match(cf_eval *ev, const cf_segment *seg, const cf_unit *unit);
/* Value at a dot path of the context; NULL when absent. cf_eval_path does
 * the same in the effective context: the client's managed context merged
 * over the request's (RESOLVER_CHANGES §1.2), without building the merge.
 * Inline: every criterion and targeting key reads a path. */
static inline const confidence_value *cf_context_path(const confidence_value *ctx, const cf_str *path, uint32_t n)
{
  const confidence_value *v = ctx;
  for (uint32_t i = 0; i < n; i++) {
    if (!v || v->type != CONFIDENCE_VALUE_STRUCT)
      return NULL;
    v = cf_value_get(v, path[i].s, path[i].len);
  }
  return v;
}

static inline const confidence_value *cf_eval_path(const cf_eval *ev, const cf_str *path, uint32_t n)
{
  const confidence_value *m = ev->managed, *r = ev->context;
  if (!m)
    return cf_context_path(r, path, n);
  /* Walk both trees. While `m` is set the effective node is merge(m, r): a
   * struct, with r a struct or NULL. Once a managed value is not a struct
   * (or is absent) the walk continues in one tree only. */
  for (uint32_t i = 0; i < n; i++) {
    const confidence_value *rv = r && r->type == CONFIDENCE_VALUE_STRUCT ? cf_value_get(r, path[i].s, path[i].len) : NULL;
    if (!m) {
      if (!r || r->type != CONFIDENCE_VALUE_STRUCT)
        return NULL;
      r = rv;
      continue;
    }
    const confidence_value *mv = cf_value_get(m, path[i].s, path[i].len);
    if (!mv) {
      m = NULL, r = rv; /* request only below here */
    } else if (mv->type == CONFIDENCE_VALUE_STRUCT) {
      m = mv, r = rv && rv->type == CONFIDENCE_VALUE_STRUCT ? rv : NULL;
    } else {
      m = NULL, r = mv; /* a managed leaf replaces whatever the request had */
    }
  }
  /* A merged struct is returned as its managed half: no rule looks inside
   * a struct value, only at its kind. */
  return m ? m : r;
}
/* Reports a trace event when a hook is set. -DCF_TRACE_HOOK=0 compiles the
 * checks out, only to measure what they cost (bench/run.sh). */
#ifndef CF_TRACE_HOOK
#define CF_TRACE_HOOK 1
#endif
#if !CF_TRACE_HOOK
#define CF_TRACE(ev, ...) ((void)(ev))
#else
#define CF_TRACE(ev, ...)                                             \
  do {                                                                \
    if ((ev)->trace) {                                                \
      cf_trace_event te_ = {.flag = (ev)->flag, __VA_ARGS__};         \
      (ev)->trace(&te_, (ev)->trace_user);                            \
    }                                                                 \
  } while (0)
#endif
/* bucket(murmur(prefix + unit), n) with the variant-bucket / bitset keys. */
uint64_t cf_unit_bucket(const cf_str *prefix, const cf_unit *unit, uint64_t n);
/* Materialization lookups (spec 3.2). */
int cf_mat_inclusion(cf_eval *ev, cf_str mat, const cf_unit *unit);
int cf_mat_rule(cf_eval *ev, cf_str mat, const cf_unit *unit, cf_str rule);
/* The record's unit equals `unit` (byte-wise, NULs included). */
bool cf_record_unit_is(const confidence_materialization_record *r, const cf_unit *unit);

#endif
