/* Compiles segment targeting into the snapshot: criteria (attribute rules
 * with their values pre-parsed, segment and materialized-segment references)
 * and the boolean expression over them, plus each segment's bitset. */
#include <stdlib.h>
#include <string.h>

#include "compile_internal.h"

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

/* Oneof cases carry the field numbers of their members. */
enum { ATTR_EQ = 2, ATTR_SET, ATTR_RANGE, ATTR_ANY, ATTR_ALL, ATTR_STARTS, ATTR_ENDS, ATTR_CONTAINS };
enum { INNER_EQ = 1, INNER_SET, INNER_RANGE, INNER_STARTS, INNER_ENDS, INNER_CONTAINS };
enum { TV_BOOL = 1, TV_STRING = 4, TV_TIMESTAMP = 5, TV_VERSION = 6, TV_NUMBER = 7, TV_LIST = 8 };
enum { CRIT_ATTRIBUTE = 1, CRIT_SEGMENT = 2, CRIT_MATSEG = 3 };
enum { EXPR_REF = 1, EXPR_NOT, EXPR_AND, EXPR_OR };

static bool compile_tval(cf_compiler *c, const PbTValue *pb, cf_tval *out)
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
    out->s = cf_compile_intern(c, pb->string_value);
    break;
  case TV_TIMESTAMP:
    out->kind = CF_TV_TIMESTAMP;
    out->ts.secs = pb->timestamp_value ? pb->timestamp_value->seconds : 0;
    out->ts.nanos = pb->timestamp_value ? pb->timestamp_value->nanos : 0;
    break;
  case TV_VERSION:
    out->kind = CF_TV_VERSION;
    out->s = cf_compile_intern(c, pb->version_value ? pb->version_value->version : "");
    cf_parse_version(out->s.s, out->s.len, out->ver);
    break;
  case TV_LIST: {
    out->kind = CF_TV_LIST;
    size_t n = pb->list_value ? pb->list_value->n_values : 0;
    cf_tval *items = cf_arena_calloc(c->a, n ? n : 1, sizeof *items);
    if (!items)
      return cf_compile_fail_oom(c);
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

static const cf_tval *new_tval(cf_compiler *c, const PbTValue *pb)
{
  cf_tval *v = cf_arena_alloc(c->a, sizeof *v);
  if (!v)
    return cf_compile_oom(c);
  return compile_tval(c, pb, v) ? v : NULL;
}

static bool compile_set(cf_compiler *c, const PbSet *pb, cf_op *op)
{
  op->kind = CF_OP_SET;
  size_t n = pb->n_values;
  cf_tval *vals = cf_arena_calloc(c->a, n ? n : 1, sizeof *vals);
  if (!vals)
    return cf_compile_fail_oom(c);
  for (size_t i = 0; i < n; i++)
    if (!compile_tval(c, pb->values[i], &vals[i]))
      return false;
  op->set = vals;
  op->n_set = (uint32_t)n;
  return true;
}

static bool compile_range(cf_compiler *c, const PbRange *pb, cf_op *op)
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

static bool compile_eq(cf_compiler *c, const PbEq *pb, cf_op *op)
{
  op->kind = CF_OP_EQ;
  if (pb->value) {
    op->eq = new_tval(c, pb->value);
    if (!op->eq)
      return false;
  }
  return true;
}

static bool compile_text(cf_compiler *c, int kind, const char *text, cf_op *op)
{
  op->kind = (unsigned char)kind;
  op->text = cf_compile_intern(c, text);
  return c->err == 0;
}

static bool compile_inner(cf_compiler *c, const PbInner *pb, cf_op *op)
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

static bool compile_any_all(cf_compiler *c, int kind, const PbInner *inner, cf_op *op)
{
  op->kind = (unsigned char)kind;
  if (!inner)
    return true; /* absent rule: unrecognized */
  cf_op *in = cf_arena_alloc(c->a, sizeof *in);
  if (!in)
    return cf_compile_fail_oom(c);
  op->inner = in;
  return compile_inner(c, inner, in);
}

static bool compile_attribute(cf_compiler *c, const PbAttribute *pb, cf_crit *cr)
{
  cr->kind = CF_CRIT_ATTRIBUTE;
  cr->path = cf_compile_split_path(c, pb->attribute_name, '.', &cr->n_path);
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

static bool compile_criterion(cf_compiler *c, const PbCriterion *pb, cf_crit *cr)
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
    cr->matseg = cf_compile_intern(c, pb->materialized_segment->materialized_segment);
    cr->bloom = cf_strmap_get(&c->blooms, cr->matseg.s, cr->matseg.len);
    return c->err == 0;
  }
  default:
    return true; /* unset criterion: false */
  }
}

static bool compile_expr(cf_compiler *c, const PbExpr *pb, const cf_strmap *criteria, cf_expr *ex)
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
      return cf_compile_fail_oom(c);
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
      return cf_compile_fail_oom(c);
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

static bool compile_segment(cf_compiler *c, const PbSegment *pb, uint64_t fingerprint, cf_segment *seg)
{
  const PbTargeting *t = pb->targeting;
  if (t && t->expression) {
    cf_strmap criteria;
    if (!cf_strmap_init(&criteria, c->a, t->n_criteria))
      return cf_compile_fail_oom(c);
    for (size_t i = 0; i < t->n_criteria; i++) {
      cf_crit *cr = cf_arena_alloc(c->a, sizeof *cr);
      if (!cr || !compile_criterion(c, t->criteria[i]->value, cr))
        return cr ? false : cf_compile_fail_oom(c);
      cf_str key = cf_compile_intern(c, t->criteria[i]->key);
      if (c->err)
        return false;
      cf_strmap_put(&criteria, key, cr);
    }
    cf_expr *root = cf_arena_alloc(c->a, sizeof *root);
    if (!root)
      return cf_compile_fail_oom(c);
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

bool cf_compile_segments(cf_compiler *c, const PbState *pb, const uint64_t *hashes, size_t n_hashes)
{
  /* Later duplicates overwrite earlier ones. seg_src[k] is the index in pb
   * of the definition slot k uses. */
  if (!cf_strmap_init(&c->segments, c->a, pb->n_segments_no_bitsets))
    return cf_compile_fail_oom(c);
  cf_segment *segs = cf_arena_calloc(c->a, pb->n_segments_no_bitsets + 1, sizeof *segs);
  size_t *seg_src = calloc(pb->n_segments_no_bitsets + 1, sizeof *seg_src);
  if (!segs || !seg_src) {
    free(seg_src);
    return cf_compile_fail_oom(c);
  }
  size_t n_segs = 0;
  for (size_t i = 0; i < pb->n_segments_no_bitsets; i++) {
    const PbSegment *ps = pb->segments_no_bitsets[i];
    const char *name = ps->name ? ps->name : "";
    cf_segment *existing = cf_strmap_get(&c->segments, name, strlen(name));
    if (existing) {
      seg_src[existing - segs] = i;
      continue;
    }
    segs[n_segs].name = cf_compile_intern(c, name);
    if (c->err)
      break;
    seg_src[n_segs] = i;
    cf_strmap_put(&c->segments, segs[n_segs].name, &segs[n_segs]);
    n_segs++;
  }
  for (size_t i = 0; i < n_segs && !c->err; i++)
    compile_segment(c, pb->segments_no_bitsets[seg_src[i]], seg_src[i] < n_hashes ? hashes[seg_src[i]] : 0, &segs[i]);
  free(seg_src);
  return c->err == 0;
}
