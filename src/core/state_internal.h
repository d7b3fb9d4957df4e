/* The compiled snapshot: every lookup the resolver needs is pre-linked
 * (segments, criteria, variants, clients) so resolving follows pointers and
 * never searches by name except for the requested flags and the secret. */
#ifndef CF_STATE_INTERNAL_H
#define CF_STATE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "confidence/state.h"
#include "strmap.h"
#include "textconv.h"
#include "value_internal.h"

/* Targeting value kinds (confidence.flags.types.v1.Targeting.Value). */
typedef enum cf_tv_kind {
  CF_TV_UNSET = 0,
  CF_TV_BOOL,
  CF_TV_NUMBER,
  CF_TV_STRING,
  CF_TV_TIMESTAMP,
  CF_TV_VERSION,
  CF_TV_LIST
} cf_tv_kind;

typedef struct cf_tval {
  unsigned char kind;
  bool b;
  double n;
  cf_str s; /* string, or the raw version text */
  cf_time ts;
  uint64_t ver[4]; /* parsed version, for range comparisons */
  const struct cf_tval *items;
  uint32_t n_items;
} cf_tval;

typedef enum cf_op_kind {
  CF_OP_UNSET = 0,
  CF_OP_EQ,
  CF_OP_SET,
  CF_OP_RANGE,
  CF_OP_ANY,
  CF_OP_ALL,
  CF_OP_STARTS_WITH,
  CF_OP_ENDS_WITH,
  CF_OP_CONTAINS
} cf_op_kind;

typedef struct cf_op {
  unsigned char kind;
  const cf_tval *eq; /* EQ: NULL when the value is absent (unrecognized) */
  const cf_tval *set;
  uint32_t n_set;
  const cf_tval *start, *end; /* RANGE: NULL = unbounded */
  bool start_inclusive, end_inclusive;
  cf_str text;               /* starts_with / ends_with / contains */
  const struct cf_op *inner; /* ANY / ALL: NULL when the rule is absent */
} cf_op;

/* Expected type for the typed conversion; NONE also covers lists. */
#define CF_EXPECT_NONE CF_TV_UNSET

typedef enum cf_crit_kind { CF_CRIT_UNSET = 0, CF_CRIT_ATTRIBUTE, CF_CRIT_SEGMENT, CF_CRIT_MATSEG } cf_crit_kind;

struct cf_segment;
struct cf_bloom;

typedef struct cf_crit {
  unsigned char kind;
  /* attribute */
  const cf_str *path;
  uint32_t n_path;
  cf_op op;
  unsigned char expect; /* cf_tv_kind */
  bool strict;          /* string operators: strict string conversion */
  /* segment; NULL when the referenced segment does not exist */
  const struct cf_segment *segment;
  /* materialized segment */
  cf_str matseg;
  const struct cf_bloom *bloom;
} cf_crit;

typedef enum cf_expr_kind { CF_EX_FALSE = 0, CF_EX_CRIT, CF_EX_NOT, CF_EX_AND, CF_EX_OR } cf_expr_kind;

typedef struct cf_expr {
  unsigned char kind;
  const cf_crit *crit;
  const struct cf_expr *kids;
  uint32_t n_kids;
} cf_expr;

typedef struct cf_bloom {
  cf_str name;
  const uint8_t *bits; /* 8-byte chunks already reversed */
  uint64_t n_bytes;
  uint64_t num_bits;
  uint32_t k;
} cf_bloom;

typedef struct cf_segment {
  cf_str name;
  const cf_expr *expr; /* NULL: no targeting or no expression, matches */
  const uint8_t *bits; /* NULL: no bitset entry, everyone is allocated */
  uint64_t n_bits;
  bool all_ones;
  uint64_t fingerprint; /* definition + bitset, for change detection */
} cf_segment;

typedef struct cf_variant {
  cf_str name;
  const confidence_value *value; /* a struct, schema nulls filled in */
} cf_variant;

typedef enum cf_assign_kind { CF_ASSIGN_UNSET = 0, CF_ASSIGN_VARIANT, CF_ASSIGN_FALLTHROUGH, CF_ASSIGN_CLIENT_DEFAULT } cf_assign_kind;

typedef struct cf_range {
  int32_t lower, upper;
} cf_range;

typedef struct cf_assignment {
  cf_str id;
  unsigned char kind;
  cf_str variant_name;
  const cf_variant *variant; /* NULL when the flag has no such variant */
  const cf_range *ranges;
  uint32_t n_ranges;
} cf_assignment;

typedef struct cf_rule {
  cf_str name;
  bool enabled;
  const cf_str *envs;
  uint32_t n_envs;
  cf_str segment_name;
  const cf_segment *segment; /* NULL when missing: the rule is skipped */
  cf_str selector;           /* raw targeting_key_selector, may be "" */
  const cf_str *key_path;    /* the selector (or "targeting_key") split on '.' */
  uint32_t n_key_path;
  bool has_spec;
  int32_t bucket_count;
  const cf_assignment *assignments;
  uint32_t n_assignments;
  bool full_single;    /* one assignment covering [0, bucket_count): no hashing */
  cf_str bucket_key;   /* "<segment id>|" */
  bool bucket_key_ok;  /* false when the segment name has no '/' */
  bool has_mat;
  cf_str write_mat, read_mat;
  bool must_match, can_ignore;
} cf_rule;

typedef struct cf_flag {
  cf_str name;
  int state; /* 1 ACTIVE, 2 ARCHIVED */
  uint32_t index;
  const cf_variant *variants;
  uint32_t n_variants;
  const cf_rule *rules;
  uint32_t n_rules;
  uint64_t fingerprint; /* definition + its rules' segments: detects changes */
} cf_flag;

/* Managed-context keys with more segments than this make every resolve for
 * the client fail (the official resolver traps from about 2,000). */
#define CF_MAX_MANAGED_SEGMENTS 1500

typedef struct cf_client {
  cf_str name;
  const uint8_t *enabled;  /* bit per flag index: ACTIVE and lists this client */
  const cf_flag **flags;   /* the same flags, in state order */
  uint32_t n_flags;
  /* Unflattened managed context (a struct; NULL when the client has none),
   * overlaid on the request context at lookup time, managed wins. */
  const confidence_value *managed;
  bool managed_too_deep; /* a key beyond CF_MAX_MANAGED_SEGMENTS */
} cf_client;

typedef struct cf_credential {
  cf_str secret;
  const cf_client *client;
  cf_str name;
  const cf_str *envs;
  uint32_t n_envs;
} cf_credential;

struct confidence_state {
  atomic_uint refs;
  cf_arena arena;
  cf_str account_id;
  cf_str salt_key; /* "MegaSalt-<account>|" */
  const cf_flag *flags;
  uint32_t n_flags;
  cf_strmap flag_index; /* name -> cf_flag* */
  cf_strmap secrets;    /* secret -> cf_credential* */
  const confidence_value *empty_struct;
  int log_destinations[2];
  uint32_t n_log_destinations;
  size_t bytes;
};

/* Parses a 64-hex-digit AES-256 key (trailing whitespace ignored).
 * Returns 0 or CONFIDENCE_EINVAL with a message. */
int cf_state_parse_key(const char *hex, uint8_t key[32]);

#endif
