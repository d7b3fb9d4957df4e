/* Compiles a decoded ResolverState into the immutable snapshot the resolver
 * walks (state_internal.h): names resolved to pointers, targeting values
 * pre-parsed, variant values null-filled, secrets and flags hashed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gzip.h"
#include "error.h"
#include "murmur3.h"
#include "proto/confidence/flags/admin/v1/resolver.pb-c.h"
#include "state_compile.h"
#include "wire.h"

typedef Confidence__Flags__Admin__V1__ResolverState PbState;
typedef Confidence__Flags__Admin__V1__Flag PbFlag;
typedef Confidence__Flags__Admin__V1__Flag__Rule PbRule;
typedef Confidence__Flags__Admin__V1__Flag__Rule__Assignment PbAssignment;
typedef Confidence__Flags__Admin__V1__Segment PbSegment;
typedef Confidence__Flags__Types__V1__Targeting PbTargeting;
typedef Confidence__Flags__Types__V1__Targeting__Criterion PbCriterion;
typedef Confidence__Flags__Types__V1__Targeting__Criterion__AttributeCriterion PbAttribute;
typedef Confidence__Flags__Types__V1__Targeting__InnerRule PbInner;
typedef Confidence__Flags__Types__V1__Targeting__EqRule PbEq;
typedef Confidence__Flags__Types__V1__Targeting__SetRule PbSet;
typedef Confidence__Flags__Types__V1__Targeting__RangeRule PbRange;
typedef Confidence__Flags__Types__V1__Targeting__Value PbTValue;
typedef Confidence__Flags__Types__V1__Expression PbExpr;
typedef Confidence__Flags__Types__V1__FlagSchema PbSchema;
typedef Confidence__Flags__Types__V1__FlagSchema__StructFlagSchema PbStructSchema;

/* Oneof cases carry the field numbers of their members. */
enum { ATTR_EQ = 2, ATTR_SET, ATTR_RANGE, ATTR_ANY, ATTR_ALL, ATTR_STARTS, ATTR_ENDS, ATTR_CONTAINS };
enum { INNER_EQ = 1, INNER_SET, INNER_RANGE, INNER_STARTS, INNER_ENDS, INNER_CONTAINS };
enum { TV_BOOL = 1, TV_STRING = 4, TV_TIMESTAMP = 5, TV_VERSION = 6, TV_NUMBER = 7, TV_LIST = 8 };
enum { CRIT_ATTRIBUTE = 1, CRIT_SEGMENT = 2, CRIT_MATSEG = 3 };
enum { EXPR_REF = 1, EXPR_NOT, EXPR_AND, EXPR_OR };
enum { ASSIGN_VARIANT = 2, ASSIGN_FALLTHROUGH, ASSIGN_CLIENT_DEFAULT };
enum { PV_NULL = 1, PV_NUMBER, PV_STRING, PV_BOOL, PV_STRUCT, PV_LIST };
enum { SCHEMA_STRUCT = 1 };
enum { BITSET_GZIPPED = 2, BITSET_FULL = 3 };
enum { CREDENTIAL_SECRET = 3 };
enum { BLOOM_MURMUR128_MITZ_64 = 1 };

typedef struct compiler {
  confidence_state *st;
  cf_arena *a;
  cf_strmap segments; /* name -> cf_segment* */
  cf_strmap bitsets;  /* segment name -> cf_bitset_entry* */
  cf_strmap blooms;   /* materialized segment -> cf_bloom* */
  size_t budget;      /* memory budget of the load ... */
  size_t reserved;    /* ... of which the decoded protobuf takes this much */
  int err;
} compiler;

typedef struct cf_bitset_entry {
  uint8_t *bits;
  uint64_t n_bits;
  bool all_ones;
  uint64_t fingerprint;
} cf_bitset_entry;

/* Hashes of the top-level flag (field 1) and segment (field 2) entries of
 * the wire bytes, in order, for change detection: cheaper than packing the
 * decoded messages again. protobuf-c appends repeated fields in wire order,
 * so index i here is pb->flags[i] / pb->segments_no_bitsets[i]. */
typedef struct wire_hashes {
  uint64_t *flags, *segments;
  size_t n_flags, n_segments;
} wire_hashes;


static void hash_wire(const uint8_t *p, size_t len, wire_hashes *h)
{
  size_t i = 0;
  while (i < len) {
    uint64_t key, n;
    if (!cf_wire_read_varint(p, len, &i, &key))
      return;
    switch (key & 7) {
    case 0:
      if (!cf_wire_read_varint(p, len, &i, &n))
        return;
      break;
    case 1: i += 8; break;
    case 5: i += 4; break;
    case 2: {
      if (!cf_wire_read_varint(p, len, &i, &n) || n > len - i)
        return;
      uint64_t h1 = 0, h2;
      cf_murmur3_128(p + i, (size_t)n, &h1, &h2);
      if ((key >> 3) == 1 && h->flags)
        h->flags[h->n_flags++] = h1;
      else if ((key >> 3) == 2 && h->segments)
        h->segments[h->n_segments++] = h1;
      i += (size_t)n;
      break;
    }
    default:
      return;
    }
  }
}

static void *oom(compiler *c)
{
  c->err = cf_error(CONFIDENCE_ENOMEM, "out of memory compiling state");
  return NULL;
}

static bool fail_oom(compiler *c)
{
  oom(c);
  return false;
}

static cf_str intern(compiler *c, const char *s)
{
  size_t len = s ? strlen(s) : 0;
  if (len > UINT32_MAX) {
    c->err = cf_error(CONFIDENCE_ELIMIT, "string too long in state");
    return (cf_str){"", 0};
  }
  char *p = cf_arena_strndup(c->a, s ? s : "", len);
  if (!p) {
    oom(c);
    return (cf_str){"", 0};
  }
  return (cf_str){p, (uint32_t)len};
}

/* Splits on every `sep`; empty pieces are kept (they are literal keys). */
static const cf_str *split_path(compiler *c, const char *s, char sep, uint32_t *n_out)
{
  uint32_t n = 1;
  for (const char *p = s; *p; p++)
    n += *p == sep;
  cf_str *out = cf_arena_calloc(c->a, n, sizeof *out);
  if (!out)
    return oom(c);
  uint32_t i = 0;
  const char *start = s;
  for (const char *p = s;; p++) {
    if (*p == sep || *p == '\0') {
      char *piece = cf_arena_strndup(c->a, start, (size_t)(p - start));
      if (!piece)
        return oom(c);
      out[i++] = (cf_str){piece, (uint32_t)(p - start)};
      if (*p == '\0')
        break;
      start = p + 1;
    }
  }
  *n_out = n;
  return out;
}

/* ---- targeting ---------------------------------------------------------- */

static bool compile_tval(compiler *c, const PbTValue *pb, cf_tval *out)
{
  memset(out, 0, sizeof *out);
  if (!pb)
    return true;
  switch ((int)pb->value_case) {
  case TV_BOOL:
    out->kind = CF_TV_BOOL;
    out->b = pb->bool_value;
    break;
  case TV_NUMBER:
    out->kind = CF_TV_NUMBER;
    out->n = pb->number_value;
    break;
  case TV_STRING:
    out->kind = CF_TV_STRING;
    out->s = intern(c, pb->string_value);
    break;
  case TV_TIMESTAMP:
    out->kind = CF_TV_TIMESTAMP;
    out->ts.secs = pb->timestamp_value ? pb->timestamp_value->seconds : 0;
    out->ts.nanos = pb->timestamp_value ? pb->timestamp_value->nanos : 0;
    break;
  case TV_VERSION:
    out->kind = CF_TV_VERSION;
    out->s = intern(c, pb->version_value ? pb->version_value->version : "");
    cf_parse_version(out->s.s, out->s.len, out->ver);
    break;
  case TV_LIST: {
    out->kind = CF_TV_LIST;
    size_t n = pb->list_value ? pb->list_value->n_values : 0;
    cf_tval *items = cf_arena_calloc(c->a, n ? n : 1, sizeof *items);
    if (!items)
      return fail_oom(c);
    for (size_t i = 0; i < n; i++)
      if (!compile_tval(c, pb->list_value->values[i], &items[i]))
        return false;
    out->items = items;
    out->n_items = (uint32_t)n;
    break;
  }
  default:
    break; /* no oneof member: a legal "unset" value */
  }
  return c->err == 0;
}

static const cf_tval *new_tval(compiler *c, const PbTValue *pb)
{
  cf_tval *v = cf_arena_alloc(c->a, sizeof *v);
  if (!v)
    return oom(c);
  return compile_tval(c, pb, v) ? v : NULL;
}

static bool compile_set(compiler *c, const PbSet *pb, cf_op *op)
{
  op->kind = CF_OP_SET;
  size_t n = pb->n_values;
  cf_tval *vals = cf_arena_calloc(c->a, n ? n : 1, sizeof *vals);
  if (!vals)
    return fail_oom(c);
  for (size_t i = 0; i < n; i++)
    if (!compile_tval(c, pb->values[i], &vals[i]))
      return false;
  op->set = vals;
  op->n_set = (uint32_t)n;
  return true;
}

static bool compile_range(compiler *c, const PbRange *pb, cf_op *op)
{
  op->kind = CF_OP_RANGE;
  if (pb->start_case) {
    op->start_inclusive = pb->start_case == CONFIDENCE__FLAGS__TYPES__V1__TARGETING__RANGE_RULE__START_START_INCLUSIVE;
    op->start = new_tval(c, op->start_inclusive ? pb->start_inclusive : pb->start_exclusive);
    if (!op->start)
      return false;
  }
  if (pb->end_case) {
    op->end_inclusive = pb->end_case == CONFIDENCE__FLAGS__TYPES__V1__TARGETING__RANGE_RULE__END_END_INCLUSIVE;
    op->end = new_tval(c, op->end_inclusive ? pb->end_inclusive : pb->end_exclusive);
    if (!op->end)
      return false;
  }
  return true;
}

static bool compile_eq(compiler *c, const PbEq *pb, cf_op *op)
{
  op->kind = CF_OP_EQ;
  if (pb->value) {
    op->eq = new_tval(c, pb->value);
    if (!op->eq)
      return false;
  }
  return true;
}

static bool compile_text(compiler *c, int kind, const char *text, cf_op *op)
{
  op->kind = (unsigned char)kind;
  op->text = intern(c, text);
  return c->err == 0;
}

static bool compile_inner(compiler *c, const PbInner *pb, cf_op *op)
{
  memset(op, 0, sizeof *op);
  switch ((int)pb->rule_case) {
  case INNER_EQ: return compile_eq(c, pb->eq_rule, op);
  case INNER_SET: return compile_set(c, pb->set_rule, op);
  case INNER_RANGE: return compile_range(c, pb->range_rule, op);
  case INNER_STARTS: return compile_text(c, CF_OP_STARTS_WITH, pb->starts_with_rule->value, op);
  case INNER_ENDS: return compile_text(c, CF_OP_ENDS_WITH, pb->ends_with_rule->value, op);
  case INNER_CONTAINS: return compile_text(c, CF_OP_CONTAINS, pb->contains_rule->value, op);
  default: return true; /* unset: unrecognized when evaluated */
  }
}

static bool is_string_op(const cf_op *op)
{
  return op && (op->kind == CF_OP_STARTS_WITH || op->kind == CF_OP_ENDS_WITH || op->kind == CF_OP_CONTAINS);
}

/* The type a rule expects from the context value (spec 3.7 step 1). */
static unsigned char expected_type(const cf_op *op)
{
  switch (op->kind) {
  case CF_OP_EQ: return op->eq ? op->eq->kind : CF_EXPECT_NONE;
  case CF_OP_SET: return op->n_set ? op->set[0].kind : CF_EXPECT_NONE;
  case CF_OP_RANGE:
    if (op->start)
      return op->start->kind;
    return op->end ? op->end->kind : CF_EXPECT_NONE;
  case CF_OP_ANY:
  case CF_OP_ALL: return op->inner ? expected_type(op->inner) : CF_EXPECT_NONE;
  case CF_OP_STARTS_WITH:
  case CF_OP_ENDS_WITH:
  case CF_OP_CONTAINS: return CF_TV_STRING;
  default: return CF_EXPECT_NONE;
  }
}

static bool compile_any_all(compiler *c, int kind, const PbInner *inner, cf_op *op)
{
  op->kind = (unsigned char)kind;
  if (!inner)
    return true; /* absent rule: unrecognized */
  cf_op *in = cf_arena_alloc(c->a, sizeof *in);
  if (!in)
    return fail_oom(c);
  op->inner = in;
  return compile_inner(c, inner, in);
}

static bool compile_attribute(compiler *c, const PbAttribute *pb, cf_crit *cr)
{
  cr->kind = CF_CRIT_ATTRIBUTE;
  cr->path = split_path(c, pb->attribute_name, '.', &cr->n_path);
  if (!cr->path)
    return false;
  cf_op *op = &cr->op;
  bool ok = true;
  switch ((int)pb->rule_case) {
  case ATTR_EQ: ok = compile_eq(c, pb->eq_rule, op); break;
  case ATTR_SET: ok = compile_set(c, pb->set_rule, op); break;
  case ATTR_RANGE: ok = compile_range(c, pb->range_rule, op); break;
  case ATTR_ANY: ok = compile_any_all(c, CF_OP_ANY, pb->any_rule->rule, op); break;
  case ATTR_ALL: ok = compile_any_all(c, CF_OP_ALL, pb->all_rule->rule, op); break;
  case ATTR_STARTS: ok = compile_text(c, CF_OP_STARTS_WITH, pb->starts_with_rule->value, op); break;
  case ATTR_ENDS: ok = compile_text(c, CF_OP_ENDS_WITH, pb->ends_with_rule->value, op); break;
  case ATTR_CONTAINS: ok = compile_text(c, CF_OP_CONTAINS, pb->contains_rule->value, op); break;
  default: break;
  }
  cr->strict = is_string_op(op) || ((op->kind == CF_OP_ANY || op->kind == CF_OP_ALL) && is_string_op(op->inner));
  cr->expect = expected_type(op);
  return ok;
}

static bool compile_criterion(compiler *c, const PbCriterion *pb, cf_crit *cr)
{
  memset(cr, 0, sizeof *cr);
  if (!pb)
    return true;
  switch ((int)pb->criterion_case) {
  case CRIT_ATTRIBUTE:
    return compile_attribute(c, pb->attribute, cr);
  case CRIT_SEGMENT: {
    const char *name = pb->segment->segment ? pb->segment->segment : "";
    cr->kind = CF_CRIT_SEGMENT;
    cr->segment = cf_strmap_get(&c->segments, name, strlen(name));
    return true;
  }
  case CRIT_MATSEG: {
    cr->kind = CF_CRIT_MATSEG;
    cr->matseg = intern(c, pb->materialized_segment->materialized_segment);
    cr->bloom = cf_strmap_get(&c->blooms, cr->matseg.s, cr->matseg.len);
    return c->err == 0;
  }
  default:
    return true; /* unset criterion: false */
  }
}

static bool compile_expr(compiler *c, const PbExpr *pb, const cf_strmap *criteria, cf_expr *ex)
{
  memset(ex, 0, sizeof *ex);
  switch ((int)pb->expression_case) {
  case EXPR_REF: {
    const char *ref = pb->ref ? pb->ref : "";
    ex->crit = cf_strmap_get(criteria, ref, strlen(ref));
    ex->kind = ex->crit ? CF_EX_CRIT : CF_EX_FALSE;
    return true;
  }
  case EXPR_NOT: {
    cf_expr *kid = cf_arena_alloc(c->a, sizeof *kid);
    if (!kid)
      return fail_oom(c);
    ex->kind = CF_EX_NOT;
    ex->kids = kid;
    ex->n_kids = 1;
    return compile_expr(c, pb->not_, criteria, kid);
  }
  case EXPR_AND:
  case EXPR_OR: {
    const Confidence__Flags__Types__V1__Expression__Operands *ops =
        (int)pb->expression_case == EXPR_AND ? pb->and_ : pb->or_;
    size_t n = ops ? ops->n_operands : 0;
    cf_expr *kids = cf_arena_calloc(c->a, n ? n : 1, sizeof *kids);
    if (!kids)
      return fail_oom(c);
    ex->kind = (int)pb->expression_case == EXPR_AND ? CF_EX_AND : CF_EX_OR;
    ex->kids = kids;
    ex->n_kids = (uint32_t)n;
    for (size_t i = 0; i < n; i++)
      if (!compile_expr(c, ops->operands[i], criteria, &kids[i]))
        return false;
    return true;
  }
  default:
    ex->kind = CF_EX_FALSE;
    return true;
  }
}

static bool compile_segment(compiler *c, const PbSegment *pb, uint64_t fingerprint, cf_segment *seg)
{
  const PbTargeting *t = pb->targeting;
  if (t && t->expression) {
    cf_strmap criteria;
    if (!cf_strmap_init(&criteria, c->a, t->n_criteria))
      return fail_oom(c);
    for (size_t i = 0; i < t->n_criteria; i++) {
      cf_crit *cr = cf_arena_alloc(c->a, sizeof *cr);
      if (!cr || !compile_criterion(c, t->criteria[i]->value, cr))
        return cr ? false : fail_oom(c);
      cf_str key = intern(c, t->criteria[i]->key);
      if (c->err)
        return false;
      cf_strmap_put(&criteria, key, cr);
    }
    cf_expr *root = cf_arena_alloc(c->a, sizeof *root);
    if (!root)
      return fail_oom(c);
    if (!compile_expr(c, t->expression, &criteria, root))
      return false;
    seg->expr = root;
  }
  seg->fingerprint = fingerprint;
  const cf_bitset_entry *b = cf_strmap_get(&c->bitsets, seg->name.s, seg->name.len);
  if (b) {
    seg->bits = b->bits;
    seg->n_bits = b->n_bits;
    seg->all_ones = b->all_ones;
    seg->fingerprint ^= b->fingerprint * 0x9E3779B97F4A7C15ULL;
  }
  return true;
}

/* ---- values and schemas ------------------------------------------------- */

static int cmp_fields(const void *x, const void *y)
{
  const cf_field *a = x, *b = y;
  size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  int r = memcmp(a->key, b->key, n);
  return r ? r : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static confidence_value *compile_struct(compiler *c, const Google__Protobuf__Struct *pb, const PbStructSchema *schema);

static confidence_value *compile_value(compiler *c, const Google__Protobuf__Value *pb, const PbSchema *schema)
{
  confidence_value *v;
  switch (pb ? (int)pb->kind_case : 0) {
  case PV_NUMBER:
    if ((v = cf_value_arena_new(c->a, CONFIDENCE_VALUE_NUMBER)))
      v->u.n = pb->number_value;
    break;
  case PV_STRING:
    if ((v = cf_value_arena_new(c->a, CONFIDENCE_VALUE_STRING))) {
      cf_str s = intern(c, pb->string_value);
      v->u.s.ptr = (char *)s.s;
      v->u.s.len = s.len;
    }
    break;
  case PV_BOOL:
    if ((v = cf_value_arena_new(c->a, CONFIDENCE_VALUE_BOOL)))
      v->u.b = pb->bool_value;
    break;
  case PV_STRUCT: {
    const PbStructSchema *sub =
        schema && (int)schema->schema_type_case == SCHEMA_STRUCT ? schema->struct_schema : NULL;
    v = compile_struct(c, pb->struct_value, sub);
    break;
  }
  case PV_LIST: {
    size_t n = pb->list_value ? pb->list_value->n_values : 0;
    v = cf_value_arena_new(c->a, CONFIDENCE_VALUE_LIST);
    if (v) {
      v->u.list.items = cf_arena_calloc(c->a, n ? n : 1, sizeof *v->u.list.items);
      if (!v->u.list.items)
        return oom(c);
      for (size_t i = 0; i < n; i++)
        if (!(v->u.list.items[i] = compile_value(c, pb->list_value->values[i], NULL)))
          return NULL;
      v->u.list.n = v->u.list.cap = n;
    }
    break;
  }
  default: /* null, or no kind (treated as null) */
    v = cf_value_arena_new(c->a, CONFIDENCE_VALUE_NULL);
    break;
  }
  return v ? v : oom(c);
}

/* A struct value with schema fields missing from it filled with null,
 * recursing only where both sides are structs (spec 3.11). Fields sorted. */
static confidence_value *compile_struct(compiler *c, const Google__Protobuf__Struct *pb, const PbStructSchema *schema)
{
  size_t n_in = pb ? pb->n_fields : 0, n_schema = schema ? schema->n_schema : 0;
  confidence_value *v = cf_value_arena_new(c->a, CONFIDENCE_VALUE_STRUCT);
  cf_field *fields = cf_arena_calloc(c->a, n_in + n_schema + 1, sizeof *fields);
  if (!v || !fields)
    return oom(c);
  size_t n = 0;
  for (size_t i = 0; i < n_in; i++) {
    const char *key = pb->fields[i]->key ? pb->fields[i]->key : "";
    size_t klen = strlen(key);
    const PbSchema *sub = NULL;
    for (size_t j = 0; j < n_schema; j++)
      if (strcmp(schema->schema[j]->key ? schema->schema[j]->key : "", key) == 0)
        sub = schema->schema[j]->value; /* later map entries win */
    confidence_value *fv = compile_value(c, pb->fields[i]->value, sub);
    if (!fv)
      return NULL;
    size_t k = 0;
    while (k < n && !(fields[k].key_len == klen && memcmp(fields[k].key, key, klen) == 0))
      k++;
    if (k == n) {
      cf_str ks = intern(c, key);
      fields[n++] = (cf_field){(char *)ks.s, ks.len, NULL};
    }
    fields[k].value = fv;
  }
  for (size_t j = 0; j < n_schema; j++) {
    const char *key = schema->schema[j]->key ? schema->schema[j]->key : "";
    size_t klen = strlen(key), k = 0;
    while (k < n && !(fields[k].key_len == klen && memcmp(fields[k].key, key, klen) == 0))
      k++;
    if (k < n)
      continue;
    confidence_value *null_v = cf_value_arena_new(c->a, CONFIDENCE_VALUE_NULL);
    cf_str ks = intern(c, key);
    if (!null_v || c->err)
      return oom(c);
    fields[n++] = (cf_field){(char *)ks.s, ks.len, null_v};
  }
  if (c->err)
    return NULL;
  qsort(fields, n, sizeof *fields, cmp_fields);
  v->u.obj.fields = fields;
  v->u.obj.n = v->u.obj.cap = n;
  v->u.obj.index = NULL; /* arena memory is not zeroed; lookups scan */
  return v;
}

/* ---- flags -------------------------------------------------------------- */

static const cf_variant *find_variant(const cf_flag *f, const char *name)
{
  size_t len = strlen(name);
  const cf_variant *found = NULL;
  for (uint32_t i = 0; i < f->n_variants; i++)
    if (cf_str_eq(f->variants[i].name, name, len))
      found = &f->variants[i]; /* the reference keys variants by name: last wins */
  return found;
}

static bool compile_assignments(compiler *c, const cf_flag *f, const PbRule *pb, cf_rule *r)
{
  const Confidence__Flags__Admin__V1__Flag__Rule__AssignmentSpec *spec = pb->assignment_spec;
  r->has_spec = true;
  r->bucket_count = spec->bucket_count;
  size_t n = spec->n_assignments;
  cf_assignment *as = cf_arena_calloc(c->a, n ? n : 1, sizeof *as);
  if (!as)
    return fail_oom(c);
  for (size_t i = 0; i < n; i++) {
    const PbAssignment *pa = spec->assignments[i];
    cf_assignment *a = &as[i];
    a->id = intern(c, pa->assignment_id);
    switch ((int)pa->assignment_case) {
    case ASSIGN_VARIANT:
      a->kind = CF_ASSIGN_VARIANT;
      a->variant_name = intern(c, pa->variant->variant);
      a->variant = find_variant(f, a->variant_name.s);
      break;
    case ASSIGN_FALLTHROUGH: a->kind = CF_ASSIGN_FALLTHROUGH; break;
    case ASSIGN_CLIENT_DEFAULT: a->kind = CF_ASSIGN_CLIENT_DEFAULT; break;
    default: a->kind = CF_ASSIGN_UNSET; break;
    }
    cf_range *ranges = cf_arena_calloc(c->a, pa->n_bucket_ranges ? pa->n_bucket_ranges : 1, sizeof *ranges);
    if (!ranges)
      return fail_oom(c);
    for (size_t j = 0; j < pa->n_bucket_ranges; j++)
      ranges[j] = (cf_range){pa->bucket_ranges[j]->lower, pa->bucket_ranges[j]->upper};
    a->ranges = ranges;
    a->n_ranges = (uint32_t)pa->n_bucket_ranges;
  }
  r->assignments = as;
  r->n_assignments = (uint32_t)n;
  r->full_single = n == 1 && as[0].n_ranges == 1 && as[0].ranges[0].lower == 0 &&
                   as[0].ranges[0].upper == spec->bucket_count;
  return c->err == 0;
}

static bool compile_rule(compiler *c, const cf_flag *f, const PbRule *pb, cf_rule *r)
{
  r->name = intern(c, pb->name);
  r->enabled = pb->enabled;
  cf_str *envs = cf_arena_calloc(c->a, pb->n_environments ? pb->n_environments : 1, sizeof *envs);
  if (!envs)
    return fail_oom(c);
  for (size_t i = 0; i < pb->n_environments; i++)
    envs[i] = intern(c, pb->environments[i]);
  r->envs = envs;
  r->n_envs = (uint32_t)pb->n_environments;
  r->segment_name = intern(c, pb->segment);
  r->segment = cf_strmap_get(&c->segments, r->segment_name.s, r->segment_name.len);
  r->selector = intern(c, pb->targeting_key_selector);
  r->key_path = split_path(c, r->selector.len ? r->selector.s : "targeting_key", '.', &r->n_key_path);
  if (!r->key_path)
    return false;
  /* Variant buckets hash "<segment id>|<unit>", the id being the second
   * '/'-separated piece of the rule's segment name. */
  const char *slash = strchr(r->segment_name.s, '/');
  if (slash) {
    const char *id = slash + 1, *end = strchr(id, '/');
    size_t idlen = end ? (size_t)(end - id) : strlen(id);
    char *key = cf_arena_alloc(c->a, idlen + 2);
    if (!key)
      return fail_oom(c);
    memcpy(key, id, idlen);
    key[idlen] = '|';
    r->bucket_key = (cf_str){key, (uint32_t)idlen + 1};
    r->bucket_key_ok = true;
  }
  if (pb->assignment_spec && !compile_assignments(c, f, pb, r))
    return false;
  const Confidence__Flags__Admin__V1__Flag__Rule__MaterializationSpec *ms = pb->materialization_spec;
  if (ms) {
    r->has_mat = true;
    r->write_mat = intern(c, ms->write_materialization);
    r->read_mat = intern(c, ms->read_materialization);
    r->must_match = ms->mode && ms->mode->materialization_must_match;
    r->can_ignore = ms->mode && ms->mode->segment_targeting_can_be_ignored;
  }
  return c->err == 0;
}

static bool compile_flag(compiler *c, const PbFlag *pb, uint64_t fingerprint, cf_flag *f)
{
  f->state = (int)pb->state;
  cf_variant *vars = cf_arena_calloc(c->a, pb->n_variants ? pb->n_variants : 1, sizeof *vars);
  if (!vars)
    return fail_oom(c);
  for (size_t i = 0; i < pb->n_variants; i++) {
    vars[i].name = intern(c, pb->variants[i]->name);
    vars[i].value = compile_struct(c, pb->variants[i]->value, pb->schema);
    if (!vars[i].value)
      return false;
  }
  f->variants = vars;
  f->n_variants = (uint32_t)pb->n_variants;
  cf_rule *rules = cf_arena_calloc(c->a, pb->n_rules ? pb->n_rules : 1, sizeof *rules);
  if (!rules)
    return fail_oom(c);
  for (size_t i = 0; i < pb->n_rules; i++)
    if (!compile_rule(c, f, pb->rules[i], &rules[i]))
      return false;
  f->rules = rules;
  f->n_rules = (uint32_t)pb->n_rules;
  f->fingerprint = fingerprint;
  for (size_t i = 0; i < pb->n_rules; i++)
    if (rules[i].segment)
      f->fingerprint = (f->fingerprint ^ rules[i].segment->fingerprint) * 0x100000001B3ULL;
  return true;
}

/* ---- bitsets and bloom filters ----------------------------------------- */

/* Inflated size a gzipped bitset declares in its trailer (ISIZE).
 * Inflating never yields more: a longer stream fails the size check. 0 for
 * a member cf_gunzip_strict rejects anyway (too short, over the per-bitset
 * cap), so that it reports the corruption, not the budget. */
static size_t bitset_isize(const ProtobufCBinaryData *gz)
{
  if (gz->len < 18)
    return 0;
  const uint8_t *t = gz->data + gz->len - 4;
  size_t n = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
  return n <= CF_MAX_BITSET_BYTES ? n : 0;
}

static bool over_budget(compiler *c, size_t more, const char *what)
{
  size_t used = c->a->total + c->reserved;
  if (used <= c->budget && more <= c->budget - used)
    return false;
  c->err = cf_error(CONFIDENCE_ELIMIT,
                    "%s would take %zu more bytes on top of %zu, over the state memory budget of %zu bytes "
                    "(confidence_state_options.memory_budget_bytes)",
                    what, more, used, c->budget);
  return true;
}

static bool load_bitsets(compiler *c, const PbState *pb)
{
  if (!cf_strmap_init(&c->bitsets, c->a, pb->n_bitsets))
    return fail_oom(c);
  /* All trailers first, so an over-budget state is refused before anything
   * is inflated; the running check below covers what compiling adds. */
  size_t declared = 0;
  for (size_t i = 0; i < pb->n_bitsets; i++) {
    size_t n = (int)pb->bitsets[i]->bitset_case == BITSET_GZIPPED ? bitset_isize(&pb->bitsets[i]->gzipped_bitset) : 0;
    declared = declared > SIZE_MAX - n ? SIZE_MAX : declared + n;
  }
  if (over_budget(c, declared, "the inflated segment bitsets"))
    return false;
  for (size_t i = 0; i < pb->n_bitsets; i++) {
    const Confidence__Flags__Admin__V1__ResolverState__PackedBitset *pbs = pb->bitsets[i];
    const char *seg = pbs->segment ? pbs->segment : "";
    if ((int)pbs->bitset_case == BITSET_FULL) {
      if (!pbs->full_bitset) {
        c->err = cf_error(CONFIDENCE_ESTATE, "bitset of segment '%s' has full_bitset=false", seg);
        return false;
      }
      continue; /* no entry: everyone is allocated */
    }
    if ((int)pbs->bitset_case != BITSET_GZIPPED)
      continue;
    cf_bitset_entry *e = cf_arena_alloc(c->a, sizeof *e);
    if (!e)
      return fail_oom(c);
    size_t n_bytes;
    if (over_budget(c, bitset_isize(&pbs->gzipped_bitset), "inflating the segment bitsets"))
      return false;
    int rc = cf_gunzip_strict(pbs->gzipped_bitset.data, pbs->gzipped_bitset.len, &c->st->arena, &e->bits, &n_bytes);
    if (rc) {
      char detail[512]; /* cf_error writes the buffer the detail lives in */
      snprintf(detail, sizeof detail, "%s", confidence_last_error_message());
      c->err = cf_error(rc, "bitset of segment '%s': %s", seg, detail);
      return false;
    }
    e->n_bits = (uint64_t)n_bytes * 8;
    /* The gzip trailer (CRC-32 and size) already identifies the content. */
    const uint8_t *trailer = pbs->gzipped_bitset.data + pbs->gzipped_bitset.len - 8;
    uint64_t unused;
    cf_murmur3_128(trailer, 8, &e->fingerprint, &unused);
    e->all_ones = true;
    for (size_t k = 0; k < n_bytes && e->all_ones; k++)
      e->all_ones = e->bits[k] == 0xff;
    cf_str key = intern(c, seg);
    if (c->err)
      return false;
    cf_strmap_put(&c->bitsets, key, e);
  }
  return true;
}

static bool load_blooms(compiler *c, const PbState *pb)
{
  if (!cf_strmap_init(&c->blooms, c->a, pb->n_bloom_filters))
    return fail_oom(c);
  for (size_t i = 0; i < pb->n_bloom_filters; i++) {
    const Confidence__Flags__Admin__V1__ResolverState__BloomFilter *bf = pb->bloom_filters[i];
    if (bf->strategy != BLOOM_MURMUR128_MITZ_64)
      continue;
    /* Guava keeps numHashFunctions in a byte (1..255); more would make every
     * membership test loop up to 2^32 times. */
    if (bf->hash_function_count < 1 || bf->hash_function_count > 255) {
      c->err = cf_error(CONFIDENCE_ESTATE, "bloom filter '%s' has %d hash functions (1..255 allowed)",
                        bf->materialized_segment ? bf->materialized_segment : "", (int)bf->hash_function_count);
      return false;
    }
    if (over_budget(c, bf->data.len + sizeof(cf_bloom), "the bloom filters"))
      return false;
    cf_bloom *b = cf_arena_alloc(c->a, sizeof *b);
    uint8_t *bits = cf_arena_alloc(c->a, bf->data.len + 1);
    if (!b || !bits)
      return fail_oom(c);
    /* Guava writes its long[] big-endian: reverse each whole 8-byte chunk. */
    size_t n = bf->data.len, whole = n - n % 8;
    for (size_t k = 0; k < whole; k += 8)
      for (size_t j = 0; j < 8; j++)
        bits[k + j] = bf->data.data[k + 7 - j];
    if (n > whole)
      memcpy(bits + whole, bf->data.data + whole, n - whole);
    b->name = intern(c, bf->materialized_segment);
    b->bits = bits;
    b->n_bytes = n;
    b->num_bits = (uint64_t)bf->bit_count;
    b->k = (uint32_t)bf->hash_function_count;
    if (c->err)
      return false;
    cf_strmap_put(&c->blooms, b->name, b);
  }
  return true;
}

/* ---- clients ------------------------------------------------------------ */

typedef Confidence__Iam__V1__Client__ManagedContextEntry PbManagedEntry;

typedef struct managed_item {
  const char *key;
  const PbManagedEntry *entry;
  size_t index; /* position on the wire */
} managed_item;

static int cmp_managed(const void *x, const void *y)
{
  const managed_item *a = x, *b = y;
  int r = strcmp(a->key, b->key);
  return r ? r : (a->index < b->index) - (a->index > b->index); /* equal keys: the later entry first, it wins */
}

/* An empty struct the managed tree can grow: zeroed, since arena memory is
 * not (no fields, no hash index). */
static confidence_value *managed_struct(compiler *c)
{
  confidence_value *v = cf_arena_calloc(c->a, 1, sizeof *v);
  if (v)
    v->type = CONFIDENCE_VALUE_STRUCT;
  return v;
}

/* Sets obj[key] = v (replacing), growing the arena-backed field array. */
static bool managed_set(compiler *c, confidence_value *obj, const char *key, size_t klen, confidence_value *v)
{
  for (size_t i = 0; i < obj->u.obj.n; i++)
    if (obj->u.obj.fields[i].key_len == klen && memcmp(obj->u.obj.fields[i].key, key, klen) == 0) {
      obj->u.obj.fields[i].value = v;
      return true;
    }
  if (obj->u.obj.n == obj->u.obj.cap) {
    size_t cap = obj->u.obj.cap ? obj->u.obj.cap * 2 : 4;
    cf_field *f = cf_arena_calloc(c->a, cap, sizeof *f);
    if (!f)
      return fail_oom(c);
    if (obj->u.obj.n)
      memcpy(f, obj->u.obj.fields, obj->u.obj.n * sizeof *f);
    obj->u.obj.fields = f;
    obj->u.obj.cap = cap;
  }
  char *k = cf_arena_strndup(c->a, key, klen);
  if (!k)
    return fail_oom(c);
  obj->u.obj.fields[obj->u.obj.n++] = (cf_field){k, klen, v};
  return true;
}

/* unflatten() of RESOLVER_CHANGES §1.2: keys in byte order, split on every
 * '.', intermediate non-structs replaced by new structs, the last segment
 * replaced whole. Done once here so a resolve only overlays the result. */
static bool compile_managed(compiler *c, const Confidence__Iam__V1__Client *pb, cf_client *cl)
{
  size_t n = pb->n_managed_context;
  if (n == 0)
    return true;
  managed_item *sorted = malloc(n * sizeof *sorted);
  confidence_value *root = managed_struct(c);
  if (!sorted || !root) {
    free(sorted);
    return fail_oom(c);
  }
  for (size_t i = 0; i < n; i++) {
    const PbManagedEntry *e = pb->managed_context[i];
    sorted[i] = (managed_item){e->key ? e->key : "", e, i};
  }
  qsort(sorted, n, sizeof *sorted, cmp_managed);
  for (size_t i = 0; i < n && !c->err; i++) {
    const char *key = sorted[i].key;
    if (i > 0 && strcmp(key, sorted[i - 1].key) == 0)
      continue; /* a map key seen twice: the last entry (sorted first) wins */
    uint32_t segments = 1;
    for (const char *p = key; *p; p++)
      segments += *p == '.';
    if (segments > CF_MAX_MANAGED_SEGMENTS) {
      cl->managed_too_deep = true;
      continue;
    }
    confidence_value *node = root;
    const char *seg = key;
    for (const char *dot; (dot = strchr(seg, '.')); seg = dot + 1) {
      confidence_value *child = (confidence_value *)cf_value_get(node, seg, (size_t)(dot - seg));
      if (!child || child->type != CONFIDENCE_VALUE_STRUCT) {
        child = managed_struct(c);
        if (!child || !managed_set(c, node, seg, (size_t)(dot - seg), child))
          break;
      }
      node = child;
    }
    confidence_value *v = c->err ? NULL : compile_value(c, sorted[i].entry->value, NULL);
    if (v)
      managed_set(c, node, seg, strlen(seg), v);
  }
  free(sorted);
  if (c->err)
    return false;
  cl->managed = root;
  return true;
}

static bool compile_clients(compiler *c, const PbState *pb, cf_flag *flags, const PbFlag **flag_pb,
                            uint32_t n_flags)
{
  confidence_state *st = c->st;
  size_t nc = pb->n_clients;
  cf_client *clients = cf_arena_calloc(c->a, nc ? nc : 1, sizeof *clients);
  if (!clients)
    return fail_oom(c);
  size_t bitmap_bytes = (n_flags + 7) / 8 + 1;
  for (size_t i = 0; i < nc; i++) {
    cf_client *cl = &clients[i];
    cl->name = intern(c, pb->clients[i]->name);
    if (!compile_managed(c, pb->clients[i], cl))
      return false;
    uint8_t *enabled = cf_arena_alloc(c->a, bitmap_bytes);
    const cf_flag **list = cf_arena_calloc(c->a, n_flags ? n_flags : 1, sizeof *list);
    if (!enabled || !list)
      return fail_oom(c);
    for (uint32_t fi = 0; fi < n_flags; fi++) {
      if (flags[fi].state != CONFIDENCE__FLAGS__ADMIN__V1__FLAG__STATE__ACTIVE)
        continue;
      const PbFlag *pf = flag_pb[fi];
      for (size_t k = 0; k < pf->n_clients; k++) {
        if (pf->clients[k] && cf_str_eq(cl->name, pf->clients[k], strlen(pf->clients[k]))) {
          enabled[fi / 8] |= (uint8_t)(1u << (fi % 8));
          list[cl->n_flags++] = &flags[fi];
          break;
        }
      }
    }
    cl->enabled = enabled;
    cl->flags = list;
  }
  /* Secrets: for each client, each credential whose name has the client's
   * name as a plain byte prefix; later insertions overwrite (spec 2). The
   * pair that survives for a secret is the last (client, credential) in
   * that order, so each credential only needs its last matching client,
   * and the map at most one entry per credential (not clients x creds). */
  size_t ncc = pb->n_client_credentials;
  if (!cf_strmap_init(&st->secrets, c->a, ncc))
    return fail_oom(c);
  for (size_t j = 0; j < ncc; j++) {
    const Confidence__Iam__V1__ClientCredential *cred = pb->client_credentials[j];
    if ((int)cred->credential_case != CREDENTIAL_SECRET || !cred->client_secret)
      continue;
    const char *cname = cred->name ? cred->name : "";
    size_t i = nc;
    while (i > 0 && strncmp(cname, clients[i - 1].name.s, clients[i - 1].name.len) != 0)
      i--;
    if (i == 0)
      continue;
    const cf_client *client = &clients[i - 1];
    const char *secret = cred->client_secret->secret ? cred->client_secret->secret : "";
    const cf_credential *prev = cf_strmap_get(&st->secrets, secret, strlen(secret));
    if (prev && prev->client > client)
      continue; /* an earlier credential with this secret matched a later client */
    cf_credential *cr = cf_arena_alloc(c->a, sizeof *cr);
    cf_str *envs = cf_arena_calloc(c->a, cred->n_environments ? cred->n_environments : 1, sizeof *envs);
    if (!cr || !envs)
      return fail_oom(c);
    cr->secret = intern(c, secret);
    cr->client = client;
    cr->name = intern(c, cname);
    for (size_t k = 0; k < cred->n_environments; k++)
      envs[k] = intern(c, cred->environments[k]);
    cr->envs = envs;
    cr->n_envs = (uint32_t)cred->n_environments;
    if (c->err)
      return false;
    cf_strmap_put(&st->secrets, cr->secret, cr);
  }
  return true;
}

/* ---- entry point -------------------------------------------------------- */

int cf_state_compile(const void *pbstate, const uint8_t *wire, size_t wire_len, const char *account_id,
                     size_t budget, size_t reserved, confidence_state *st)
{
  const PbState *pb = pbstate;
  compiler c = {.st = st, .a = &st->arena, .budget = budget, .reserved = reserved};
  wire_hashes wh = {cf_arena_calloc(c.a, pb->n_flags + 1, sizeof(uint64_t)),
                    cf_arena_calloc(c.a, pb->n_segments_no_bitsets + 1, sizeof(uint64_t)), 0, 0};
  if (!wh.flags || !wh.segments)
    return cf_error(CONFIDENCE_ENOMEM, "out of memory compiling state");
  hash_wire(wire, wire_len, &wh);

  st->account_id = intern(&c, account_id);
  /* Salt: "MegaSalt-" + the account id up to its first '/'. */
  size_t idlen = strcspn(account_id, "/");
  char *salt = cf_arena_alloc(c.a, idlen + 11);
  if (!salt)
    return cf_error(CONFIDENCE_ENOMEM, "out of memory compiling state");
  memcpy(salt, "MegaSalt-", 9);
  memcpy(salt + 9, account_id, idlen);
  salt[9 + idlen] = '|';
  st->salt_key = (cf_str){salt, (uint32_t)(idlen + 10)};
  confidence_value *empty = cf_value_arena_new(c.a, CONFIDENCE_VALUE_STRUCT);
  if (!empty)
    return cf_error(CONFIDENCE_ENOMEM, "out of memory compiling state");
  st->empty_struct = empty;

  if (!load_bitsets(&c, pb) || !load_blooms(&c, pb))
    return c.err;

  /* Segments: later duplicates overwrite earlier ones. seg_src[k] is the
   * index in pb of the definition slot k uses. */
  if (!cf_strmap_init(&c.segments, c.a, pb->n_segments_no_bitsets))
    return cf_error(CONFIDENCE_ENOMEM, "out of memory compiling state");
  cf_segment *segs = cf_arena_calloc(c.a, pb->n_segments_no_bitsets + 1, sizeof *segs);
  size_t *seg_src = calloc(pb->n_segments_no_bitsets + 1, sizeof *seg_src);
  if (!segs || !seg_src) {
    free(seg_src);
    return cf_error(CONFIDENCE_ENOMEM, "out of memory compiling state");
  }
  size_t n_segs = 0;
  for (size_t i = 0; i < pb->n_segments_no_bitsets; i++) {
    const PbSegment *ps = pb->segments_no_bitsets[i];
    const char *name = ps->name ? ps->name : "";
    cf_segment *existing = cf_strmap_get(&c.segments, name, strlen(name));
    if (existing) {
      seg_src[existing - segs] = i;
      continue;
    }
    segs[n_segs].name = intern(&c, name);
    if (c.err)
      break;
    seg_src[n_segs] = i;
    cf_strmap_put(&c.segments, segs[n_segs].name, &segs[n_segs]);
    n_segs++;
  }
  for (size_t i = 0; i < n_segs && !c.err; i++)
    compile_segment(&c, pb->segments_no_bitsets[seg_src[i]], seg_src[i] < wh.n_segments ? wh.segments[seg_src[i]] : 0,
                    &segs[i]);
  free(seg_src);
  if (c.err)
    return c.err;

  /* Flags: later duplicates overwrite earlier ones, keeping the first slot. */
  cf_flag *flags = cf_arena_calloc(c.a, pb->n_flags + 1, sizeof *flags);
  const PbFlag **flag_pb = calloc(pb->n_flags + 1, sizeof *flag_pb);
  size_t *flag_src = calloc(pb->n_flags + 1, sizeof *flag_src);
  if (!flags || !flag_pb || !flag_src || !cf_strmap_init(&st->flag_index, c.a, pb->n_flags)) {
    free(flag_pb);
    free(flag_src);
    return cf_error(CONFIDENCE_ENOMEM, "out of memory compiling state");
  }
  uint32_t n_flags = 0;
  for (size_t i = 0; i < pb->n_flags && !c.err; i++) {
    const char *name = pb->flags[i]->name ? pb->flags[i]->name : "";
    cf_flag *existing = cf_strmap_get(&st->flag_index, name, strlen(name));
    if (existing) {
      flag_pb[existing->index] = pb->flags[i];
      flag_src[existing->index] = i;
      continue;
    }
    flags[n_flags].index = n_flags;
    flags[n_flags].name = intern(&c, name);
    flag_pb[n_flags] = pb->flags[i];
    flag_src[n_flags] = i;
    cf_strmap_put(&st->flag_index, flags[n_flags].name, &flags[n_flags]);
    n_flags++;
  }
  for (uint32_t i = 0; i < n_flags && !c.err; i++)
    compile_flag(&c, flag_pb[i], flag_src[i] < wh.n_flags ? wh.flags[flag_src[i]] : 0, &flags[i]);
  free(flag_src);
  st->flags = flags;
  st->n_flags = n_flags;
  if (!c.err)
    compile_clients(&c, pb, flags, flag_pb, n_flags);
  free(flag_pb);
  return c.err;
}
