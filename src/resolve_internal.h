/* Resolver internals shared by resolve.c (rule loop, results) and
 * targeting.c (segments, criteria, operators). */
#ifndef CF_RESOLVE_INTERNAL_H
#define CF_RESOLVE_INTERNAL_H

#include "confidence/resolve.h"
#include "state_internal.h"

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
} cf_mat_entry;

typedef struct cf_ft_entry {
  const cf_rule *rule;
  cf_str assignment_id;
  char key[CF_MAX_KEY + 1];
  uint32_t key_len;
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

/* Per-call evaluation state. */
typedef struct cf_eval {
  const confidence_state *st;
  const cf_credential *cred;
  const confidence_value *context;
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
/* Value at a dot path of the context; NULL when absent. */
const confidence_value *cf_context_path(const confidence_value *ctx, const cf_str *path, uint32_t n);
/* bucket(murmur(prefix + unit), n) with the variant-bucket / bitset keys. */
uint64_t cf_unit_bucket(const cf_str *prefix, const cf_unit *unit, uint64_t n);
/* Materialization lookups (spec 3.2). */
int cf_mat_inclusion(cf_eval *ev, cf_str mat, const cf_unit *unit);
int cf_mat_rule(cf_eval *ev, cf_str mat, const cf_unit *unit, cf_str rule);
/* The record's unit equals `unit` (byte-wise, NULs included). */
bool cf_record_unit_is(const confidence_materialization_record *r, const cf_unit *unit);
int cf_vec_reserve(void **items, size_t *cap, size_t need, size_t elem);
/* Appends one slot to a CF_VEC; NULL when out of memory. */
#define CF_VEC_PUSH(vec) \
  (cf_vec_reserve((void **)&(vec).items, &(vec).cap, (vec).n + 1, sizeof *(vec).items) ? NULL : &(vec).items[(vec).n++])

#endif
