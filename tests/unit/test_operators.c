/* Resolver semantics, one rule at a time: each test builds a small
 * ResolverState with the protobuf-c structs, packs it, loads it with
 * confidence_state_load and checks the resolve outcome against
 * RESOLVER_SPEC.md (sections 2, 3.1-3.12). The expectations are read off the
 * spec's tables and worked examples, or follow from its hash vectors (3.8). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include "check.h"
#include "confidence/confidence.h"
#include "murmur3.h"
#include "proto/confidence/flags/admin/v1/resolver.pb-c.h"

typedef Confidence__Flags__Admin__V1__ResolverState PbState;
typedef Confidence__Flags__Admin__V1__ResolverState__PackedBitset PbBitset;
typedef Confidence__Flags__Admin__V1__ResolverState__BloomFilter PbBloom;
typedef Confidence__Flags__Admin__V1__Flag PbFlag;
typedef Confidence__Flags__Admin__V1__Flag__Variant PbVariant;
typedef Confidence__Flags__Admin__V1__Flag__Rule PbRule;
typedef Confidence__Flags__Admin__V1__Flag__Rule__AssignmentSpec PbSpec;
typedef Confidence__Flags__Admin__V1__Flag__Rule__Assignment PbAssignment;
typedef Confidence__Flags__Admin__V1__Flag__Rule__BucketRange PbRange;
typedef Confidence__Flags__Admin__V1__Flag__Rule__MaterializationSpec PbMatSpec;
typedef Confidence__Flags__Admin__V1__Segment PbSegment;
typedef Confidence__Flags__Types__V1__Targeting PbTargeting;
typedef Confidence__Flags__Types__V1__Targeting__CriteriaEntry PbCritEntry;
typedef Confidence__Flags__Types__V1__Targeting__Criterion Crit;
typedef Confidence__Flags__Types__V1__Targeting__Criterion__AttributeCriterion PbAttr;
typedef Confidence__Flags__Types__V1__Targeting__InnerRule Inner;
typedef Confidence__Flags__Types__V1__Targeting__EqRule PbEq;
typedef Confidence__Flags__Types__V1__Targeting__SetRule PbSet;
typedef Confidence__Flags__Types__V1__Targeting__RangeRule PbRangeRule;
typedef Confidence__Flags__Types__V1__Targeting__Value TV;
typedef Confidence__Flags__Types__V1__Expression Expr;
typedef Confidence__Flags__Types__V1__Expression__Operands PbOperands;
typedef Confidence__Flags__Types__V1__FlagSchema Schema;
typedef Confidence__Flags__Types__V1__FlagSchema__StructFlagSchema StructSchema;
typedef Confidence__Flags__Types__V1__FlagSchema__StructFlagSchema__SchemaEntry SchemaEntry;
typedef Google__Protobuf__Struct PbStruct;
typedef Google__Protobuf__Value PbValue;

enum { M = CONFIDENCE_RESOLVE_REASON_MATCH, N = CONFIDENCE_RESOLVE_REASON_NO_SEGMENT_MATCH, TKE = CONFIDENCE_RESOLVE_REASON_TARGETING_KEY_ERROR,
       MNS = CONFIDENCE_RESOLVE_REASON_MATERIALIZATION_NOT_SUPPORTED, ERES = CONFIDENCE_ERESOLVE, ABSENT = 1000 };

#define SECRET "secret-1"
#define CLIENT "clients/c1"
#define FLAG "flags/f"
#define ON "flags/f/variants/on"
#define OFF "flags/f/variants/off"
#define RULE1 "flags/f/rules/r1"
#define RULE2 "flags/f/rules/r2"

/* ---- allocation tracking: every builder object is freed after packing --- */

static void **g_allocs;
static size_t g_n_allocs, g_cap_allocs;

static void *tb_alloc(size_t n)
{
  if (g_n_allocs == g_cap_allocs) {
    g_cap_allocs = g_cap_allocs ? 2 * g_cap_allocs : 1024;
    g_allocs = realloc(g_allocs, g_cap_allocs * sizeof *g_allocs);
    if (!g_allocs)
      abort();
  }
  void *p = calloc(1, n ? n : 1);
  if (!p)
    abort();
  g_allocs[g_n_allocs++] = p;
  return p;
}

static void tb_free_all(void)
{
  for (size_t i = 0; i < g_n_allocs; i++)
    free(g_allocs[i]);
  g_n_allocs = 0;
}

static char *tb_str(const char *s)
{
  size_t n = strlen(s);
  char *p = tb_alloc(n + 1);
  memcpy(p, s, n);
  return p;
}

static void *msg(const ProtobufCMessageDescriptor *d)
{
  void *m = tb_alloc(d->sizeof_message);
  protobuf_c_message_init(d, m);
  return m;
}

/* Appends to a repeated field (copying: builder arrays are small). */
static void push(void ***arr, size_t *n, void *item)
{
  void **grown = tb_alloc((*n + 1) * sizeof *grown);
  if (*n)
    memcpy(grown, *arr, *n * sizeof *grown);
  grown[(*n)++] = item;
  *arr = grown;
}
#define PUSH(arr, n, item) push((void ***)&(arr), &(n), (item))

/* ---- targeting values ------------------------------------------------- */

static TV *tv_unset(void) { return msg(&confidence__flags__types__v1__targeting__value__descriptor); }

static TV *tv_str(const char *s)
{
  TV *v = tv_unset();
  v->value_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__VALUE__VALUE_STRING_VALUE;
  v->string_value = tb_str(s);
  return v;
}

static TV *tv_num(double x)
{
  TV *v = tv_unset();
  v->value_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__VALUE__VALUE_NUMBER_VALUE;
  v->number_value = x;
  return v;
}

static TV *tv_bool(int b)
{
  TV *v = tv_unset();
  v->value_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__VALUE__VALUE_BOOL_VALUE;
  v->bool_value = b;
  return v;
}

static TV *tv_ts(int64_t secs, int32_t nanos)
{
  TV *v = tv_unset();
  Google__Protobuf__Timestamp *t = msg(&google__protobuf__timestamp__descriptor);
  t->seconds = secs;
  t->nanos = nanos;
  v->value_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__VALUE__VALUE_TIMESTAMP_VALUE;
  v->timestamp_value = t;
  return v;
}

static TV *tv_ver(const char *s)
{
  TV *v = tv_unset();
  Confidence__Flags__Types__V1__Targeting__SemanticVersion *sv =
      msg(&confidence__flags__types__v1__targeting__semantic_version__descriptor);
  sv->version = tb_str(s);
  v->value_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__VALUE__VALUE_VERSION_VALUE;
  v->version_value = sv;
  return v;
}

static TV *tv_list(int n, ...)
{
  TV *v = tv_unset();
  Confidence__Flags__Types__V1__Targeting__ListValue *l =
      msg(&confidence__flags__types__v1__targeting__list_value__descriptor);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++)
    PUSH(l->values, l->n_values, va_arg(ap, TV *));
  va_end(ap);
  v->value_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__VALUE__VALUE_LIST_VALUE;
  v->list_value = l;
  return v;
}

/* ---- rules ------------------------------------------------------------ */

/* value NULL: an EqRule without a value. */
static PbEq *eq_rule(TV *value)
{
  PbEq *r = msg(&confidence__flags__types__v1__targeting__eq_rule__descriptor);
  r->value = value;
  return r;
}

static PbSet *set_rule(int n, va_list ap)
{
  PbSet *r = msg(&confidence__flags__types__v1__targeting__set_rule__descriptor);
  for (int i = 0; i < n; i++)
    PUSH(r->values, r->n_values, va_arg(ap, TV *));
  return r;
}

/* NULL bound: unset. */
static PbRangeRule *range_rule(TV *start, int start_incl, TV *end, int end_incl)
{
  PbRangeRule *r = msg(&confidence__flags__types__v1__targeting__range_rule__descriptor);
  if (start && start_incl) {
    r->start_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__RANGE_RULE__START_START_INCLUSIVE;
    r->start_inclusive = start;
  } else if (start) {
    r->start_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__RANGE_RULE__START_START_EXCLUSIVE;
    r->start_exclusive = start;
  }
  if (end && end_incl) {
    r->end_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__RANGE_RULE__END_END_INCLUSIVE;
    r->end_inclusive = end;
  } else if (end) {
    r->end_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__RANGE_RULE__END_END_EXCLUSIVE;
    r->end_exclusive = end;
  }
  return r;
}

static Crit *crit_unset(void) { return msg(&confidence__flags__types__v1__targeting__criterion__descriptor); }

static PbAttr *attr_crit(const char *attr, Crit **out)
{
  Crit *c = crit_unset();
  PbAttr *a = msg(&confidence__flags__types__v1__targeting__criterion__attribute_criterion__descriptor);
  a->attribute_name = tb_str(attr);
  c->criterion_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__CRITERION__CRITERION_ATTRIBUTE;
  c->attribute = a;
  *out = c;
  return a;
}

#define ATTR_CASE(x) CONFIDENCE__FLAGS__TYPES__V1__TARGETING__CRITERION__ATTRIBUTE_CRITERION__RULE_##x
#define INNER_CASE(x) CONFIDENCE__FLAGS__TYPES__V1__TARGETING__INNER_RULE__RULE_##x

static Crit *c_norule(const char *attr)
{
  Crit *c;
  attr_crit(attr, &c);
  return c;
}

static Crit *c_eq(const char *attr, TV *value)
{
  Crit *c;
  PbAttr *a = attr_crit(attr, &c);
  a->rule_case = ATTR_CASE(EQ_RULE);
  a->eq_rule = eq_rule(value);
  return c;
}

static Crit *c_set(const char *attr, int n, ...)
{
  Crit *c;
  PbAttr *a = attr_crit(attr, &c);
  va_list ap;
  va_start(ap, n);
  a->rule_case = ATTR_CASE(SET_RULE);
  a->set_rule = set_rule(n, ap);
  va_end(ap);
  return c;
}

static Crit *c_range(const char *attr, TV *start, int start_incl, TV *end, int end_incl)
{
  Crit *c;
  PbAttr *a = attr_crit(attr, &c);
  a->rule_case = ATTR_CASE(RANGE_RULE);
  a->range_rule = range_rule(start, start_incl, end, end_incl);
  return c;
}

static Crit *c_text(const char *attr, int which, const char *text)
{
  Crit *c;
  PbAttr *a = attr_crit(attr, &c);
  if (which == 's') {
    a->rule_case = ATTR_CASE(STARTS_WITH_RULE);
    a->starts_with_rule = msg(&confidence__flags__types__v1__targeting__starts_with_rule__descriptor);
    a->starts_with_rule->value = tb_str(text);
  } else if (which == 'e') {
    a->rule_case = ATTR_CASE(ENDS_WITH_RULE);
    a->ends_with_rule = msg(&confidence__flags__types__v1__targeting__ends_with_rule__descriptor);
    a->ends_with_rule->value = tb_str(text);
  } else {
    a->rule_case = ATTR_CASE(CONTAINS_RULE);
    a->contains_rule = msg(&confidence__flags__types__v1__targeting__contains_rule__descriptor);
    a->contains_rule->value = tb_str(text);
  }
  return c;
}
#define c_starts(a, t) c_text(a, 's', t)
#define c_ends(a, t) c_text(a, 'e', t)
#define c_contains(a, t) c_text(a, 'c', t)

static Inner *i_unset(void) { return msg(&confidence__flags__types__v1__targeting__inner_rule__descriptor); }

static Inner *i_eq(TV *value)
{
  Inner *r = i_unset();
  r->rule_case = INNER_CASE(EQ_RULE);
  r->eq_rule = eq_rule(value);
  return r;
}

static Inner *i_set(int n, ...)
{
  Inner *r = i_unset();
  va_list ap;
  va_start(ap, n);
  r->rule_case = INNER_CASE(SET_RULE);
  r->set_rule = set_rule(n, ap);
  va_end(ap);
  return r;
}

static Inner *i_range(TV *start, int start_incl, TV *end, int end_incl)
{
  Inner *r = i_unset();
  r->rule_case = INNER_CASE(RANGE_RULE);
  r->range_rule = range_rule(start, start_incl, end, end_incl);
  return r;
}

static Inner *i_text(int which, const char *text)
{
  Inner *r = i_unset();
  if (which == 's') {
    r->rule_case = INNER_CASE(STARTS_WITH_RULE);
    r->starts_with_rule = msg(&confidence__flags__types__v1__targeting__starts_with_rule__descriptor);
    r->starts_with_rule->value = tb_str(text);
  } else if (which == 'e') {
    r->rule_case = INNER_CASE(ENDS_WITH_RULE);
    r->ends_with_rule = msg(&confidence__flags__types__v1__targeting__ends_with_rule__descriptor);
    r->ends_with_rule->value = tb_str(text);
  } else {
    r->rule_case = INNER_CASE(CONTAINS_RULE);
    r->contains_rule = msg(&confidence__flags__types__v1__targeting__contains_rule__descriptor);
    r->contains_rule->value = tb_str(text);
  }
  return r;
}

/* inner NULL: the AnyRule/AllRule has no `rule` at all. */
static Crit *c_any_all(const char *attr, int all, Inner *inner)
{
  Crit *c;
  PbAttr *a = attr_crit(attr, &c);
  if (all) {
    a->rule_case = ATTR_CASE(ALL_RULE);
    a->all_rule = msg(&confidence__flags__types__v1__targeting__all_rule__descriptor);
    a->all_rule->rule = inner;
  } else {
    a->rule_case = ATTR_CASE(ANY_RULE);
    a->any_rule = msg(&confidence__flags__types__v1__targeting__any_rule__descriptor);
    a->any_rule->rule = inner;
  }
  return c;
}
#define c_any(a, r) c_any_all(a, 0, r)
#define c_all(a, r) c_any_all(a, 1, r)

static Crit *c_segment(const char *segment)
{
  Crit *c = crit_unset();
  c->criterion_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__CRITERION__CRITERION_SEGMENT;
  c->segment = msg(&confidence__flags__types__v1__targeting__criterion__segment_criterion__descriptor);
  c->segment->segment = tb_str(segment);
  return c;
}

static Crit *c_matseg(const char *name)
{
  Crit *c = crit_unset();
  c->criterion_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__CRITERION__CRITERION_MATERIALIZED_SEGMENT;
  c->materialized_segment =
      msg(&confidence__flags__types__v1__targeting__criterion__materialized_segment_criterion__descriptor);
  c->materialized_segment->materialized_segment = tb_str(name);
  return c;
}

/* ---- expressions ------------------------------------------------------ */

static Expr *e_unset(void) { return msg(&confidence__flags__types__v1__expression__descriptor); }

static Expr *e_ref(const char *id)
{
  Expr *e = e_unset();
  e->expression_case = CONFIDENCE__FLAGS__TYPES__V1__EXPRESSION__EXPRESSION_REF;
  e->ref = tb_str(id);
  return e;
}

static Expr *e_not(Expr *x)
{
  Expr *e = e_unset();
  e->expression_case = CONFIDENCE__FLAGS__TYPES__V1__EXPRESSION__EXPRESSION_NOT;
  e->not_ = x;
  return e;
}

static Expr *e_andor(int is_and, int n, va_list ap)
{
  Expr *e = e_unset();
  PbOperands *ops = msg(&confidence__flags__types__v1__expression__operands__descriptor);
  for (int i = 0; i < n; i++)
    PUSH(ops->operands, ops->n_operands, va_arg(ap, Expr *));
  if (is_and) {
    e->expression_case = CONFIDENCE__FLAGS__TYPES__V1__EXPRESSION__EXPRESSION_AND;
    e->and_ = ops;
  } else {
    e->expression_case = CONFIDENCE__FLAGS__TYPES__V1__EXPRESSION__EXPRESSION_OR;
    e->or_ = ops;
  }
  return e;
}

static Expr *e_and(int n, ...)
{
  va_list ap;
  va_start(ap, n);
  Expr *e = e_andor(1, n, ap);
  va_end(ap);
  return e;
}

static Expr *e_or(int n, ...)
{
  va_list ap;
  va_start(ap, n);
  Expr *e = e_andor(0, n, ap);
  va_end(ap);
  return e;
}

/* ---- segments ----------------------------------------------------------- */

static PbSegment *seg_new(const char *name)
{
  PbSegment *s = msg(&confidence__flags__admin__v1__segment__descriptor);
  s->name = tb_str(name);
  return s;
}

static PbTargeting *seg_targeting(PbSegment *s)
{
  if (!s->targeting)
    s->targeting = msg(&confidence__flags__types__v1__targeting__descriptor);
  return s->targeting;
}

static void seg_crit(PbSegment *s, const char *key, Crit *c)
{
  PbTargeting *t = seg_targeting(s);
  PbCritEntry *e = msg(&confidence__flags__types__v1__targeting__criteria_entry__descriptor);
  e->key = tb_str(key);
  e->value = c;
  PUSH(t->criteria, t->n_criteria, e);
}

static void seg_expr(PbSegment *s, Expr *e) { seg_targeting(s)->expression = e; }

/* ---- flag values and schemas ------------------------------------------- */

static PbValue *pb_value(json_t *j);

static PbStruct *pb_struct(json_t *obj)
{
  PbStruct *s = msg(&google__protobuf__struct__descriptor);
  const char *key;
  json_t *item;
  json_object_foreach(obj, key, item)
  {
    Google__Protobuf__Struct__FieldsEntry *e = msg(&google__protobuf__struct__fields_entry__descriptor);
    e->key = tb_str(key);
    e->value = pb_value(item);
    PUSH(s->fields, s->n_fields, e);
  }
  return s;
}

static PbValue *pb_value(json_t *j)
{
  PbValue *v = msg(&google__protobuf__value__descriptor);
  switch (json_typeof(j)) {
  case JSON_NULL:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
    break;
  case JSON_TRUE:
  case JSON_FALSE:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
    v->bool_value = json_is_true(j);
    break;
  case JSON_INTEGER:
  case JSON_REAL:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
    v->number_value = json_number_value(j);
    break;
  case JSON_STRING:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    v->string_value = tb_str(json_string_value(j));
    break;
  case JSON_ARRAY: {
    Google__Protobuf__ListValue *l = msg(&google__protobuf__list_value__descriptor);
    size_t i;
    json_t *item;
    json_array_foreach(j, i, item) PUSH(l->values, l->n_values, pb_value(item));
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
    v->list_value = l;
    break;
  }
  case JSON_OBJECT:
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
    v->struct_value = pb_struct(j);
    break;
  }
  return v;
}

/* A google.protobuf.Struct from a JSON object text (builder-owned). */
static PbStruct *pb_struct_json(const char *text)
{
  json_error_t err;
  json_t *j = json_loads(text, 0, &err);
  if (!j || !json_is_object(j)) {
    fprintf(stderr, "bad test JSON %s\n", text);
    abort();
  }
  PbStruct *s = pb_struct(j);
  json_decref(j);
  return s;
}

#define SCHEMA_CASE(x) CONFIDENCE__FLAGS__TYPES__V1__FLAG_SCHEMA__SCHEMA_TYPE_##x##_SCHEMA

static Schema *sch_scalar(int which)
{
  Schema *s = msg(&confidence__flags__types__v1__flag_schema__descriptor);
  switch (which) {
  case 'i':
    s->schema_type_case = SCHEMA_CASE(INT);
    s->int_schema = msg(&confidence__flags__types__v1__flag_schema__int_flag_schema__descriptor);
    break;
  case 'd':
    s->schema_type_case = SCHEMA_CASE(DOUBLE);
    s->double_schema = msg(&confidence__flags__types__v1__flag_schema__double_flag_schema__descriptor);
    break;
  case 's':
    s->schema_type_case = SCHEMA_CASE(STRING);
    s->string_schema = msg(&confidence__flags__types__v1__flag_schema__string_flag_schema__descriptor);
    break;
  default:
    s->schema_type_case = SCHEMA_CASE(BOOL);
    s->bool_schema = msg(&confidence__flags__types__v1__flag_schema__bool_flag_schema__descriptor);
    break;
  }
  return s;
}

/* n pairs of (const char *name, Schema *). */
static StructSchema *struct_schema(int n, va_list ap)
{
  StructSchema *ss = msg(&confidence__flags__types__v1__flag_schema__struct_flag_schema__descriptor);
  for (int i = 0; i < n; i++) {
    SchemaEntry *e = msg(&confidence__flags__types__v1__flag_schema__struct_flag_schema__schema_entry__descriptor);
    e->key = tb_str(va_arg(ap, const char *));
    e->value = va_arg(ap, Schema *);
    PUSH(ss->schema, ss->n_schema, e);
  }
  return ss;
}

static Schema *sch_struct(int n, ...)
{
  Schema *s = msg(&confidence__flags__types__v1__flag_schema__descriptor);
  va_list ap;
  va_start(ap, n);
  s->schema_type_case = SCHEMA_CASE(STRUCT);
  s->struct_schema = struct_schema(n, ap);
  va_end(ap);
  return s;
}

static Schema *sch_list(Schema *elem)
{
  Schema *s = msg(&confidence__flags__types__v1__flag_schema__descriptor);
  s->schema_type_case = SCHEMA_CASE(LIST);
  s->list_schema = msg(&confidence__flags__types__v1__flag_schema__list_flag_schema__descriptor);
  s->list_schema->element_schema = elem;
  return s;
}

static StructSchema *flag_schema(int n, ...)
{
  va_list ap;
  va_start(ap, n);
  StructSchema *ss = struct_schema(n, ap);
  va_end(ap);
  return ss;
}

/* ---- flags and rules ---------------------------------------------------- */

static PbFlag *flag_new(const char *name, const char *client)
{
  PbFlag *f = msg(&confidence__flags__admin__v1__flag__descriptor);
  f->name = tb_str(name);
  f->state = CONFIDENCE__FLAGS__ADMIN__V1__FLAG__STATE__ACTIVE;
  if (client)
    PUSH(f->clients, f->n_clients, tb_str(client));
  return f;
}

static void flag_variant(PbFlag *f, const char *name, const char *value_json)
{
  PbVariant *v = msg(&confidence__flags__admin__v1__flag__variant__descriptor);
  v->name = tb_str(name);
  v->value = value_json ? pb_struct_json(value_json) : NULL;
  PUSH(f->variants, f->n_variants, v);
}

/* bucket_count NO_SPEC: the rule has no assignment spec. */
#define NO_SPEC INT32_MIN

static PbRule *flag_rule(PbFlag *f, const char *name, const char *segment, const char *selector, int bucket_count)
{
  PbRule *r = msg(&confidence__flags__admin__v1__flag__rule__descriptor);
  r->name = tb_str(name);
  r->segment = tb_str(segment);
  r->targeting_key_selector = tb_str(selector);
  r->enabled = 1;
  if (bucket_count != NO_SPEC) {
    r->assignment_spec = msg(&confidence__flags__admin__v1__flag__rule__assignment_spec__descriptor);
    r->assignment_spec->bucket_count = bucket_count;
  }
  PUSH(f->rules, f->n_rules, r);
  return r;
}

enum { A_VARIANT = 'v', A_FALLTHROUGH = 'f', A_CLIENT_DEFAULT = 'c', A_UNSET = 'u' };

/* Adds an assignment with n_ranges (lower, upper) pairs. */
static PbAssignment *rule_assign(PbRule *r, int kind, const char *id, const char *variant, int n_ranges, ...)
{
  PbAssignment *a = msg(&confidence__flags__admin__v1__flag__rule__assignment__descriptor);
  a->assignment_id = tb_str(id);
  switch (kind) {
  case A_VARIANT:
    a->assignment_case = CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__ASSIGNMENT__ASSIGNMENT_VARIANT;
    a->variant = msg(&confidence__flags__admin__v1__flag__rule__assignment__variant_assignment__descriptor);
    a->variant->variant = tb_str(variant);
    break;
  case A_FALLTHROUGH:
    a->assignment_case = CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__ASSIGNMENT__ASSIGNMENT_FALLTHROUGH;
    a->fallthrough = msg(&confidence__flags__admin__v1__flag__rule__assignment__fallthrough_assignment__descriptor);
    break;
  case A_CLIENT_DEFAULT:
    a->assignment_case = CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__ASSIGNMENT__ASSIGNMENT_CLIENT_DEFAULT;
    a->client_default =
        msg(&confidence__flags__admin__v1__flag__rule__assignment__client_default_assignment__descriptor);
    break;
  default:
    break;
  }
  va_list ap;
  va_start(ap, n_ranges);
  for (int i = 0; i < n_ranges; i++) {
    PbRange *br = msg(&confidence__flags__admin__v1__flag__rule__bucket_range__descriptor);
    br->lower = va_arg(ap, int);
    br->upper = va_arg(ap, int);
    PUSH(a->bucket_ranges, a->n_bucket_ranges, br);
  }
  va_end(ap);
  PUSH(r->assignment_spec->assignments, r->assignment_spec->n_assignments, a);
  return a;
}

static void rule_env(PbRule *r, const char *env) { PUSH(r->environments, r->n_environments, tb_str(env)); }

static void rule_mat(PbRule *r, const char *write, const char *read, int must_match, int can_ignore)
{
  PbMatSpec *ms = msg(&confidence__flags__admin__v1__flag__rule__materialization_spec__descriptor);
  ms->write_materialization = tb_str(write);
  ms->read_materialization = tb_str(read);
  if (must_match || can_ignore) {
    ms->mode =
        msg(&confidence__flags__admin__v1__flag__rule__materialization_spec__materialization_read_mode__descriptor);
    ms->mode->materialization_must_match = must_match;
    ms->mode->segment_targeting_can_be_ignored = can_ignore;
  }
  r->materialization_spec = ms;
}

/* ---- states ------------------------------------------------------------- */

static void st_client(PbState *s, const char *name)
{
  Confidence__Iam__V1__Client *c = msg(&confidence__iam__v1__client__descriptor);
  c->name = tb_str(name);
  PUSH(s->clients, s->n_clients, c);
}

static void st_credential(PbState *s, const char *name, const char *secret, const char *env)
{
  Confidence__Iam__V1__ClientCredential *cc = msg(&confidence__iam__v1__client_credential__descriptor);
  cc->name = tb_str(name);
  cc->credential_case = CONFIDENCE__IAM__V1__CLIENT_CREDENTIAL__CREDENTIAL_CLIENT_SECRET;
  cc->client_secret = msg(&confidence__iam__v1__client_credential__client_secret__descriptor);
  cc->client_secret->secret = tb_str(secret);
  if (env)
    PUSH(cc->environments, cc->n_environments, tb_str(env));
  PUSH(s->client_credentials, s->n_client_credentials, cc);
}

/* One client (clients/c1) with one secret in environment "production". */
static PbState *st_new(void)
{
  PbState *s = msg(&confidence__flags__admin__v1__resolver_state__descriptor);
  st_client(s, CLIENT);
  st_credential(s, CLIENT "/credentials/k1", SECRET, "production");
  return s;
}

static void st_flag(PbState *s, PbFlag *f) { PUSH(s->flags, s->n_flags, f); }
static void st_seg(PbState *s, PbSegment *g) { PUSH(s->segments_no_bitsets, s->n_segments_no_bitsets, g); }

static void st_full_bitset(PbState *s, const char *segment)
{
  PbBitset *b = msg(&confidence__flags__admin__v1__resolver_state__packed_bitset__descriptor);
  b->segment = tb_str(segment);
  b->bitset_case = CONFIDENCE__FLAGS__ADMIN__V1__RESOLVER_STATE__PACKED_BITSET__BITSET_FULL_BITSET;
  b->full_bitset = 1;
  PUSH(s->bitsets, s->n_bitsets, b);
}

/* Gzips `bits` (n bytes) with zlib into builder memory. */
static void st_bitset(PbState *s, const char *segment, const uint8_t *bits, size_t n)
{
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    abort();
  uLong cap = deflateBound(&zs, (uLong)n) + 64;
  uint8_t *out = tb_alloc(cap);
  zs.next_in = (Bytef *)bits;
  zs.avail_in = (uInt)n;
  zs.next_out = out;
  zs.avail_out = (uInt)cap;
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
    abort();
  PbBitset *b = msg(&confidence__flags__admin__v1__resolver_state__packed_bitset__descriptor);
  b->segment = tb_str(segment);
  b->bitset_case = CONFIDENCE__FLAGS__ADMIN__V1__RESOLVER_STATE__PACKED_BITSET__BITSET_GZIPPED_BITSET;
  b->gzipped_bitset.data = out;
  b->gzipped_bitset.len = zs.total_out;
  deflateEnd(&zs);
  PUSH(s->bitsets, s->n_bitsets, b);
}

#define BITSET_BYTES 125000

/* A 1,000,000-bit vector with the listed bits set (LSB-first, spec 1.5). */
static uint8_t *bits_with(int n, ...)
{
  uint8_t *b = tb_alloc(BITSET_BYTES);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) {
    unsigned idx = va_arg(ap, unsigned);
    b[idx >> 3] |= (uint8_t)(1u << (idx & 7));
  }
  va_end(ap);
  return b;
}

static uint8_t *bits_filled(size_t n, uint8_t byte)
{
  uint8_t *b = tb_alloc(n);
  memset(b, byte, n);
  return b;
}

/* Packs the state; builder memory is released. Owned bytes. */
static uint8_t *st_pack(PbState *s, size_t *len)
{
  *len = protobuf_c_message_get_packed_size(&s->base);
  uint8_t *buf = malloc(*len + 1);
  if (!buf)
    abort();
  protobuf_c_message_pack(&s->base, buf);
  tb_free_all();
  return buf;
}

static confidence_state *load_bytes(const uint8_t *buf, size_t len, const char *account)
{
  confidence_state_options o = CONFIDENCE_STATE_OPTIONS_INIT;
  o.account_id = account;
  o.format = CONFIDENCE_STATE_FORMAT_RESOLVER_STATE;
  confidence_state *st = NULL;
  int rc = confidence_state_load(buf, len, &o, &st);
  if (rc)
    fprintf(stderr, "state load failed: %s (%s)\n", confidence_strerror(rc), confidence_last_error_message());
  return st;
}

static confidence_state *st_load_as(PbState *s, const char *account)
{
  size_t len;
  uint8_t *buf = st_pack(s, &len);
  confidence_state *st = load_bytes(buf, len, account);
  free(buf);
  CHECK(st != NULL);
  return st;
}

static confidence_state *st_load(PbState *s) { return st_load_as(s, "test-account"); }

/* The common shape: flags/f with variants on/off, rule r1 on segments/s1
 * (blank selector, full range -> on) and segment s1 = `expr` over criteria. */
static PbState *fixture(PbSegment **s1_out)
{
  PbState *s = st_new();
  PbFlag *f = flag_new(FLAG, CLIENT);
  flag_variant(f, ON, "{\"enabled\":true}");
  flag_variant(f, OFF, "{\"enabled\":false}");
  PbRule *r = flag_rule(f, RULE1, "segments/s1", "", 1000);
  rule_assign(r, A_VARIANT, "a1", ON, 1, 0, 1000);
  st_flag(s, f);
  PbSegment *s1 = seg_new("segments/s1");
  st_seg(s, s1);
  *s1_out = s1;
  return s;
}

/* Segment s1 is `ref c1` over the single criterion c1. */
static confidence_state *crit_state(Crit *c)
{
  PbSegment *s1;
  PbState *s = fixture(&s1);
  seg_crit(s1, "c1", c);
  seg_expr(s1, e_ref("c1"));
  return st_load(s);
}

/* Segment s1 is `not c1`: tells FALSE (-> MATCH) from a skipped rule. */
static confidence_state *not_crit_state(Crit *c)
{
  PbSegment *s1;
  PbState *s = fixture(&s1);
  seg_crit(s1, "c1", c);
  seg_expr(s1, e_not(e_ref("c1")));
  return st_load(s);
}

/* ---- resolving ---------------------------------------------------------- */

static confidence_resolve_result *g_res;
static confidence_value *g_ctx;

static confidence_value *ctx_json(const char *json)
{
  confidence_value *v = NULL;
  if (confidence_value_from_json(json, strlen(json), &v)) {
    fprintf(stderr, "bad context JSON %s\n", json);
    abort();
  }
  return v;
}

/* Resolves with context `ctx` (ownership taken; kept alive until the next
 * call so the result's borrowed strings stay valid). */
static int resolve_v(const confidence_state *st, const char *secret, const char *flag, confidence_value *ctx, int mode)
{
  confidence_value_free(g_ctx);
  g_ctx = ctx;
  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = secret;
  req.flags = flag ? &flag : NULL;
  req.flag_count = flag ? 1 : 0;
  req.context = ctx;
  req.materialization_mode = mode;
  return confidence_resolve(st, &req, g_res);
}

static const confidence_resolved_flag *g_flag; /* flags/f of the last resolve */

/* Reason of flags/f, ABSENT when not resolved, or the negative call code. */
static int outcome_v(const confidence_state *st, confidence_value *ctx, int mode)
{
  g_flag = NULL;
  if (!st)
    return -999;
  int rc = resolve_v(st, SECRET, FLAG, ctx, mode);
  if (rc)
    return rc;
  g_flag = confidence_resolve_result_find(g_res, FLAG);
  return g_flag ? confidence_resolved_flag_reason(g_flag) : ABSENT;
}

static int outcome(const confidence_state *st, const char *ctx) { return outcome_v(st, ctx_json(ctx), 0); }

static void expect_at(int line, const confidence_state *st, const char *ctx, int want)
{
  int got = outcome(st, ctx);
  if (got == want) {
    check_passed++;
    return;
  }
  check_failed++;
  fprintf(stderr, "test_operators.c:%d: context %s: got %d, want %d%s%s\n", line, ctx, got, want,
          got < 0 ? " error: " : "", got < 0 ? confidence_resolve_result_error(g_res) : "");
}
#define EXPECT(st, ctx, want) expect_at(__LINE__, st, ctx, want)

static void expect_v_at(int line, const confidence_state *st, confidence_value *ctx, int mode, int want)
{
  int got = outcome_v(st, ctx, mode);
  if (got == want) {
    check_passed++;
    return;
  }
  check_failed++;
  fprintf(stderr, "test_operators.c:%d: got %d, want %d (%s)\n", line, got, want, confidence_resolve_result_error(g_res));
}
#define EXPECT_V(st, ctx, mode, want) expect_v_at(__LINE__, st, ctx, mode, want)

static confidence_value *ctx_number(const char *key, double x)
{
  confidence_value *c = confidence_value_new_struct();
  confidence_value_struct_set(c, key, confidence_value_new_number(x));
  return c;
}

static const char *variant_of(void) { return g_flag ? confidence_resolved_flag_variant(g_flag) : "(none)"; }

/* ---- eq ------------------------------------------------------------------- */

static void test_eq(void)
{
  confidence_state *st = crit_state(c_eq("country", tv_str("SE")));
  EXPECT(st, "{\"country\":\"SE\"}", M);
  CHECK_STR(variant_of(), ON);
  EXPECT(st, "{\"country\":\"se\"}", N);
  EXPECT(st, "{}", N);
  EXPECT(st, "{\"country\":null}", N);
  EXPECT(st, "{\"country\":[\"NO\",\"SE\"]}", M); /* a list: any element */
  EXPECT(st, "{\"country\":[\"NO\"]}", N);
  EXPECT(st, "{\"country\":[]}", N);
  EXPECT(st, "{\"country\":{\"SE\":\"SE\"}}", N);
  confidence_state_unref(st);
  /* Missing attribute vs eq "SE" is FALSE, so its negation matches. */
  st = not_crit_state(c_eq("country", tv_str("SE")));
  EXPECT(st, "{}", M);
  EXPECT(st, "{\"country\":\"SE\"}", N);
  confidence_state_unref(st);

  /* Number rules parse strings as Rust f64; a bad string fails the call. */
  st = crit_state(c_eq("n", tv_num(42)));
  EXPECT(st, "{\"n\":42}", M);
  EXPECT(st, "{\"n\":42.0}", M);
  EXPECT(st, "{\"n\":\"42\"}", M);
  EXPECT(st, "{\"n\":\"+42\"}", M);
  EXPECT(st, "{\"n\":\"4.2e1\"}", M);
  EXPECT(st, "{\"n\":\"42.\"}", M);
  EXPECT(st, "{\"n\":43}", N);
  EXPECT(st, "{\"n\":true}", N);
  EXPECT(st, "{\"n\":null}", N);
  EXPECT(st, "{}", N);
  EXPECT(st, "{\"n\":{\"v\":\"x\"}}", N);
  EXPECT(st, "{\"n\":\"NaN\"}", N); /* parses, and NaN equals nothing */
  EXPECT(st, "{\"n\":[\"41\",42]}", M);
  EXPECT(st, "{\"n\":\" 42\"}", ERES);
  EXPECT(st, "{\"n\":\"42 \"}", ERES);
  EXPECT(st, "{\"n\":\"forty-two\"}", ERES);
  EXPECT(st, "{\"n\":\"\"}", ERES);
  EXPECT(st, "{\"n\":\"0x2A\"}", ERES);
  EXPECT(st, "{\"n\":[{\"v\":\"x\"},42]}", M); /* a struct element is "null", not parsed */
  EXPECT(st, "{\"n\":[null,true]}", N);
  EXPECT(st, "{\"n\":[42,\"x\"]}", ERES); /* the whole list converts before matching */
  CHECK(confidence_resolve_result_flag_count(g_res) == 0);
  CHECK(confidence_resolve_result_error(g_res)[0] != '\0');
  confidence_state_unref(st);

  /* String rules see numbers through Rust's f64 Display. */
  st = crit_state(c_eq("n", tv_str("42")));
  EXPECT(st, "{\"n\":42}", M);
  EXPECT(st, "{\"n\":42.0}", M);
  EXPECT(st, "{\"n\":42.5}", N);
  EXPECT(st, "{\"n\":true}", N);
  confidence_state_unref(st);
  st = crit_state(c_eq("n", tv_str("1.5")));
  EXPECT(st, "{\"n\":1.5}", M);
  EXPECT(st, "{\"n\":\"1.5\"}", M);
  EXPECT(st, "{\"n\":1.50}", M);
  confidence_state_unref(st);
  st = crit_state(c_eq("n", tv_str("42.0")));
  EXPECT(st, "{\"n\":42}", N);
  confidence_state_unref(st);
  st = crit_state(c_eq("n", tv_str("1000000000000000000000")));
  EXPECT(st, "{\"n\":1e21}", M);
  confidence_state_unref(st);
  st = crit_state(c_eq("n", tv_str("0.1")));
  EXPECT(st, "{\"n\":0.1}", M);
  confidence_state_unref(st);
  st = crit_state(c_eq("n", tv_str("-0")));
  EXPECT_V(st, ctx_number("n", -0.0), 0, M);
  EXPECT_V(st, ctx_number("n", 0.0), 0, N);
  confidence_state_unref(st);
  st = crit_state(c_eq("n", tv_str("0.00000005960464477539063")));
  EXPECT_V(st, ctx_number("n", 0x1p-24), 0, M);
  confidence_state_unref(st);

  /* Bool rules: "true" and "TRUE" are true, every other string is false. */
  st = crit_state(c_eq("b", tv_bool(1)));
  EXPECT(st, "{\"b\":true}", M);
  EXPECT(st, "{\"b\":\"true\"}", M);
  EXPECT(st, "{\"b\":\"TRUE\"}", M);
  EXPECT(st, "{\"b\":\"True\"}", N);
  EXPECT(st, "{\"b\":\"yes\"}", N);
  EXPECT(st, "{\"b\":[\"no\",\"true\"]}", M);
  EXPECT(st, "{\"b\":false}", N);
  EXPECT(st, "{\"b\":1}", N);
  EXPECT(st, "{}", N);
  confidence_state_unref(st);
  st = crit_state(c_eq("b", tv_bool(0)));
  EXPECT(st, "{\"b\":false}", M);
  EXPECT(st, "{\"b\":\"false\"}", M);
  EXPECT(st, "{\"b\":\"FALSE\"}", M);
  EXPECT(st, "{\"b\":\"True\"}", M);
  EXPECT(st, "{\"b\":\"1\"}", M);
  EXPECT(st, "{\"b\":\"true\"}", N);
  EXPECT(st, "{\"b\":0}", N);
  EXPECT(st, "{}", N); /* "null" is not false */
  confidence_state_unref(st);

  /* Missing, null, struct and (for a string rule) bool become the string "null". */
  st = crit_state(c_eq("x", tv_str("null")));
  EXPECT(st, "{}", M);
  EXPECT(st, "{\"x\":null}", M);
  EXPECT(st, "{\"x\":{\"a\":1}}", M);
  EXPECT(st, "{\"x\":true}", M);
  EXPECT(st, "{\"x\":\"null\"}", M);
  EXPECT(st, "{\"x\":\"nil\"}", N);
  EXPECT(st, "{\"x\":0}", N);
  confidence_state_unref(st);

  /* eq of a Value with no kind is "is null" since resolver 0.26.1 (it never
   * matched before): missing, null, or a list with a top-level null; its
   * negation is the exact complement. */
  st = crit_state(c_eq("x", tv_unset()));
  EXPECT(st, "{}", M);
  EXPECT(st, "{\"x\":null}", M);
  EXPECT(st, "{\"x\":[50,null]}", M);
  EXPECT(st, "{\"x\":\"a\"}", N);
  EXPECT(st, "{\"x\":\"null\"}", N);
  EXPECT(st, "{\"x\":[]}", N);
  EXPECT(st, "{\"x\":[[null]]}", N);
  EXPECT(st, "{\"x\":{}}", N);
  confidence_state_unref(st);
  st = not_crit_state(c_eq("x", tv_unset()));
  EXPECT(st, "{}", N);
  EXPECT(st, "{\"x\":[null]}", N);
  EXPECT(st, "{\"x\":1}", M);
  confidence_state_unref(st);
  /* ...but only at the top level: as an inner rule it matches no element. */
  st = crit_state(c_any("x", i_eq(tv_unset())));
  EXPECT(st, "{\"x\":[null]}", N);
  confidence_state_unref(st);

  /* An EqRule without a value is unrecognized: the rule is skipped, even
   * under `not`. */
  st = not_crit_state(c_eq("x", NULL));
  EXPECT(st, "{\"x\":\"a\"}", N);
  EXPECT(st, "{}", N);
  confidence_state_unref(st);
  /* ... as is a criterion with no rule at all. */
  st = not_crit_state(c_norule("x"));
  EXPECT(st, "{\"x\":\"a\"}", N);
  EXPECT(st, "{\"x\":\"1.5\"}", N);
  confidence_state_unref(st);

  /* A list value as the expected type: elements convert to "null". */
  st = crit_state(c_eq("x", tv_list(1, tv_str("null"))));
  EXPECT(st, "{\"x\":[[1]]}", M);
  EXPECT(st, "{\"x\":[[\"a\"]]}", M);
  EXPECT(st, "{\"x\":[[1,2]]}", N);
  EXPECT(st, "{\"x\":[\"a\"]}", N);
  EXPECT(st, "{\"x\":\"a\"}", N);
  confidence_state_unref(st);
}

/* ---- set ------------------------------------------------------------------ */

static void test_set(void)
{
  confidence_state *st = crit_state(c_set("x", 2, tv_str("a"), tv_str("b")));
  EXPECT(st, "{\"x\":\"b\"}", M);
  EXPECT(st, "{\"x\":\"c\"}", N);
  EXPECT(st, "{\"x\":[\"c\",\"a\"]}", M);
  EXPECT(st, "{\"x\":[[\"a\"]]}", N);
  EXPECT(st, "{\"x\":[]}", N);
  EXPECT(st, "{}", N);
  confidence_state_unref(st);
  /* An empty set is FALSE (not unrecognized). */
  st = crit_state(c_set("x", 0));
  EXPECT(st, "{\"x\":\"a\"}", N);
  confidence_state_unref(st);
  st = not_crit_state(c_set("x", 0));
  EXPECT(st, "{\"x\":\"a\"}", M);
  EXPECT(st, "{\"x\":\"not a number\"}", M);
  confidence_state_unref(st);
  /* The first element fixes the expected type. */
  st = crit_state(c_set("x", 2, tv_num(1), tv_str("x")));
  EXPECT(st, "{\"x\":1}", M);
  EXPECT(st, "{\"x\":\"1\"}", M);
  EXPECT(st, "{\"x\":2}", N);
  EXPECT(st, "{\"x\":\"x\"}", ERES);
  confidence_state_unref(st);
  st = crit_state(c_set("x", 2, tv_str("1"), tv_num(2)));
  EXPECT(st, "{\"x\":1}", M);
  EXPECT(st, "{\"x\":2}", N); /* "2" is a string, never the number 2 */
  confidence_state_unref(st);
  /* Versions compare as raw strings in sets. */
  st = crit_state(c_set("v", 2, tv_ver("1.0"), tv_ver("2.0")));
  EXPECT(st, "{\"v\":\"2.0\"}", M);
  EXPECT(st, "{\"v\":\"2.0.0\"}", N);
  EXPECT(st, "{\"v\":2}", N);
  confidence_state_unref(st);
}

/* ---- range ---------------------------------------------------------------- */

static void test_range(void)
{
  confidence_state *st = crit_state(c_range("x", tv_num(10), 1, tv_num(20), 0));
  EXPECT(st, "{\"x\":10}", M);
  EXPECT(st, "{\"x\":19.99}", M);
  EXPECT(st, "{\"x\":20}", N);
  EXPECT(st, "{\"x\":9.99}", N);
  EXPECT(st, "{\"x\":\"15\"}", M);
  EXPECT(st, "{\"x\":\"abc\"}", ERES);
  EXPECT(st, "{\"x\":true}", N);
  EXPECT(st, "{}", N);
  EXPECT(st, "{\"x\":[5,15]}", M);
  EXPECT(st, "{\"x\":[5,25]}", N);
  EXPECT(st, "{\"x\":[]}", N);
  EXPECT(st, "{\"x\":\"NaN\"}", N);
  EXPECT(st, "{\"x\":\"inf\"}", N);
  EXPECT_V(st, ctx_number("x", NAN), 0, N);
  EXPECT(st, "{\"x\":[[15]]}", N); /* a nested list never compares */
  confidence_state_unref(st);
  st = crit_state(c_range("x", tv_num(10), 0, tv_num(20), 1));
  EXPECT(st, "{\"x\":10}", N);
  EXPECT(st, "{\"x\":10.000001}", M);
  EXPECT(st, "{\"x\":20}", M);
  confidence_state_unref(st);
  st = crit_state(c_range("x", tv_num(10), 1, NULL, 0));
  EXPECT(st, "{\"x\":1e300}", M);
  EXPECT(st, "{\"x\":\"inf\"}", M);
  EXPECT(st, "{\"x\":9}", N);
  confidence_state_unref(st);
  /* Without a start the end fixes the expected type. */
  st = crit_state(c_range("x", NULL, 0, tv_num(5), 0));
  EXPECT(st, "{\"x\":-1e300}", M);
  EXPECT(st, "{\"x\":\"-Infinity\"}", M);
  EXPECT(st, "{\"x\":\"4\"}", M);
  EXPECT(st, "{\"x\":5}", N);
  confidence_state_unref(st);
  st = crit_state(c_range("x", NULL, 0, tv_num(5), 1));
  EXPECT(st, "{\"x\":5}", M);
  confidence_state_unref(st);
  /* No bounds: matches nothing since resolver 0.23.1 (before: anything but
   * an empty list); `all` over it holds only vacuously. */
  st = crit_state(c_range("x", NULL, 0, NULL, 0));
  EXPECT(st, "{\"x\":1}", N);
  EXPECT(st, "{\"x\":\"anything\"}", N);
  EXPECT(st, "{}", N);
  EXPECT(st, "{\"x\":[1,2]}", N);
  EXPECT(st, "{\"x\":[[]]}", N);
  EXPECT(st, "{\"x\":[]}", N);
  confidence_state_unref(st);
  st = not_crit_state(c_range("x", NULL, 0, NULL, 0));
  EXPECT(st, "{}", M);
  EXPECT(st, "{\"x\":[]}", M);
  confidence_state_unref(st);
  st = crit_state(c_all("x", i_range(NULL, 0, NULL, 0)));
  EXPECT(st, "{}", M);
  EXPECT(st, "{\"x\":[]}", M);
  EXPECT(st, "{\"x\":[null]}", N);
  EXPECT(st, "{\"x\":50}", N);
  confidence_state_unref(st);
  /* Strings compare byte-wise; numbers and "null" fall inside string ranges. */
  st = crit_state(c_range("x", tv_str("b"), 1, tv_str("d"), 0));
  EXPECT(st, "{\"x\":\"c\"}", M);
  EXPECT(st, "{\"x\":\"bz\"}", M);
  EXPECT(st, "{\"x\":\"b\"}", M);
  EXPECT(st, "{\"x\":\"d\"}", N);
  EXPECT(st, "{\"x\":\"a\"}", N);
  EXPECT(st, "{\"x\":\"B\"}", N);
  confidence_state_unref(st);
  st = crit_state(c_range("x", tv_str("1"), 1, tv_str("9"), 0));
  EXPECT(st, "{\"x\":5}", M);
  EXPECT(st, "{\"x\":50}", M); /* "50" < "9" byte-wise */
  EXPECT(st, "{\"x\":9}", N);
  confidence_state_unref(st);
  st = crit_state(c_range("x", tv_str("a"), 1, tv_str("z"), 0));
  EXPECT(st, "{}", M);
  EXPECT(st, "{\"x\":true}", M);
  EXPECT(st, "{\"x\":{}}", M);
  confidence_state_unref(st);
  /* Only the start is consulted for the type; kinds that differ never compare. */
  st = crit_state(c_range("x", tv_unset(), 1, tv_num(10), 0));
  EXPECT(st, "{\"x\":5}", N);
  confidence_state_unref(st);
  st = crit_state(c_range("x", tv_num(0), 1, tv_str("z"), 0));
  EXPECT(st, "{\"x\":5}", N);
  EXPECT(st, "{\"x\":\"5\"}", N);
  confidence_state_unref(st);
  /* Bools never compare. */
  st = crit_state(c_range("x", tv_bool(0), 1, NULL, 0));
  EXPECT(st, "{\"x\":true}", N);
  EXPECT(st, "{\"x\":false}", N);
  confidence_state_unref(st);
}

/* ---- timestamps and versions ---------------------------------------------- */

static void test_timestamps(void)
{
  /* 2022-11-17T15:16:17.118Z, inclusive start. */
  confidence_state *st = crit_state(c_range("t", tv_ts(1668698177, 118000000), 1, NULL, 0));
  EXPECT(st, "{\"t\":\"2022-11-17T15:16:18Z\"}", M);
  EXPECT(st, "{\"t\":\"2022-11-17T15:16:17.118Z\"}", M);
  EXPECT(st, "{\"t\":\"2022-11-17T15:16:17.117Z\"}", N);
  EXPECT(st, "{\"t\":\"2022-11-17T16:16:17+01:00\"}", N);
  EXPECT(st, "{\"t\":\"2022-11-17T10:16:18-05:00\"}", M);
  EXPECT(st, "{\"t\":\"2022-11-17T15:16:18\"}", M);
  EXPECT(st, "{\"t\":\"2022-11-17 15:16:18\"}", M);
  EXPECT(st, "{\"t\":\"2022-11-18\"}", M);
  EXPECT(st, "{\"t\":\"2022-11-17\"}", N);
  EXPECT(st, "{\"t\":1668698178}", M);
  EXPECT(st, "{\"t\":1668698177200}", M);
  EXPECT(st, "{\"t\":1668698177}", N);
  EXPECT(st, "{\"t\":1668698177.9}", N); /* the fraction of a seconds value is dropped */
  EXPECT(st, "{\"t\":1668698177117}", N);
  EXPECT(st, "{\"t\":1668698177118}", M);
  EXPECT(st, "{\"t\":\"\"}", N);
  EXPECT(st, "{\"t\":\"garbage\"}", N);
  EXPECT(st, "{\"t\":\"1668698178\"}", N);
  EXPECT(st, "{\"t\":true}", N);
  EXPECT(st, "{}", N);
  EXPECT(st, "{\"t\":[\"2020-01-01\",\"2030-01-01\"]}", M);
  confidence_state_unref(st);
  /* Equality with midnight 2022-11-17 UTC. */
  st = crit_state(c_eq("t", tv_ts(1668643200, 0)));
  EXPECT(st, "{\"t\":\"2022-11-17\"}", M);
  EXPECT(st, "{\"t\":\"2022-11-17T00:00:00\"}", M);
  EXPECT(st, "{\"t\":\"2022-11-17 00:00:00\"}", M);
  EXPECT(st, "{\"t\":\"2022-11-17T00:00:00Z\"}", M);
  EXPECT(st, "{\"t\":\"2022-11-17T01:00:00+01:00\"}", M);
  EXPECT(st, "{\"t\":\"2022-11-17t00:00:00Z\"}", N);
  EXPECT(st, "{\"t\":\"2022-11-17T00:00:00z\"}", N);
  EXPECT(st, "{\"t\":1668643200}", M);
  EXPECT(st, "{\"t\":1668643200000}", M);
  EXPECT(st, "{\"t\":1668643200.5}", M);
  EXPECT(st, "{\"t\":1668643200001}", N);
  confidence_state_unref(st);
}

static void test_versions(void)
{
  confidence_state *st = crit_state(c_range("v", tv_ver("1.2.0"), 1, tv_ver("2.0.0"), 0));
  EXPECT(st, "{\"v\":\"1.10.0\"}", M); /* numeric parts, not string order */
  EXPECT(st, "{\"v\":\"1.2\"}", M);
  EXPECT(st, "{\"v\":\"1.2.0.0\"}", M);
  EXPECT(st, "{\"v\":\"1.5.0-beta\"}", M);
  EXPECT(st, "{\"v\":\"2.0.0\"}", N);
  EXPECT(st, "{\"v\":\"1.1.9\"}", N);
  EXPECT(st, "{\"v\":\"10.0.0\"}", N);
  EXPECT(st, "{\"v\":\"v1.5.0\"}", N);
  EXPECT(st, "{\"v\":1.5}", N);
  EXPECT(st, "{}", N);
  confidence_state_unref(st);
  /* Invalid versions parse as 0.0.0.0 and so sit at the bottom of ranges. */
  st = crit_state(c_range("v", tv_ver("0.0.0"), 1, NULL, 0));
  EXPECT(st, "{\"v\":\"garbage\"}", M);
  EXPECT(st, "{\"v\":5}", N); /* a number is "null", a string, not a version */
  confidence_state_unref(st);
  st = crit_state(c_range("v", tv_ver("1.0.0.1001"), 0, NULL, 0));
  EXPECT(st, "{\"v\":\"1.0.1000\"}", N); /* 1.0.0.1000 < 1.0.0.1001 */
  EXPECT(st, "{\"v\":\"1.0.1002\"}", M);
  confidence_state_unref(st);
  /* eq compares the raw strings. */
  st = crit_state(c_eq("v", tv_ver("1.0")));
  EXPECT(st, "{\"v\":\"1.0\"}", M);
  EXPECT(st, "{\"v\":\"1.0.0\"}", N);
  EXPECT(st, "{\"v\":\"1.0-rc\"}", N);
  confidence_state_unref(st);
}

/* ---- attribute paths ------------------------------------------------------- */

static void test_paths(void)
{
  confidence_state *st = crit_state(c_eq("user.address.country", tv_str("SE")));
  EXPECT(st, "{\"user\":{\"address\":{\"country\":\"SE\"}}}", M);
  EXPECT(st, "{\"user\":{\"address\":{\"country\":\"NO\"}}}", N);
  EXPECT(st, "{\"user\":{\"address\":\"SE\"}}", N);
  EXPECT(st, "{\"user.address.country\":\"SE\"}", N); /* keys with dots are unreachable */
  EXPECT(st, "{\"user\":null}", N);
  EXPECT(st, "{\"user\":[{\"address\":{\"country\":\"SE\"}}]}", N);
  confidence_state_unref(st);
  st = crit_state(c_eq("a..b", tv_str("x")));
  EXPECT(st, "{\"a\":{\"\":{\"b\":\"x\"}}}", M);
  EXPECT(st, "{\"a\":{\"b\":\"x\"}}", N);
  confidence_state_unref(st);
  st = crit_state(c_eq("", tv_str("x")));
  EXPECT(st, "{\"\":\"x\"}", M);
  confidence_state_unref(st);
}

/* ---- strict string operators ------------------------------------------------ */

static void test_string_ops(void)
{
  confidence_state *st = crit_state(c_starts("x", "ab"));
  EXPECT(st, "{\"x\":\"abc\"}", M);
  EXPECT(st, "{\"x\":\"ab\"}", M);
  EXPECT(st, "{\"x\":\"xab\"}", N);
  EXPECT(st, "{\"x\":\"a\"}", N);
  EXPECT(st, "{\"x\":123}", N);
  EXPECT(st, "{\"x\":true}", N);
  EXPECT(st, "{\"x\":null}", N);
  EXPECT(st, "{}", N);
  EXPECT(st, "{\"x\":{\"ab\":\"ab\"}}", N);
  EXPECT(st, "{\"x\":[\"x\",\"abz\"]}", M);
  EXPECT(st, "{\"x\":[[\"abc\"]]}", N);
  EXPECT(st, "{\"x\":[1,2]}", N);
  EXPECT(st, "{\"x\":[]}", N);
  confidence_state_unref(st);
  st = not_crit_state(c_starts("x", "ab"));
  EXPECT(st, "{}", M);
  EXPECT(st, "{\"x\":5}", M);
  EXPECT(st, "{\"x\":\"abc\"}", N);
  confidence_state_unref(st);
  /* No number->string coercion in strict mode, and no parse failure either. */
  st = crit_state(c_starts("x", "4"));
  EXPECT(st, "{\"x\":42}", N);
  EXPECT(st, "{\"x\":\"42\"}", M);
  confidence_state_unref(st);
  st = crit_state(c_starts("x", ""));
  EXPECT(st, "{\"x\":\"anything\"}", M);
  EXPECT(st, "{\"x\":\"\"}", M);
  EXPECT(st, "{\"x\":5}", N);
  EXPECT(st, "{}", N);
  confidence_state_unref(st);
  st = crit_state(c_ends("x", "yz"));
  EXPECT(st, "{\"x\":\"xyz\"}", M);
  EXPECT(st, "{\"x\":\"yz\"}", M);
  EXPECT(st, "{\"x\":\"yzx\"}", N);
  EXPECT(st, "{\"x\":\"z\"}", N);
  confidence_state_unref(st);
  st = crit_state(c_contains("x", "b"));
  EXPECT(st, "{\"x\":\"abc\"}", M);
  EXPECT(st, "{\"x\":\"b\"}", M);
  EXPECT(st, "{\"x\":\"ABC\"}", N);
  EXPECT(st, "{\"x\":\"\"}", N);
  EXPECT(st, "{\"x\":[\"a\",\"ab\"]}", M);
  confidence_state_unref(st);
  st = crit_state(c_contains("x", ""));
  EXPECT(st, "{\"x\":\"x\"}", M);
  EXPECT(st, "{\"x\":1}", N);
  confidence_state_unref(st);
  st = crit_state(c_contains("x", "a,b"));
  EXPECT(st, "{\"x\":\"x,a,b\"}", M);
  EXPECT(st, "{\"x\":[\"a\",\"b\"]}", N);
  confidence_state_unref(st);
  /* Byte-wise, no Unicode normalisation: precomposed vs decomposed e-acute. */
  st = crit_state(c_contains("x", "caf\xc3\xa9"));
  EXPECT(st, "{\"x\":\"un caf\xc3\xa9 noir\"}", M);
  EXPECT(st, "{\"x\":\"un cafe\xcc\x81 noir\"}", N);
  confidence_state_unref(st);
  /* any/all with a string inner rule use the strict conversion too. */
  st = crit_state(c_any("x", i_text('c', "x")));
  EXPECT(st, "{\"x\":[\"ax\",5]}", M);
  EXPECT(st, "{\"x\":[5]}", N);
  EXPECT(st, "{\"x\":\"xx\"}", M);
  EXPECT(st, "{\"x\":[]}", N);
  EXPECT(st, "{\"x\":[[\"x\"]]}", N);
  confidence_state_unref(st);
  st = crit_state(c_all("x", i_text('s', "a")));
  EXPECT(st, "{\"x\":[\"ab\",\"ac\"]}", M);
  EXPECT(st, "{\"x\":[\"ab\",1]}", N);
  EXPECT(st, "{\"x\":[\"ab\",\"ba\"]}", N);
  EXPECT(st, "{\"x\":[]}", M);
  EXPECT(st, "{}", M); /* missing is an empty list for `all` (0.23.1) */
  EXPECT(st, "{\"x\":null}", M);
  EXPECT(st, "{\"x\":true}", N); /* [placeholder] */
  EXPECT(st, "{\"x\":\"ab\"}", M);
  confidence_state_unref(st);
  st = crit_state(c_any("x", i_text('e', "z")));
  EXPECT(st, "{\"x\":[\"a\",\"yz\"]}", M);
  EXPECT(st, "{\"x\":[\"za\"]}", N);
  confidence_state_unref(st);
}

/* ---- any / all ---------------------------------------------------------------- */

static void test_any_all(void)
{
  confidence_state *st = crit_state(c_any("x", i_eq(tv_str("a"))));
  EXPECT(st, "{\"x\":[\"b\",\"a\"]}", M);
  EXPECT(st, "{\"x\":[\"b\"]}", N);
  EXPECT(st, "{\"x\":[]}", N);
  EXPECT(st, "{\"x\":\"a\"}", M);
  EXPECT(st, "{}", N);
  EXPECT(st, "{\"x\":[[\"a\"]]}", N); /* the element is a list */
  confidence_state_unref(st);
  st = crit_state(c_any("x", i_set(2, tv_str("a"), tv_str("b"))));
  EXPECT(st, "{\"x\":[\"c\",\"b\"]}", M);
  EXPECT(st, "{\"x\":[\"c\"]}", N);
  confidence_state_unref(st);
  st = crit_state(c_all("x", i_range(tv_num(0), 1, tv_num(100), 1)));
  EXPECT(st, "{\"x\":[1,50]}", M);
  EXPECT(st, "{\"x\":[1,500]}", N);
  EXPECT(st, "{\"x\":[]}", M); /* all over nothing */
  EXPECT(st, "{}", M);         /* missing and null are empty lists (0.23.1) */
  EXPECT(st, "{\"x\":null}", M);
  EXPECT(st, "{\"x\":[null]}", N);
  EXPECT(st, "{\"x\":50}", M);
  EXPECT(st, "{\"x\":[\"10\",\"20\"]}", M);
  EXPECT(st, "{\"x\":[10,\"text\",50]}", ERES);
  confidence_state_unref(st);
  st = not_crit_state(c_all("x", i_range(tv_num(0), 1, tv_num(100), 1)));
  EXPECT(st, "{}", N);
  EXPECT(st, "{\"x\":[1,101]}", M);
  EXPECT(st, "{\"x\":[1,2]}", N);
  confidence_state_unref(st);
  /* Inner rule present but unset: unrecognized only once an element is
   * evaluated. */
  st = not_crit_state(c_any("x", i_unset()));
  EXPECT(st, "{\"x\":[1]}", N);
  EXPECT(st, "{\"x\":[]}", M);
  confidence_state_unref(st);
  st = crit_state(c_all("x", i_unset()));
  EXPECT(st, "{\"x\":[]}", M);
  EXPECT(st, "{\"x\":[1]}", N);
  confidence_state_unref(st);
  st = not_crit_state(c_any("x", i_eq(NULL)));
  EXPECT(st, "{\"x\":[1]}", N);
  EXPECT(st, "{\"x\":[]}", M);
  confidence_state_unref(st);
  /* No inner rule at all: unrecognized whatever the context. */
  st = not_crit_state(c_any("x", NULL));
  EXPECT(st, "{\"x\":[]}", N);
  EXPECT(st, "{\"x\":[1]}", N);
  confidence_state_unref(st);
  st = crit_state(c_all("x", NULL));
  EXPECT(st, "{\"x\":[]}", N);
  confidence_state_unref(st);
}

/* ---- expressions --------------------------------------------------------------- */

/* Segment s1 = `e` over: t (TRUE for the test context), f (FALSE) and
 * err (a numeric rule over an attribute that is not a number: fails the call
 * when evaluated). */
static confidence_state *expr_state(Expr *e)
{
  PbSegment *s1;
  PbState *s = fixture(&s1);
  seg_crit(s1, "t", c_eq("a", tv_str("1")));
  seg_crit(s1, "f", c_eq("a", tv_str("2")));
  seg_crit(s1, "err", c_eq("bad", tv_num(1)));
  seg_crit(s1, "unset", crit_unset());
  seg_expr(s1, e);
  return st_load(s);
}

static void expect_expr_at(int line, Expr *e, int want)
{
  confidence_state *st = expr_state(e);
  expect_at(line, st, "{\"a\":\"1\",\"bad\":\"zzz\"}", want);
  confidence_state_unref(st);
}
#define EXPECT_EXPR(e, want) expect_expr_at(__LINE__, e, want)

static void test_expressions(void)
{
  EXPECT_EXPR(e_ref("t"), M);
  EXPECT_EXPR(e_ref("f"), N);
  EXPECT_EXPR(e_ref("err"), ERES);
  EXPECT_EXPR(e_and(2, e_ref("t"), e_ref("t")), M);
  EXPECT_EXPR(e_and(2, e_ref("t"), e_ref("f")), N);
  EXPECT_EXPR(e_or(2, e_ref("f"), e_ref("t")), M);
  EXPECT_EXPR(e_or(2, e_ref("f"), e_ref("f")), N);
  EXPECT_EXPR(e_and(0), M);
  EXPECT_EXPR(e_or(0), N);
  EXPECT_EXPR(e_not(e_and(2, e_ref("t"), e_ref("f"))), M);
  EXPECT_EXPR(e_not(e_not(e_ref("t"))), M);
  /* Left to right with short-circuit: later operands are not evaluated. */
  EXPECT_EXPR(e_and(2, e_ref("f"), e_ref("err")), N);
  EXPECT_EXPR(e_and(2, e_ref("err"), e_ref("f")), ERES);
  EXPECT_EXPR(e_and(2, e_ref("t"), e_ref("err")), ERES);
  EXPECT_EXPR(e_or(2, e_ref("t"), e_ref("err")), M);
  EXPECT_EXPR(e_or(2, e_ref("err"), e_ref("t")), ERES);
  /* Unset expression member, unknown ref and unset criterion are FALSE. */
  EXPECT_EXPR(e_unset(), N);
  EXPECT_EXPR(e_not(e_unset()), M);
  EXPECT_EXPR(e_ref("no-such-criterion"), N);
  EXPECT_EXPR(e_not(e_ref("no-such-criterion")), M);
  EXPECT_EXPR(e_ref("unset"), N);
  EXPECT_EXPR(e_not(e_ref("unset")), M);
  EXPECT_EXPR(e_or(2, e_ref("unset"), e_ref("t")), M);

  /* Targeting without an expression, or no targeting at all, matches. */
  PbSegment *s1;
  PbState *s = fixture(&s1);
  seg_crit(s1, "f", c_eq("a", tv_str("2")));
  confidence_state *st = st_load(s);
  EXPECT(st, "{\"a\":\"1\"}", M);
  confidence_state_unref(st);
  s = fixture(&s1);
  st = st_load(s);
  EXPECT(st, "{}", M);
  confidence_state_unref(st);
}

/* ---- three-valued logic with materialized segments ----------------------------- */

/* Designated, so later fields of the record (if any) stay zero. */
#define REC(u, m, r, v) {.unit = (u), .materialization = (m), .rule = (r), .variant = (v)}

#define MATSEG "materializations/m"

static confidence_state *kleene_state(Expr *e)
{
  PbSegment *s1;
  PbState *s = fixture(&s1);
  seg_crit(s1, "m", c_matseg(MATSEG));
  seg_crit(s1, "t", c_eq("a", tv_str("1")));
  seg_crit(s1, "f", c_eq("a", tv_str("2")));
  seg_expr(s1, e);
  return st_load(s);
}

#define KCTX "{\"targeting_key\":\"u1\",\"a\":\"1\"}"

/* Resolves in discovery mode; returns the reason (or ABSENT while pending)
 * and whether the call suspended, then resumes with `included` records. */
static void discover_then_resume_at(int line, Expr *e, int want_first, int want_suspend, int included, int want_final)
{
  confidence_state *st = kleene_state(e);
  int got = outcome_v(st, ctx_json(KCTX), CONFIDENCE_MATERIALIZATIONS_DISCOVER);
  int susp = confidence_resolve_result_suspended(g_res);
  int ok = got == want_first && susp == want_suspend;
  if (ok && want_suspend) {
    const confidence_materialization_record *r = confidence_resolve_result_read_at(g_res, 0);
    ok = confidence_resolve_result_read_count(g_res) == 1 && r && strcmp(r->unit, "u1") == 0 &&
         strcmp(r->materialization, MATSEG) == 0 && strcmp(r->rule, "") == 0 && strcmp(r->variant, "") == 0;
  }
  if (ok && !want_suspend)
    ok = confidence_resolve_result_read_count(g_res) == 0;
  int final = got;
  if (ok && want_suspend) {
    confidence_materialization_record rec = REC("u1", MATSEG, "", "");
    confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
    const char *flag = FLAG;
    req.client_secret = SECRET;
    req.flags = &flag;
    req.flag_count = 1;
    req.context = g_ctx;
    req.materialization_mode = CONFIDENCE_MATERIALIZATIONS_DISCOVER;
    int rc = confidence_resolve_resume(st, &req, &rec, included ? 1 : 0, g_res);
    const confidence_resolved_flag *f = confidence_resolve_result_find(g_res, FLAG);
    final = rc ? rc : f ? confidence_resolved_flag_reason(f) : ABSENT;
    ok = final == want_final && !confidence_resolve_result_suspended(g_res) &&
         confidence_resolve_result_flag_count(g_res) == 1;
  }
  if (ok)
    check_passed++;
  else {
    check_failed++;
    fprintf(stderr, "test_operators.c:%d: discovery got %d (suspended %d), final %d\n", line, got, susp, final);
  }
  confidence_state_unref(st);
}
#define DISCOVER(e, first, susp, included, final) discover_then_resume_at(__LINE__, e, first, susp, included, final)

static void test_kleene(void)
{
  /* UNKNOWN and TRUE -> UNKNOWN: the flag waits for the store. */
  DISCOVER(e_and(2, e_ref("m"), e_ref("t")), ABSENT, 1, 1, M);
  DISCOVER(e_and(2, e_ref("m"), e_ref("t")), ABSENT, 1, 0, N);
  /* FALSE first: short-circuit, nothing to read. */
  DISCOVER(e_and(2, e_ref("f"), e_ref("m")), N, 0, 0, N);
  /* UNKNOWN and FALSE -> FALSE, but the read was recorded on the way. */
  DISCOVER(e_and(2, e_ref("m"), e_ref("f")), N, 1, 1, N);
  /* UNKNOWN or TRUE -> TRUE. */
  DISCOVER(e_or(2, e_ref("m"), e_ref("t")), M, 1, 0, M);
  DISCOVER(e_or(2, e_ref("t"), e_ref("m")), M, 0, 0, M);
  DISCOVER(e_or(2, e_ref("m"), e_ref("f")), ABSENT, 1, 1, M);
  /* not UNKNOWN stays UNKNOWN. */
  DISCOVER(e_not(e_ref("m")), ABSENT, 1, 1, N);
  DISCOVER(e_not(e_ref("m")), ABSENT, 1, 0, M);

  /* Without a unit a materialized segment is FALSE, and nothing is read. */
  confidence_state *st = kleene_state(e_not(e_ref("m")));
  EXPECT_V(st, ctx_json("{\"a\":\"1\"}"), CONFIDENCE_MATERIALIZATIONS_DISCOVER, M);
  CHECK(!confidence_resolve_result_suspended(g_res));
  EXPECT_V(st, ctx_json("{\"a\":\"1\"}"), CONFIDENCE_MATERIALIZATIONS_UNSUPPORTED, M);
  confidence_state_unref(st);
  /* Without a store touching the materialized segment is not supported;
   * a short-circuit never touches it. */
  st = kleene_state(e_and(2, e_ref("m"), e_ref("t")));
  EXPECT_V(st, ctx_json(KCTX), CONFIDENCE_MATERIALIZATIONS_UNSUPPORTED, MNS);
  confidence_state_unref(st);
  st = kleene_state(e_or(2, e_ref("t"), e_ref("m")));
  EXPECT_V(st, ctx_json(KCTX), CONFIDENCE_MATERIALIZATIONS_UNSUPPORTED, M);
  confidence_state_unref(st);
  /* With static records an inclusion ignores rule and variant. */
  st = kleene_state(e_ref("m"));
  {
    confidence_materialization_record rec = REC("u1", MATSEG, "some/rule", "some-variant");
    confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
    const char *flag = FLAG;
    confidence_value *ctx = ctx_json(KCTX);
    req.client_secret = SECRET;
    req.flags = &flag;
    req.flag_count = 1;
    req.context = ctx;
    req.materialization_mode = CONFIDENCE_MATERIALIZATIONS_STATIC;
    req.materializations = &rec;
    req.materialization_count = 1;
    CHECK(confidence_resolve(st, &req, g_res) == 0);
    const confidence_resolved_flag *f = confidence_resolve_result_find(g_res, FLAG);
    CHECK(f && confidence_resolved_flag_reason(f) == M);
    rec.unit = "u2";
    CHECK(confidence_resolve(st, &req, g_res) == 0);
    f = confidence_resolve_result_find(g_res, FLAG);
    CHECK(f && confidence_resolved_flag_reason(f) == N);
    confidence_value_free(ctx);
  }
  confidence_state_unref(st);
}

/* ---- targeting keys (3.4) ------------------------------------------------------- */

/* flags/f on segments/all (no targeting) with the given selector; a full
 * single-range rollout or two half ranges that need a unit to bucket. */
static confidence_state *key_state(const char *selector, int full)
{
  PbState *s = st_new();
  PbFlag *f = flag_new(FLAG, CLIENT);
  flag_variant(f, ON, "{\"enabled\":true}");
  PbRule *r = flag_rule(f, RULE1, "segments/all", selector, 1000);
  if (full) {
    rule_assign(r, A_VARIANT, "a1", ON, 1, 0, 1000);
  } else {
    rule_assign(r, A_VARIANT, "lo", ON, 1, 0, 500);
    rule_assign(r, A_VARIANT, "hi", ON, 1, 500, 1000);
  }
  st_flag(s, f);
  st_seg(s, seg_new("segments/all"));
  return st_load(s);
}

static const char *key_of(void) { return g_flag ? confidence_resolved_flag_targeting_key(g_flag) : "(none)"; }

static confidence_value *ctx_key(const char *key, const char *text)
{
  confidence_value *c = confidence_value_new_struct();
  confidence_value_struct_set(c, key, confidence_value_new_string(text));
  return c;
}

static void test_targeting_keys(void)
{
  confidence_state *st = key_state("", 0);
  EXPECT(st, "{\"targeting_key\":\"user1\"}", M);
  CHECK_STR(key_of(), "user1");
  CHECK_STR(confidence_resolved_flag_targeting_key_selector(g_flag), "");
  EXPECT(st, "{\"targeting_key\":12345}", M);
  CHECK_STR(key_of(), "12345");
  EXPECT(st, "{\"targeting_key\":12345.0}", M);
  CHECK_STR(key_of(), "12345");
  EXPECT(st, "{\"targeting_key\":1e21}", M);
  CHECK_STR(key_of(), "1000000000000000000000");
  EXPECT(st, "{\"targeting_key\":-7}", M);
  CHECK_STR(key_of(), "-7");
  EXPECT_V(st, ctx_number("targeting_key", -0.0), 0, M);
  CHECK_STR(key_of(), "-0");
  /* Keys are the exact "%.0f" digits: 2^332 has 100 of them, 2^333 has 101. */
  EXPECT_V(st, ctx_number("targeting_key", 0x1p332), 0, M);
  CHECK_STR(key_of(), "87490028991320476974900089084704854614126777235728497457030824256398119967975036928940527"
                      "08092215296");
  EXPECT_V(st, ctx_number("targeting_key", 0x1p333), 0, TKE);
  EXPECT(st, "{\"targeting_key\":1e100}", TKE);
  EXPECT(st, "{\"targeting_key\":1.5}", TKE);
  EXPECT_V(st, ctx_number("targeting_key", NAN), 0, TKE);
  EXPECT_V(st, ctx_number("targeting_key", INFINITY), 0, TKE);
  EXPECT(st, "{\"targeting_key\":true}", TKE);
  EXPECT(st, "{\"targeting_key\":[\"a\"]}", TKE);
  EXPECT(st, "{\"targeting_key\":{}}", TKE);
  CHECK_STR(variant_of(), "");
  CHECK(confidence_resolved_flag_value(g_flag) == NULL);
  CHECK(!confidence_resolved_flag_should_apply(g_flag));
  CHECK_STR(confidence_resolved_flag_rule(g_flag), "");
  CHECK_STR(confidence_resolved_flag_assignment_id(g_flag), "");
  EXPECT(st, "{\"targeting_key\":null}", N); /* no unit: cannot bucket */
  EXPECT(st, "{}", N);
  EXPECT(st, "{\"targeting_key\":\"\"}", M); /* "" is a unit */
  CHECK_STR(key_of(), "");
  /* 100 bytes are fine, 101 are not; UTF-8 counts bytes. */
  char key[128];
  memset(key, 'k', 100);
  key[100] = '\0';
  EXPECT_V(st, ctx_key("targeting_key", key), 0, M);
  CHECK_STR(key_of(), key);
  key[100] = 'k';
  key[101] = '\0';
  EXPECT_V(st, ctx_key("targeting_key", key), 0, TKE);
  char utf8[128] = "";
  for (int i = 0; i < 50; i++)
    strcat(utf8, "\xc3\xa9");
  EXPECT_V(st, ctx_key("targeting_key", utf8), 0, M); /* 50 characters, 100 bytes */
  strcat(utf8, "\xc3\xa9");
  EXPECT_V(st, ctx_key("targeting_key", utf8), 0, TKE); /* 51 characters, 102 bytes */
  confidence_state_unref(st);

  /* Blank selector and a full single range: an invalid key is forgiven and
   * the rule runs without a unit. */
  st = key_state("", 1);
  EXPECT(st, "{\"targeting_key\":1.5}", M);
  CHECK_STR(key_of(), "");
  EXPECT(st, "{\"targeting_key\":true}", M);
  EXPECT_V(st, ctx_key("targeting_key", key), 0, M);
  CHECK_STR(key_of(), "");
  EXPECT(st, "{\"targeting_key\":null}", M);
  EXPECT(st, "{}", M);
  EXPECT(st, "{\"targeting_key\":\"u\"}", M);
  CHECK_STR(key_of(), "u");
  confidence_state_unref(st);

  /* An explicit "targeting_key" selector is not the blank one. */
  st = key_state("targeting_key", 1);
  EXPECT(st, "{\"targeting_key\":1.5}", TKE);
  EXPECT(st, "{}", N); /* absent with a selector: the rule is skipped */
  EXPECT(st, "{\"targeting_key\":\"u\"}", M);
  CHECK_STR(confidence_resolved_flag_targeting_key_selector(g_flag), "targeting_key");
  confidence_state_unref(st);

  /* Custom dot-path selector. */
  st = key_state("user.id", 0);
  EXPECT(st, "{\"user\":{\"id\":\"u-9\"}}", M);
  CHECK_STR(key_of(), "u-9");
  CHECK_STR(confidence_resolved_flag_targeting_key_selector(g_flag), "user.id");
  EXPECT(st, "{\"user\":{\"id\":7}}", M);
  CHECK_STR(key_of(), "7");
  EXPECT(st, "{\"targeting_key\":\"u\"}", N);
  EXPECT(st, "{\"user\":{\"id\":false}}", TKE);
  confidence_state_unref(st);

  /* TARGETING_KEY_ERROR stops the rule loop (a later catch-all rule is not
   * reached) but keeps the fallthroughs collected before it. */
  PbState *s = st_new();
  PbFlag *f = flag_new(FLAG, CLIENT);
  flag_variant(f, ON, "{\"enabled\":true}");
  PbRule *r = flag_rule(f, RULE1, "segments/all", "", 1000);
  rule_assign(r, A_FALLTHROUGH, "ft1", NULL, 1, 0, 1000);
  r = flag_rule(f, RULE2, "segments/all", "k", 1000);
  rule_assign(r, A_VARIANT, "lo", ON, 1, 0, 500);
  rule_assign(r, A_VARIANT, "hi", ON, 1, 500, 1000);
  r = flag_rule(f, "flags/f/rules/r3", "segments/all", "", 1000);
  rule_assign(r, A_VARIANT, "a3", ON, 1, 0, 1000);
  st_flag(s, f);
  st_seg(s, seg_new("segments/all"));
  st = st_load(s);
  EXPECT(st, "{\"targeting_key\":\"user1\",\"k\":true}", TKE);
  CHECK(g_flag && confidence_resolved_flag_fallthrough_count(g_flag) == 1);
  CHECK(g_flag && confidence_resolved_flag_should_apply(g_flag));
  CHECK(confidence_resolved_flag_value(g_flag) == NULL);
  EXPECT(st, "{\"targeting_key\":\"user1\"}", M); /* k absent: rule 2 skipped */
  CHECK_STR(confidence_resolved_flag_rule(g_flag), "flags/f/rules/r3");
  confidence_state_unref(st);
}

/* ---- nested segments --------------------------------------------------------------- */

/* flags/f on segments/a; the caller fills in the segments. */
static PbState *nested_fixture(void)
{
  PbState *s = st_new();
  PbFlag *f = flag_new(FLAG, CLIENT);
  flag_variant(f, ON, "{\"enabled\":true}");
  PbRule *r = flag_rule(f, RULE1, "segments/a", "", 1000);
  rule_assign(r, A_VARIANT, "a1", ON, 1, 0, 1000);
  st_flag(s, f);
  return s;
}

static PbSegment *add_seg(PbState *s, const char *name)
{
  PbSegment *g = seg_new(name);
  st_seg(s, g);
  return g;
}

static void test_nested_segments(void)
{
  PbState *s = nested_fixture();
  PbSegment *a = add_seg(s, "segments/a"), *b = add_seg(s, "segments/b");
  seg_crit(a, "b", c_segment("segments/b"));
  seg_expr(a, e_ref("b"));
  seg_crit(b, "c", c_eq("country", tv_str("SE")));
  seg_expr(b, e_ref("c"));
  confidence_state *st = st_load(s);
  EXPECT(st, "{\"country\":\"SE\"}", M);
  EXPECT(st, "{\"country\":\"NO\"}", N);
  confidence_state_unref(st);

  /* A reference to a missing segment is FALSE. */
  s = nested_fixture();
  a = add_seg(s, "segments/a");
  seg_crit(a, "x", c_segment("segments/missing"));
  seg_expr(a, e_not(e_ref("x")));
  st = st_load(s);
  EXPECT(st, "{}", M);
  confidence_state_unref(st);

  /* A cycle on the current path is FALSE, not an error. */
  s = nested_fixture();
  a = add_seg(s, "segments/a");
  b = add_seg(s, "segments/b");
  seg_crit(a, "b", c_segment("segments/b"));
  seg_crit(a, "t", c_eq("x", tv_str("1")));
  seg_expr(a, e_and(2, e_ref("b"), e_ref("t")));
  seg_crit(b, "a", c_segment("segments/a"));
  seg_crit(b, "t", c_eq("x", tv_str("1")));
  seg_expr(b, e_or(2, e_ref("a"), e_ref("t")));
  st = st_load(s);
  EXPECT(st, "{\"x\":\"1\"}", M);
  EXPECT(st, "{\"x\":\"2\"}", N);
  confidence_state_unref(st);
  s = nested_fixture();
  a = add_seg(s, "segments/a");
  b = add_seg(s, "segments/b");
  seg_crit(a, "b", c_segment("segments/b"));
  seg_expr(a, e_ref("b"));
  seg_crit(b, "a", c_segment("segments/a"));
  seg_expr(b, e_ref("a"));
  st = st_load(s);
  EXPECT(st, "{}", N);
  confidence_state_unref(st);
  /* Self reference. */
  s = nested_fixture();
  a = add_seg(s, "segments/a");
  seg_crit(a, "self", c_segment("segments/a"));
  seg_expr(a, e_not(e_ref("self")));
  st = st_load(s);
  EXPECT(st, "{}", M);
  confidence_state_unref(st);

  /* Diamond: a -> b -> c and a -> c. The visited set is per path. */
  s = nested_fixture();
  a = add_seg(s, "segments/a");
  b = add_seg(s, "segments/b");
  PbSegment *c = add_seg(s, "segments/c");
  seg_crit(a, "b", c_segment("segments/b"));
  seg_crit(a, "c", c_segment("segments/c"));
  seg_expr(a, e_and(2, e_ref("b"), e_ref("c")));
  seg_crit(b, "c", c_segment("segments/c"));
  seg_expr(b, e_ref("c"));
  seg_crit(c, "x", c_eq("x", tv_str("1")));
  seg_expr(c, e_ref("x"));
  st = st_load(s);
  EXPECT(st, "{\"x\":\"1\"}", M);
  EXPECT(st, "{\"x\":\"2\"}", N);
  confidence_state_unref(st);

  /* Nested segments check their own bitsets. */
  for (int ones = 0; ones <= 1; ones++) {
    s = nested_fixture();
    a = add_seg(s, "segments/a");
    add_seg(s, "segments/b");
    seg_crit(a, "b", c_segment("segments/b"));
    seg_expr(a, e_ref("b"));
    st_bitset(s, "segments/b", bits_filled(BITSET_BYTES, ones ? 0xff : 0x00), BITSET_BYTES);
    st = st_load(s);
    EXPECT(st, "{\"targeting_key\":\"user1\"}", ones ? M : N);
    confidence_state_unref(st);
  }

  /* A chain of segment references: 40 levels match; a much deeper chain
   * either matches too or is refused with the documented ELIMIT. */
  for (int depth = 40; depth <= 300; depth += 260) {
    s = nested_fixture();
    for (int i = 0; i < depth; i++) {
      char name[64], next[64];
      snprintf(name, sizeof name, "segments/%s%d", i ? "n" : "a", i);
      if (i == 0)
        snprintf(name, sizeof name, "segments/a");
      snprintf(next, sizeof next, "segments/n%d", i + 1);
      PbSegment *g = add_seg(s, name);
      if (i + 1 < depth)
        seg_crit(g, "next", c_segment(next));
      else
        seg_crit(g, "next", c_eq("x", tv_str("1")));
      seg_expr(g, e_ref("next"));
    }
    size_t len;
    uint8_t *buf = st_pack(s, &len);
    st = load_bytes(buf, len, "test-account");
    free(buf);
    if (depth == 40) {
      EXPECT(st, "{\"x\":\"1\"}", M);
      EXPECT(st, "{\"x\":\"2\"}", N);
    } else if (st) {
      int got = outcome(st, "{\"x\":\"1\"}");
      CHECK(got == M || got == CONFIDENCE_ELIMIT);
      if (got != M && got != CONFIDENCE_ELIMIT)
        fprintf(stderr, "  chain of %d segments: got %d (%s)\n", depth, got, confidence_resolve_result_error(g_res));
    }
    confidence_state_unref(st);
  }
}

/* ---- bitsets ------------------------------------------------------------------------- */

/* flags/f on segments/bits (no targeting), blank selector, full range. */
static PbState *bits_fixture(void)
{
  PbState *s = st_new();
  PbFlag *f = flag_new(FLAG, CLIENT);
  flag_variant(f, ON, "{\"enabled\":true}");
  PbRule *r = flag_rule(f, RULE1, "segments/bits", "", 1000);
  rule_assign(r, A_VARIANT, "a1", ON, 1, 0, 1000);
  st_flag(s, f);
  st_seg(s, seg_new("segments/bits"));
  return s;
}

#define USER1 "{\"targeting_key\":\"user1\"}"

/* bucket(key, n) of spec 3.8 over MurmurHash3 (checked by test_murmur). */
static uint32_t spec_bucket(const char *key, uint64_t n)
{
  uint64_t h1, h2;
  cf_murmur3_128(key, strlen(key), &h1, &h2);
  return (uint32_t)((h1 >> 4) % n);
}
#define LONG_UNIT "{\"targeting_key\":\"user-definitely-not-in-bitset-xyz-abc-123\"}"

static void test_bitsets(void)
{
  /* Spec 3.8: MegaSalt-test-account|user1 -> 392909; the long unit -> 668961. */
  PbState *s = bits_fixture();
  st_bitset(s, "segments/bits", bits_with(1, 392909u), BITSET_BYTES);
  confidence_state *st = st_load(s);
  EXPECT(st, USER1, M);
  EXPECT(st, LONG_UNIT, N);
  EXPECT(st, "{}", N); /* no unit: only an all-ones bitset allows it */
  confidence_state_unref(st);
  s = bits_fixture();
  st_bitset(s, "segments/bits", bits_with(1, 668961u), BITSET_BYTES);
  st = st_load(s);
  EXPECT(st, USER1, N);
  EXPECT(st, LONG_UNIT, M);
  confidence_state_unref(st);
  s = bits_fixture();
  st_bitset(s, "segments/bits", bits_with(2, 392908u, 392910u), BITSET_BYTES);
  st = st_load(s);
  EXPECT(st, USER1, N);
  confidence_state_unref(st);
  /* MSB-first reading would look at bit 392909 ^ 7. */
  s = bits_fixture();
  st_bitset(s, "segments/bits", bits_with(1, 392909u ^ 7u), BITSET_BYTES);
  st = st_load(s);
  EXPECT(st, USER1, N);
  confidence_state_unref(st);
  /* The salt uses the account id up to its first '/'. */
  s = bits_fixture();
  st_bitset(s, "segments/bits", bits_with(1, 392909u), BITSET_BYTES);
  st = st_load_as(s, "test-account/ignored");
  EXPECT(st, USER1, M);
  confidence_state_unref(st);
  /* Passing "accounts/<id>" salts with "MegaSalt-accounts" (1.5 quirk). */
  s = bits_fixture();
  st_bitset(s, "segments/bits", bits_with(1, (unsigned)spec_bucket("MegaSalt-accounts|user1", 1000000)),
            BITSET_BYTES);
  st = st_load_as(s, "accounts/test-account");
  EXPECT(st, USER1, M);
  confidence_state_unref(st);
  /* A long account id (salted key longer than any small buffer). */
  {
    char account[701], key[800];
    memset(account, 'a', 700);
    account[700] = '\0';
    snprintf(key, sizeof key, "MegaSalt-%s|user1", account);
    s = bits_fixture();
    st_bitset(s, "segments/bits", bits_with(1, (unsigned)spec_bucket(key, 1000000)), BITSET_BYTES);
    st = st_load_as(s, account);
    EXPECT(st, USER1, M);
    EXPECT(st, LONG_UNIT, N);
    confidence_state_unref(st);
  }
  /* A later entry for the same segment replaces the earlier one. */
  s = bits_fixture();
  st_bitset(s, "segments/bits", bits_filled(BITSET_BYTES, 0), BITSET_BYTES);
  st_bitset(s, "segments/bits", bits_with(1, 392909u), BITSET_BYTES);
  st = st_load(s);
  EXPECT(st, USER1, M);
  confidence_state_unref(st);
  /* All ones: everyone, including no unit. One bit cleared: no unit fails. */
  s = bits_fixture();
  st_bitset(s, "segments/bits", bits_filled(BITSET_BYTES, 0xff), BITSET_BYTES);
  st = st_load(s);
  EXPECT(st, USER1, M);
  EXPECT(st, "{}", M);
  confidence_state_unref(st);
  s = bits_fixture();
  uint8_t *almost = bits_filled(BITSET_BYTES, 0xff);
  almost[BITSET_BYTES - 1] = 0x7f;
  st_bitset(s, "segments/bits", almost, BITSET_BYTES);
  st = st_load(s);
  EXPECT(st, USER1, M);
  EXPECT(st, "{}", N);
  confidence_state_unref(st);
  /* A short bitset: indexes past its end are out. */
  s = bits_fixture();
  st_bitset(s, "segments/bits", bits_filled(1000, 0xff), 1000);
  st = st_load(s);
  EXPECT(st, USER1, N);
  EXPECT(st, "{}", M);
  confidence_state_unref(st);
  /* full_bitset = true: everyone. */
  s = bits_fixture();
  st_full_bitset(s, "segments/bits");
  st = st_load(s);
  EXPECT(st, USER1, M);
  EXPECT(st, LONG_UNIT, M);
  EXPECT(st, "{}", M);
  confidence_state_unref(st);
}

/* ---- variant bucketing ------------------------------------------------------------------ */

static confidence_state *bucket_state(const char *segment, int bucket_count, int n_assign, const int *ranges)
{
  PbState *s = st_new();
  PbFlag *f = flag_new(FLAG, CLIENT);
  static const char *const names[] = {"flags/f/variants/v0", "flags/f/variants/v1", "flags/f/variants/v2"};
  static const char *const ids[] = {"a0", "a1", "a2"};
  for (int i = 0; i < 3; i++)
    flag_variant(f, names[i], "{}");
  PbRule *r = flag_rule(f, RULE1, segment, "", bucket_count);
  for (int i = 0; i < n_assign; i++)
    rule_assign(r, A_VARIANT, ids[i], names[i], 1, ranges[2 * i], ranges[2 * i + 1]);
  st_flag(s, f);
  st_seg(s, seg_new(segment));
  return st_load(s);
}

static void test_bucketing(void)
{
  /* "country-se|user1" -> 719 (mod 1000). */
  static const int around_719[] = {0, 719, 719, 720, 720, 1000};
  confidence_state *st = bucket_state("segments/country-se", 1000, 3, around_719);
  EXPECT(st, USER1, M);
  CHECK_STR(variant_of(), "flags/f/variants/v1");
  CHECK_STR(confidence_resolved_flag_assignment_id(g_flag), "a1");
  CHECK_STR(confidence_resolved_flag_segment(g_flag), "segments/country-se");
  EXPECT(st, "{}", N); /* no unit, partial rollout */
  confidence_state_unref(st);
  /* The segment id is the second '/'-piece of the rule's segment. */
  st = bucket_state("segments/country-se/extra", 1000, 3, around_719);
  EXPECT(st, USER1, M);
  CHECK_STR(variant_of(), "flags/f/variants/v1");
  confidence_state_unref(st);
  /* A gap in the ranges: no assignment, no match. */
  static const int gap[] = {0, 719, 720, 1000};
  st = bucket_state("segments/country-se", 1000, 2, gap);
  EXPECT(st, USER1, N);
  confidence_state_unref(st);
  /* Example 2: "catch-all|user1" -> 855. */
  static const int halves[] = {0, 500, 500, 1000};
  st = bucket_state("segments/catch-all", 1000, 2, halves);
  EXPECT(st, USER1, M);
  CHECK_STR(variant_of(), "flags/f/variants/v1");
  confidence_state_unref(st);
  /* Another modulus, from the spec's h1 for "catch-all|user1". */
  int b = (int)((0x2c93b90bf1d51b71ULL >> 4) % 10000);
  int around_b[] = {0, b, b, b + 1, b + 1, 10000};
  st = bucket_state("segments/catch-all", 10000, 3, around_b);
  EXPECT(st, USER1, M);
  CHECK_STR(variant_of(), "flags/f/variants/v1");
  confidence_state_unref(st);
  /* A negative bucket count is widened to a huge unsigned modulus and the
   * bucket compared as a signed 32-bit value (3.8 quirk). */
  {
    uint64_t wide = (0x2c93b90bf1d51b71ULL >> 4) % (uint64_t)(int64_t)-1;
    int32_t nb = (int32_t)(uint32_t)wide;
    int around_nb[] = {INT32_MIN, nb, nb, nb + 1, nb + 1, INT32_MAX};
    st = bucket_state("segments/catch-all", -1, 3, around_nb);
    EXPECT(st, USER1, M);
    CHECK_STR(variant_of(), "flags/f/variants/v1");
    confidence_state_unref(st);
  }
  /* A long segment id: the variant bucket hashes "<id>|<unit>". */
  {
    char segment[800], key[800];
    strcpy(segment, "segments/");
    memset(segment + 9, 's', 600);
    segment[609] = '\0';
    snprintf(key, sizeof key, "%s|user1", segment + 9);
    int hit = (int)spec_bucket(key, 1000);
    int around_hit[] = {0, hit, hit, hit + 1, hit + 1, 1000};
    st = bucket_state(segment, 1000, 3, around_hit);
    EXPECT(st, USER1, M);
    CHECK_STR(variant_of(), "flags/f/variants/v1");
    confidence_state_unref(st);
  }
  /* Several ranges per assignment. */
  {
    PbState *s = st_new();
    PbFlag *f = flag_new(FLAG, CLIENT);
    flag_variant(f, "flags/f/variants/x", "{}");
    flag_variant(f, "flags/f/variants/y", "{}");
    PbRule *r = flag_rule(f, RULE1, "segments/country-se", "", 1000);
    rule_assign(r, A_VARIANT, "ay", "flags/f/variants/y", 2, 0, 100, 720, 1000);
    rule_assign(r, A_VARIANT, "ax", "flags/f/variants/x", 2, 100, 719, 719, 720);
    st_flag(s, f);
    st_seg(s, seg_new("segments/country-se"));
    st = st_load(s);
    EXPECT(st, USER1, M);
    CHECK_STR(variant_of(), "flags/f/variants/x");
    confidence_state_unref(st);
  }
  /* Hashing failures fail the call: bucket count 0, segment name without '/'. */
  st = bucket_state("segments/catch-all", 0, 2, halves);
  EXPECT(st, USER1, ERES);
  confidence_state_unref(st);
  st = bucket_state("catch-all", 1000, 2, halves);
  EXPECT(st, USER1, ERES);
  confidence_state_unref(st);
  /* ... but a full single range never hashes. */
  static const int full[] = {0, 1000};
  st = bucket_state("catch-all", 1000, 1, full);
  EXPECT(st, USER1, M);
  confidence_state_unref(st);
  static const int empty_full[] = {0, 0};
  st = bucket_state("segments/catch-all", 0, 1, empty_full);
  EXPECT(st, USER1, M);
  confidence_state_unref(st);
  /* A variant assignment naming a variant the flag lacks fails the call. */
  {
    PbState *s = st_new();
    PbFlag *f = flag_new(FLAG, CLIENT);
    PbRule *r = flag_rule(f, RULE1, "segments/all", "", 1000);
    rule_assign(r, A_VARIANT, "a1", "flags/f/variants/ghost", 1, 0, 1000);
    st_flag(s, f);
    st_seg(s, seg_new("segments/all"));
    st = st_load(s);
    EXPECT(st, USER1, ERES);
    confidence_state_unref(st);
  }
}

/* ---- rule loop: fallthrough, client default, environments, skips ------------------------ */

static void test_rule_loop(void)
{
  /* Fallthrough, then a match. */
  PbState *s = st_new();
  PbFlag *f = flag_new(FLAG, CLIENT);
  flag_variant(f, ON, "{\"enabled\":true}");
  PbRule *r = flag_rule(f, RULE1, "segments/all", "", 1000);
  rule_assign(r, A_FALLTHROUGH, "ft1", NULL, 1, 0, 1000);
  r = flag_rule(f, RULE2, "segments/all", "", 1000);
  rule_assign(r, A_VARIANT, "a2", ON, 1, 0, 1000);
  st_flag(s, f);
  st_seg(s, seg_new("segments/all"));
  confidence_state *st = st_load(s);
  EXPECT(st, USER1, M);
  CHECK_STR(variant_of(), ON);
  CHECK_STR(confidence_resolved_flag_rule(g_flag), RULE2);
  CHECK_STR(confidence_resolved_flag_assignment_id(g_flag), "a2");
  CHECK(confidence_resolved_flag_should_apply(g_flag));
  CHECK(confidence_resolved_flag_fallthrough_count(g_flag) == 1);
  confidence_fallthrough ft = {0};
  CHECK(confidence_resolved_flag_fallthrough_at(g_flag, 0) != NULL);
  ft = *confidence_resolved_flag_fallthrough_at(g_flag, 0);
  CHECK_STR(ft.rule, RULE1);
  CHECK_STR(ft.assignment_id, "ft1");
  CHECK_STR(ft.targeting_key, "user1");
  CHECK_STR(ft.targeting_key_selector, "");
  CHECK(confidence_resolved_flag_fallthrough_at(g_flag, 1) == NULL);
  EXPECT(st, "{}", M); /* no unit: full ranges still assign */
  CHECK(confidence_resolved_flag_fallthrough_at(g_flag, 0) != NULL);
  ft = *confidence_resolved_flag_fallthrough_at(g_flag, 0);
  CHECK_STR(ft.targeting_key, "");
  confidence_state_unref(st);

  /* Only a fallthrough: no match, but should_apply. */
  s = st_new();
  f = flag_new(FLAG, CLIENT);
  r = flag_rule(f, RULE1, "segments/all", "k", 1000);
  rule_assign(r, A_FALLTHROUGH, "ft1", NULL, 1, 0, 1000);
  st_flag(s, f);
  st_seg(s, seg_new("segments/all"));
  st = st_load(s);
  EXPECT(st, "{\"k\":\"unit-7\"}", N);
  CHECK(confidence_resolved_flag_should_apply(g_flag));
  CHECK(confidence_resolved_flag_value(g_flag) == NULL);
  CHECK_STR(variant_of(), "");
  CHECK(confidence_resolved_flag_fallthrough_at(g_flag, 0) != NULL);
  ft = *confidence_resolved_flag_fallthrough_at(g_flag, 0);
  CHECK_STR(ft.targeting_key, "unit-7");
  CHECK_STR(ft.targeting_key_selector, "k");
  EXPECT(st, "{}", N);
  CHECK(!confidence_resolved_flag_should_apply(g_flag));
  confidence_state_unref(st);

  /* Client default: MATCH with no variant and an empty, present value. */
  s = st_new();
  f = flag_new(FLAG, CLIENT);
  flag_variant(f, ON, "{\"enabled\":true}");
  r = flag_rule(f, RULE1, "segments/all", "", 1000);
  rule_assign(r, A_CLIENT_DEFAULT, "cd1", NULL, 1, 0, 1000);
  st_flag(s, f);
  st_seg(s, seg_new("segments/all"));
  st = st_load(s);
  EXPECT(st, USER1, M);
  CHECK_STR(variant_of(), "");
  const confidence_value *v = confidence_resolved_flag_value(g_flag);
  CHECK(v != NULL && confidence_value_type_of(v) == CONFIDENCE_VALUE_STRUCT && confidence_value_struct_size(v) == 0);
  CHECK(confidence_resolved_flag_should_apply(g_flag));
  CHECK_STR(confidence_resolved_flag_assignment_id(g_flag), "cd1");
  CHECK_STR(confidence_resolved_flag_rule(g_flag), RULE1);
  confidence_state_unref(st);

  /* A client default's value stays empty even when the flag has a schema. */
  s = st_new();
  f = flag_new(FLAG, CLIENT);
  f->schema = flag_schema(1, "a", sch_scalar('i'));
  r = flag_rule(f, RULE1, "segments/all", "", 1000);
  rule_assign(r, A_CLIENT_DEFAULT, "cd1", NULL, 1, 0, 1000);
  st_flag(s, f);
  st_seg(s, seg_new("segments/all"));
  st = st_load(s);
  EXPECT(st, USER1, M);
  v = confidence_resolved_flag_value(g_flag);
  CHECK(v != NULL && confidence_value_struct_size(v) == 0);
  confidence_state_unref(st);

  /* Fallthroughs accumulate in rule order. */
  s = st_new();
  f = flag_new(FLAG, CLIENT);
  flag_variant(f, ON, "{}");
  r = flag_rule(f, "flags/f/rules/ft-a", "segments/all", "", 1000);
  rule_assign(r, A_FALLTHROUGH, "fa", NULL, 1, 0, 1000);
  r = flag_rule(f, "flags/f/rules/ft-b", "segments/all", "", 1000);
  rule_assign(r, A_FALLTHROUGH, "fb", NULL, 1, 0, 1000);
  r = flag_rule(f, RULE2, "segments/all", "", 1000);
  rule_assign(r, A_VARIANT, "a2", ON, 1, 0, 1000);
  st_flag(s, f);
  st_seg(s, seg_new("segments/all"));
  st = st_load(s);
  EXPECT(st, USER1, M);
  CHECK(confidence_resolved_flag_fallthrough_count(g_flag) == 2);
  CHECK(confidence_resolved_flag_fallthrough_at(g_flag, 0) != NULL);
  ft = *confidence_resolved_flag_fallthrough_at(g_flag, 0);
  CHECK_STR(ft.assignment_id, "fa");
  CHECK(confidence_resolved_flag_fallthrough_at(g_flag, 1) != NULL);
  ft = *confidence_resolved_flag_fallthrough_at(g_flag, 1);
  CHECK_STR(ft.assignment_id, "fb");
  CHECK_STR(ft.rule, "flags/f/rules/ft-b");
  confidence_state_unref(st);

  /* Skipped rules: disabled, environment mismatch, missing segment, no
   * assignment spec, unset assignment; the last rule matches. */
  s = st_new();
  f = flag_new(FLAG, CLIENT);
  flag_variant(f, ON, "{}");
  flag_variant(f, OFF, "{}");
  r = flag_rule(f, "flags/f/rules/disabled", "segments/all", "", 1000);
  rule_assign(r, A_VARIANT, "x", OFF, 1, 0, 1000);
  r->enabled = 0;
  r = flag_rule(f, "flags/f/rules/staging", "segments/all", "", 1000);
  rule_assign(r, A_VARIANT, "x", OFF, 1, 0, 1000);
  rule_env(r, "staging");
  r = flag_rule(f, "flags/f/rules/missing-seg", "segments/missing", "", 1000);
  rule_assign(r, A_VARIANT, "x", OFF, 1, 0, 1000);
  flag_rule(f, "flags/f/rules/no-spec", "segments/all", "", NO_SPEC);
  r = flag_rule(f, "flags/f/rules/unset", "segments/all", "", 1000);
  rule_assign(r, A_UNSET, "x", NULL, 1, 0, 1000);
  r = flag_rule(f, "flags/f/rules/prod", "segments/all", "", 1000);
  rule_assign(r, A_VARIANT, "y", ON, 1, 0, 1000);
  rule_env(r, "staging");
  rule_env(r, "production");
  st_flag(s, f);
  st_seg(s, seg_new("segments/all"));
  st = st_load(s);
  EXPECT(st, USER1, M);
  CHECK_STR(variant_of(), ON);
  CHECK_STR(confidence_resolved_flag_rule(g_flag), "flags/f/rules/prod");
  CHECK(confidence_resolved_flag_fallthrough_count(g_flag) == 0);
  confidence_state_unref(st);

  /* A credential without environments passes only rules without them. */
  s = msg(&confidence__flags__admin__v1__resolver_state__descriptor);
  st_client(s, CLIENT);
  st_credential(s, CLIENT "/credentials/k1", SECRET, NULL);
  f = flag_new(FLAG, CLIENT);
  flag_variant(f, ON, "{}");
  r = flag_rule(f, RULE1, "segments/all", "", 1000);
  rule_assign(r, A_VARIANT, "a", ON, 1, 0, 1000);
  rule_env(r, "production");
  st_flag(s, f);
  st_seg(s, seg_new("segments/all"));
  st = st_load(s);
  EXPECT(st, USER1, N);
  confidence_state_unref(st);
}

/* ---- variant values and schemas (3.11) ------------------------------------------------------ */

static void value_is(const char *variant, const char *want_json)
{
  confidence_value *want = ctx_json(want_json);
  const confidence_resolved_flag *f = confidence_resolve_result_find(g_res, FLAG);
  const confidence_value *got = f ? confidence_resolved_flag_value(f) : NULL;
  int ok = f && strcmp(confidence_resolved_flag_variant(f), variant) == 0 && confidence_value_equal(got, want);
  CHECK(ok);
  if (!ok) {
    char *g = confidence_value_to_json(got);
    fprintf(stderr, "  variant %s: value %s, want %s\n", variant, g ? g : "(none)", want_json);
    confidence_string_free(g);
  }
  confidence_value_free(want);
}

static void test_schema(void)
{
  static const char *const values[] = {
      "{\"a\":1,\"b\":{\"x\":\"q\"},\"c\":[{}],\"extra\":true}",
      "{\"b\":\"not a struct\"}",
      "{\"b\":{\"z\":{}}}",
      "{}",
  };
  static const char *const want[] = {
      "{\"a\":1,\"b\":{\"x\":\"q\",\"y\":null,\"z\":null},\"c\":[{}],\"d\":null,\"extra\":true}",
      "{\"a\":null,\"b\":\"not a struct\",\"c\":null,\"d\":null}",
      "{\"a\":null,\"b\":{\"x\":null,\"y\":null,\"z\":{\"q\":null}},\"c\":null,\"d\":null}",
      "{\"a\":null,\"b\":null,\"c\":null,\"d\":null}",
  };
  for (int i = 0; i < 5; i++) {
    PbState *s = st_new();
    PbFlag *f = flag_new(FLAG, CLIENT);
    f->schema = flag_schema(4, "a", sch_scalar('i'), "b",
                            sch_struct(3, "x", sch_scalar('s'), "y", sch_scalar('b'), "z",
                                       sch_struct(1, "q", sch_scalar('d'))),
                            "c", sch_list(sch_struct(1, "m", sch_scalar('s'))), "d", sch_scalar('s'));
    /* i == 4: a variant without any value. */
    flag_variant(f, "flags/f/variants/v", i < 4 ? values[i] : NULL);
    PbRule *r = flag_rule(f, RULE1, "segments/all", "", 1000);
    rule_assign(r, A_VARIANT, "a", "flags/f/variants/v", 1, 0, 1000);
    st_flag(s, f);
    st_seg(s, seg_new("segments/all"));
    confidence_state *st = st_load(s);
    EXPECT(st, "{}", M);
    value_is("flags/f/variants/v", want[i < 4 ? i : 3]);
    confidence_state_unref(st);
  }
  /* No schema and no value: an empty, present struct. */
  {
    PbState *s0 = st_new();
    PbFlag *f0 = flag_new(FLAG, CLIENT);
    flag_variant(f0, "flags/f/variants/v", NULL);
    PbRule *r0 = flag_rule(f0, RULE1, "segments/all", "", 1000);
    rule_assign(r0, A_VARIANT, "a", "flags/f/variants/v", 1, 0, 1000);
    st_flag(s0, f0);
    st_seg(s0, seg_new("segments/all"));
    confidence_state *st0 = st_load(s0);
    EXPECT(st0, "{}", M);
    value_is("flags/f/variants/v", "{}");
    confidence_state_unref(st0);
  }
  /* Without a schema the value is returned as stored. */
  PbState *s = st_new();
  PbFlag *f = flag_new(FLAG, CLIENT);
  flag_variant(f, "flags/f/variants/v", "{\"n\":1.5,\"l\":[1,\"two\",null],\"o\":{\"p\":{}}}");
  PbRule *r = flag_rule(f, RULE1, "segments/all", "", 1000);
  rule_assign(r, A_VARIANT, "a", "flags/f/variants/v", 1, 0, 1000);
  st_flag(s, f);
  st_seg(s, seg_new("segments/all"));
  confidence_state *st = st_load(s);
  EXPECT(st, "{}", M);
  value_is("flags/f/variants/v", "{\"n\":1.5,\"l\":[1,\"two\",null],\"o\":{\"p\":{}}}");
  confidence_state_unref(st);
}

/* ---- flag selection, clients and secrets (2, 3.1) --------------------------------------------- */

static PbFlag *simple_flag(PbState *s, const char *name, const char *client)
{
  PbFlag *f = flag_new(name, client);
  char variant[128], rule[128];
  snprintf(variant, sizeof variant, "%s/variants/on", name);
  snprintf(rule, sizeof rule, "%s/rules/r1", name);
  flag_variant(f, variant, "{}");
  PbRule *r = flag_rule(f, rule, "segments/all", "", 1000);
  rule_assign(r, A_VARIANT, "a", variant, 1, 0, 1000);
  st_flag(s, f);
  return f;
}

static size_t resolve_count(const confidence_state *st, const char *secret, int n, ...)
{
  const char *names[8];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++)
    names[i] = va_arg(ap, const char *);
  va_end(ap);
  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = secret;
  req.flags = names;
  req.flag_count = (size_t)n;
  int rc = confidence_resolve(st, &req, g_res);
  return rc ? (size_t)-1 : confidence_resolve_result_flag_count(g_res);
}

static void test_flag_selection(void)
{
  PbState *s = st_new();
  simple_flag(s, "flags/mine", CLIENT);
  simple_flag(s, "flags/foreign", "clients/other");
  simple_flag(s, "flags/archived", CLIENT)->state = CONFIDENCE__FLAGS__ADMIN__V1__FLAG__STATE__ARCHIVED;
  simple_flag(s, "flags/unspecified", CLIENT)->state = CONFIDENCE__FLAGS__ADMIN__V1__FLAG__STATE__STATE_UNSPECIFIED;
  simple_flag(s, "flags/prefix", "clients/c1x");
  simple_flag(s, "flags/shared", "clients/other");
  PUSH(s->flags[s->n_flags - 1]->clients, s->flags[s->n_flags - 1]->n_clients, tb_str(CLIENT));
  st_seg(s, seg_new("segments/all"));
  confidence_state *st = st_load(s);
  CHECK(resolve_count(st, SECRET, 0) == 2);
  CHECK(confidence_resolve_result_find(g_res, "flags/mine") != NULL);
  CHECK(confidence_resolve_result_find(g_res, "flags/shared") != NULL);
  CHECK(resolve_count(st, SECRET, 1, "flags/foreign") == 0);
  CHECK(resolve_count(st, SECRET, 1, "flags/archived") == 0);
  CHECK(resolve_count(st, SECRET, 1, "flags/unspecified") == 0);
  CHECK(resolve_count(st, SECRET, 1, "flags/prefix") == 0);
  CHECK(resolve_count(st, SECRET, 1, "flags/none") == 0);
  CHECK(resolve_count(st, SECRET, 1, "mine") == 0);
  CHECK(resolve_count(st, SECRET, 2, "flags/mine", "flags/mine") == 1);
  CHECK(resolve_count(st, SECRET, 4, "flags/archived", "flags/mine", "flags/foreign", "flags/shared") == 2);
  CHECK_STR(confidence_resolve_result_client(g_res), CLIENT);
  CHECK_STR(confidence_resolve_result_credential(g_res), CLIENT "/credentials/k1");

  /* Unknown secrets fail the call; the message masks secrets. */
  int rc = resolve_v(st, "super-secret-value-123", NULL, NULL, 0);
  CHECK(rc == CONFIDENCE_ESECRET);
  const char *msg1 = confidence_resolve_result_error(g_res);
  CHECK(msg1[0] != '\0');
  CHECK(strstr(msg1, "super-secret-value-123") == NULL);
  CHECK(strstr(msg1, "secret-value") == NULL);
  CHECK(strstr(msg1, "sup...123") != NULL);
  CHECK(strstr(msg1, SECRET) == NULL); /* nor the configured one */
  CHECK(strstr(confidence_last_error_message(), "super-secret-value-123") == NULL);
  CHECK(confidence_resolve_result_flag_count(g_res) == 0);
  CHECK_STR(confidence_resolve_result_client(g_res), "");
  rc = resolve_v(st, "abcdef", NULL, NULL, 0);
  CHECK(rc == CONFIDENCE_ESECRET);
  CHECK(strstr(confidence_resolve_result_error(g_res), "abcdef") == NULL);
  CHECK(strstr(confidence_resolve_result_error(g_res), "***") != NULL);
  CHECK(resolve_v(st, "", NULL, NULL, 0) == CONFIDENCE_ESECRET);
  rc = resolve_v(st, NULL, NULL, NULL, 0);
  CHECK(rc == CONFIDENCE_ESECRET || rc == CONFIDENCE_EINVAL);
  CHECK(resolve_v(st, "secret-", NULL, NULL, 0) == CONFIDENCE_ESECRET); /* exact match only */
  confidence_state_unref(st);

  /* Raw prefix test for credentials; the last matching client wins (2). */
  for (int order = 0; order < 2; order++) {
    s = msg(&confidence__flags__admin__v1__resolver_state__descriptor);
    st_client(s, order ? "clients/abc" : "clients/ab");
    st_client(s, order ? "clients/ab" : "clients/abc");
    st_credential(s, "clients/abc/credentials/x", "s-abc", NULL);
    st_credential(s, "clients/zzz/credentials/y", "s-orphan", NULL);
    simple_flag(s, "flags/for-ab", "clients/ab");
    st_seg(s, seg_new("segments/all"));
    st = st_load(s);
    size_t n = resolve_count(st, "s-abc", 0);
    CHECK_STR(confidence_resolve_result_client(g_res), order ? "clients/ab" : "clients/abc");
    CHECK_STR(confidence_resolve_result_credential(g_res), "clients/abc/credentials/x");
    CHECK(n == (order ? 1u : 0u));
    CHECK(resolve_v(st, "s-orphan", NULL, NULL, 0) == CONFIDENCE_ESECRET);
    confidence_state_unref(st);
  }
}

static void test_too_many(void)
{
  for (int n = 1000; n <= 1001; n++) {
    PbState *s = st_new();
    static const char *names[1001];
    for (int i = 0; i < n; i++) {
      char name[32];
      snprintf(name, sizeof name, "flags/f%04d", i);
      PbFlag *f = flag_new(name, CLIENT);
      st_flag(s, f);
    }
    size_t len;
    uint8_t *buf = st_pack(s, &len);
    confidence_state *st = load_bytes(buf, len, "test-account");
    free(buf);
    CHECK(st != NULL);
    int rc = resolve_v(st, SECRET, NULL, NULL, 0);
    if (n == 1000) {
      CHECK(rc == 0);
      CHECK(confidence_resolve_result_flag_count(g_res) == 1000);
    } else {
      CHECK(rc == CONFIDENCE_ETOOMANY);
      CHECK(strstr(confidence_resolve_result_error(g_res), "1001") != NULL);
      CHECK(confidence_resolve_result_flag_count(g_res) == 0);
      /* Naming them all explicitly is the same. */
      char storage[1001][32];
      for (int i = 0; i < n; i++) {
        snprintf(storage[i], sizeof storage[i], "flags/f%04d", i);
        names[i] = storage[i];
      }
      confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
      req.client_secret = SECRET;
      req.flags = names;
      req.flag_count = 1001;
      CHECK(confidence_resolve(st, &req, g_res) == CONFIDENCE_ETOOMANY);
      /* 1000 of them are fine. */
      req.flag_count = 1000;
      CHECK(confidence_resolve(st, &req, g_res) == 0);
      CHECK(confidence_resolve_result_flag_count(g_res) == 1000);
    }
    confidence_state_unref(st);
  }
}

/* ---- materializations (3.2, 3.3) -------------------------------------------------------------- */

#define MAT_R "mat-read"
#define MAT_W "mat-write"

/* flags/f: rule r1 on segments/s1 (country == "SE", plus an optional
 * bitset), blank selector, assignments a-on [0,1000) -> on and a-off [0,0)
 * -> off (reachable only through a sticky record). */
static confidence_state *mat_state(const char *write, const char *read, int must_match, int can_ignore,
                                   int empty_bitset)
{
  PbState *s = st_new();
  PbFlag *f = flag_new(FLAG, CLIENT);
  flag_variant(f, ON, "{\"enabled\":true}");
  flag_variant(f, OFF, "{\"enabled\":false}");
  PbRule *r = flag_rule(f, RULE1, "segments/s1", "", 1000);
  rule_assign(r, A_VARIANT, "a-on", ON, 1, 0, 1000);
  rule_assign(r, A_VARIANT, "a-off", OFF, 1, 0, 0);
  if (write || read)
    rule_mat(r, write ? write : "", read ? read : "", must_match, can_ignore);
  st_flag(s, f);
  PbSegment *s1 = seg_new("segments/s1");
  seg_crit(s1, "c", c_eq("country", tv_str("SE")));
  seg_expr(s1, e_ref("c"));
  st_seg(s, s1);
  if (empty_bitset)
    st_bitset(s, "segments/s1", bits_filled(BITSET_BYTES, 0), BITSET_BYTES);
  return st_load(s);
}

#define SE_USER1 "{\"targeting_key\":\"user1\",\"country\":\"SE\"}"
#define NO_USER1 "{\"targeting_key\":\"user1\",\"country\":\"NO\"}"

static int resolve_static(const confidence_state *st, const char *ctx, const confidence_materialization_record *recs,
                          size_t n)
{
  confidence_value_free(g_ctx);
  g_ctx = ctx_json(ctx);
  const char *flag = FLAG;
  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = SECRET;
  req.flags = &flag;
  req.flag_count = 1;
  req.context = g_ctx;
  req.materialization_mode = CONFIDENCE_MATERIALIZATIONS_STATIC;
  req.materializations = recs;
  req.materialization_count = n;
  int rc = confidence_resolve(st, &req, g_res);
  g_flag = rc ? NULL : confidence_resolve_result_find(g_res, FLAG);
  return rc ? rc : g_flag ? confidence_resolved_flag_reason(g_flag) : ABSENT;
}

static int record_is(int write, size_t i, const char *unit, const char *mat, const char *rule, const char *variant)
{
  const confidence_materialization_record *rp =
      write ? confidence_resolve_result_write_at(g_res, i) : confidence_resolve_result_read_at(g_res, i);
  confidence_materialization_record r = rp ? *rp : (confidence_materialization_record){0};
  int rc = rp ? 0 : -1;
  int ok = rc == 0 && strcmp(r.unit, unit) == 0 && strcmp(r.materialization, mat) == 0 && strcmp(r.rule, rule) == 0 &&
           strcmp(r.variant, variant) == 0;
  if (!ok && rc == 0)
    fprintf(stderr, "  %s %zu: (%s, %s, %s, %s)\n", write ? "write" : "read", i, r.unit, r.materialization, r.rule,
            r.variant);
  return ok;
}

static void test_materializations(void)
{
  const confidence_materialization_record sticky_off = REC("user1", MAT_R, RULE1, OFF);

  /* No store: a rule that reads fails the flag with MATERIALIZATION_NOT_SUPPORTED. */
  confidence_state *st = mat_state(NULL, MAT_R, 0, 0, 0);
  EXPECT(st, SE_USER1, MNS);
  CHECK_STR(variant_of(), "");
  CHECK(confidence_resolved_flag_value(g_flag) == NULL);
  CHECK(!confidence_resolved_flag_should_apply(g_flag));
  EXPECT(st, "{\"country\":\"SE\"}", N); /* no unit: the rule is skipped, nothing read */

  /* Static records: a sticky hit wins over bucketing and writes nothing. */
  CHECK(resolve_static(st, SE_USER1, &sticky_off, 1) == M);
  CHECK_STR(variant_of(), OFF);
  CHECK_STR(confidence_resolved_flag_assignment_id(g_flag), "a-off");
  CHECK(confidence_resolve_result_write_count(g_res) == 0);
  /* ... after the targeting check, which fails here. */
  CHECK(resolve_static(st, NO_USER1, &sticky_off, 1) == N);
  /* No record: normal resolution. */
  CHECK(resolve_static(st, SE_USER1, NULL, 0) == M);
  CHECK_STR(variant_of(), ON);
  /* A record for another rule or unit does not count. */
  const confidence_materialization_record other_rule = REC("user1", MAT_R, RULE2, OFF);
  CHECK(resolve_static(st, SE_USER1, &other_rule, 1) == M);
  CHECK_STR(variant_of(), ON);
  const confidence_materialization_record other_unit = REC("user2", MAT_R, RULE1, OFF);
  CHECK(resolve_static(st, SE_USER1, &other_unit, 1) == M);
  CHECK_STR(variant_of(), ON);
  /* A record with an empty or unknown variant: targeting passes, no sticky
   * assignment, normal bucketing. */
  const confidence_materialization_record empty_variant = REC("user1", MAT_R, RULE1, "");
  CHECK(resolve_static(st, SE_USER1, &empty_variant, 1) == M);
  CHECK_STR(variant_of(), ON);
  const confidence_materialization_record ghost = REC("user1", MAT_R, RULE1, "flags/f/variants/ghost");
  CHECK(resolve_static(st, SE_USER1, &ghost, 1) == M);
  CHECK_STR(variant_of(), ON);
  /* The first matching record decides. */
  const confidence_materialization_record two[] = {REC("user1", MAT_R, RULE1, OFF), REC("user1", MAT_R, RULE1, ON)};
  CHECK(resolve_static(st, SE_USER1, two, 2) == M);
  CHECK_STR(variant_of(), OFF);
  confidence_state_unref(st);

  /* segment_targeting_can_be_ignored: the sticky variant survives failing targeting. */
  st = mat_state(NULL, MAT_R, 0, 1, 0);
  CHECK(resolve_static(st, NO_USER1, &sticky_off, 1) == M);
  CHECK_STR(variant_of(), OFF);
  CHECK(resolve_static(st, NO_USER1, NULL, 0) == N);
  confidence_state_unref(st);

  /* The sticky targeting check ignores the segment's bitset. */
  st = mat_state(NULL, MAT_R, 0, 0, 1);
  CHECK(resolve_static(st, SE_USER1, &sticky_off, 1) == M);
  CHECK_STR(variant_of(), OFF);
  CHECK(resolve_static(st, SE_USER1, NULL, 0) == N);
  confidence_state_unref(st);

  /* materialization_must_match: no record skips the rule. */
  st = mat_state(NULL, MAT_R, 1, 0, 0);
  CHECK(resolve_static(st, SE_USER1, NULL, 0) == N);
  CHECK(resolve_static(st, SE_USER1, &sticky_off, 1) == M);
  CHECK_STR(variant_of(), OFF);
  confidence_state_unref(st);

  /* Writes: the assigned variant is written for the unit, also with an
   * empty write_materialization; without a store that is not supported. */
  st = mat_state(MAT_W, NULL, 0, 0, 0);
  CHECK(resolve_static(st, SE_USER1, NULL, 0) == M);
  CHECK(confidence_resolve_result_write_count(g_res) == 1);
  CHECK(record_is(1, 0, "user1", MAT_W, RULE1, ON));
  CHECK(confidence_resolve_result_read_count(g_res) == 0);
  EXPECT(st, SE_USER1, MNS);
  EXPECT(st, "{\"country\":\"SE\"}", N); /* no unit: cannot bucket, nothing written */
  CHECK(confidence_resolve_result_write_count(g_res) == 0);
  EXPECT_V(st, ctx_json(SE_USER1), CONFIDENCE_MATERIALIZATIONS_DISCOVER, M);
  CHECK(!confidence_resolve_result_suspended(g_res));
  CHECK(confidence_resolve_result_write_count(g_res) == 1);
  confidence_state_unref(st);
  st = mat_state("", "", 0, 0, 0);
  CHECK(resolve_static(st, SE_USER1, NULL, 0) == M);
  CHECK(confidence_resolve_result_write_count(g_res) == 1);
  CHECK(record_is(1, 0, "user1", "", RULE1, ON));
  EXPECT(st, SE_USER1, MNS);
  confidence_state_unref(st);

  /* MATERIALIZATION_NOT_SUPPORTED drops earlier fallthroughs. */
  {
    PbState *s = st_new();
    PbFlag *f = flag_new(FLAG, CLIENT);
    flag_variant(f, ON, "{}");
    PbRule *r = flag_rule(f, RULE1, "segments/all", "", 1000);
    rule_assign(r, A_FALLTHROUGH, "ft", NULL, 1, 0, 1000);
    r = flag_rule(f, RULE2, "segments/all", "", 1000);
    rule_assign(r, A_VARIANT, "a", ON, 1, 0, 1000);
    rule_mat(r, "", MAT_R, 0, 0);
    st_flag(s, f);
    st_seg(s, seg_new("segments/all"));
    st = st_load(s);
    EXPECT(st, USER1, MNS);
    CHECK(confidence_resolved_flag_fallthrough_count(g_flag) == 0);
    CHECK(!confidence_resolved_flag_should_apply(g_flag));
    /* With a store the read misses and rule 2 assigns and writes (to the
     * empty materialization name, spec 3.3 quirk). */
    CHECK(resolve_static(st, USER1, NULL, 0) == M);
    CHECK(confidence_resolved_flag_fallthrough_count(g_flag) == 1);
    CHECK(confidence_resolve_result_write_count(g_res) == 1);
    CHECK(record_is(1, 0, "user1", "", RULE2, ON));
    confidence_state_unref(st);
  }

  /* Two assignments with the sticky variant: the variant bucket picks
   * ("country-se|user1" -> 719). */
  {
    PbState *s = st_new();
    PbFlag *f = flag_new(FLAG, CLIENT);
    flag_variant(f, ON, "{}");
    flag_variant(f, OFF, "{}");
    PbRule *r = flag_rule(f, RULE1, "segments/country-se", "", 1000);
    rule_assign(r, A_VARIANT, "a1", ON, 1, 0, 500);
    rule_assign(r, A_VARIANT, "a2", ON, 1, 500, 1000);
    rule_assign(r, A_VARIANT, "a3", OFF, 1, 0, 0);
    rule_mat(r, "", MAT_R, 0, 0);
    st_flag(s, f);
    st_seg(s, seg_new("segments/country-se"));
    st = st_load(s);
    const confidence_materialization_record sticky_on = REC("user1", MAT_R, RULE1, ON);
    CHECK(resolve_static(st, USER1, &sticky_on, 1) == M);
    CHECK_STR(confidence_resolved_flag_assignment_id(g_flag), "a2");
    CHECK(confidence_resolve_result_write_count(g_res) == 0);
    confidence_state_unref(st);
  }

  /* Discovery: the read suspends the flag; resume completes it. */
  {
    PbState *s = st_new();
    PbFlag *f = flag_new(FLAG, CLIENT);
    flag_variant(f, ON, "{}");
    flag_variant(f, OFF, "{}");
    PbRule *r = flag_rule(f, RULE1, "segments/all", "", 1000);
    rule_assign(r, A_VARIANT, "a-on", ON, 1, 0, 1000);
    rule_assign(r, A_VARIANT, "a-off", OFF, 1, 0, 0);
    rule_mat(r, MAT_W, MAT_R, 0, 0);
    st_flag(s, f);
    simple_flag(s, "flags/plain", CLIENT);
    st_seg(s, seg_new("segments/all"));
    st = st_load(s);
    for (int with_record = 0; with_record <= 1; with_record++) {
      confidence_value_free(g_ctx);
      g_ctx = ctx_json(USER1);
      confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
      req.client_secret = SECRET;
      req.context = g_ctx;
      req.materialization_mode = CONFIDENCE_MATERIALIZATIONS_DISCOVER;
      CHECK(confidence_resolve(st, &req, g_res) == 0);
      CHECK(confidence_resolve_result_suspended(g_res));
      CHECK(confidence_resolve_result_read_count(g_res) == 1);
      CHECK(record_is(0, 0, "user1", MAT_R, RULE1, ""));
      CHECK(confidence_resolve_result_find(g_res, FLAG) == NULL);
      CHECK(confidence_resolve_result_read_at(g_res, 1) == NULL);
      int rc = confidence_resolve_resume(st, &req, &sticky_off, with_record ? 1 : 0, g_res);
      CHECK(rc == 0);
      CHECK(!confidence_resolve_result_suspended(g_res));
      CHECK(confidence_resolve_result_flag_count(g_res) == 2);
      CHECK(confidence_resolve_result_find(g_res, "flags/plain") != NULL);
      const confidence_resolved_flag *rf = confidence_resolve_result_find(g_res, FLAG);
      CHECK(rf && confidence_resolved_flag_reason(rf) == M);
      CHECK_STR(rf ? confidence_resolved_flag_variant(rf) : "", with_record ? OFF : ON);
      /* A sticky hit writes nothing; a fresh assignment is written. */
      CHECK(confidence_resolve_result_write_count(g_res) == (with_record ? 0u : 1u));
      if (!with_record)
        CHECK(record_is(1, 0, "user1", MAT_W, RULE1, ON));
      /* Resuming a result that is not suspended is refused. */
      CHECK(confidence_resolve_resume(st, &req, NULL, 0, g_res) == CONFIDENCE_EINVAL);
    }
    confidence_state_unref(st);
  }
}

/* ---- duplicates, writes, discovery details, bloom filters ---------------------------------- */

static void test_duplicates(void)
{
  /* Later flags and segments with the same name replace earlier ones (1.5). */
  PbState *s = st_new();
  PbFlag *f = flag_new(FLAG, CLIENT);
  flag_variant(f, ON, "{}");
  PbRule *r = flag_rule(f, RULE1, "segments/s1", "", 1000);
  rule_assign(r, A_VARIANT, "a", ON, 1, 0, 1000);
  st_flag(s, f);
  f = flag_new(FLAG, CLIENT);
  flag_variant(f, OFF, "{}");
  r = flag_rule(f, RULE1, "segments/s1", "", 1000);
  rule_assign(r, A_VARIANT, "b", OFF, 1, 0, 1000);
  st_flag(s, f);
  st_seg(s, seg_new("segments/s1"));
  PbSegment *later = seg_new("segments/s1");
  seg_crit(later, "c", c_eq("country", tv_str("SE")));
  seg_expr(later, e_ref("c"));
  st_seg(s, later);
  confidence_state *st = st_load(s);
  EXPECT(st, "{\"country\":\"SE\"}", M);
  CHECK_STR(variant_of(), OFF);
  CHECK(confidence_resolve_result_flag_count(g_res) == 1);
  EXPECT(st, "{\"country\":\"NO\"}", N);
  confidence_state_unref(st);

  /* A later duplicate key in the criteria map wins. */
  {
    PbSegment *s1;
    PbState *s2 = fixture(&s1);
    seg_crit(s1, "c", c_eq("country", tv_str("SE")));
    seg_crit(s1, "c", c_eq("country", tv_str("NO")));
    seg_expr(s1, e_ref("c"));
    st = st_load(s2);
    EXPECT(st, "{\"country\":\"NO\"}", M);
    EXPECT(st, "{\"country\":\"SE\"}", N);
    confidence_state_unref(st);
  }
  /* A PackedBitset with neither member set is ignored (everyone allowed). */
  {
    PbState *s2 = bits_fixture();
    PbBitset *b = msg(&confidence__flags__admin__v1__resolver_state__packed_bitset__descriptor);
    b->segment = tb_str("segments/bits");
    PUSH(s2->bitsets, s2->n_bitsets, b);
    st = st_load(s2);
    EXPECT(st, USER1, M);
    EXPECT(st, "{}", M);
    confidence_state_unref(st);
  }

  /* The same secret on two clients: the later insertion wins (2). */
  s = msg(&confidence__flags__admin__v1__resolver_state__descriptor);
  st_client(s, "clients/one");
  st_client(s, "clients/two");
  st_credential(s, "clients/one/credentials/k", "shared-secret", NULL);
  st_credential(s, "clients/two/credentials/k", "shared-secret", NULL);
  st = st_load(s);
  CHECK(resolve_v(st, "shared-secret", NULL, NULL, 0) == 0);
  CHECK_STR(confidence_resolve_result_client(g_res), "clients/two");
  CHECK_STR(confidence_resolve_result_credential(g_res), "clients/two/credentials/k");
  confidence_state_unref(st);
}

static void test_writes_and_discovery(void)
{
  /* Fallthrough and client-default assignments write with an empty variant. */
  for (int kind = 0; kind < 2; kind++) {
    PbState *s = st_new();
    PbFlag *f = flag_new(FLAG, CLIENT);
    PbRule *r = flag_rule(f, RULE1, "segments/all", "", 1000);
    rule_assign(r, kind ? A_CLIENT_DEFAULT : A_FALLTHROUGH, "x", NULL, 1, 0, 1000);
    rule_mat(r, MAT_W, "", 0, 0);
    st_flag(s, f);
    st_seg(s, seg_new("segments/all"));
    confidence_state *st = st_load(s);
    CHECK(resolve_static(st, USER1, NULL, 0) == (kind ? M : N));
    CHECK(confidence_resolve_result_write_count(g_res) == 1);
    CHECK(record_is(1, 0, "user1", MAT_W, RULE1, ""));
    EXPECT(st, USER1, MNS);
    confidence_state_unref(st);
  }

  /* Two rules with one name writing the same materialization for the same
   * unit: a duplicate write fails the call (3.2 add_to_write). */
  {
    PbState *s = st_new();
    PbFlag *f = flag_new(FLAG, CLIENT);
    flag_variant(f, ON, "{}");
    PbRule *r = flag_rule(f, RULE1, "segments/all", "", 1000);
    rule_assign(r, A_FALLTHROUGH, "ft", NULL, 1, 0, 1000);
    rule_mat(r, MAT_W, "", 0, 0);
    r = flag_rule(f, RULE1, "segments/all", "", 1000);
    rule_assign(r, A_VARIANT, "a", ON, 1, 0, 1000);
    rule_mat(r, MAT_W, "", 0, 0);
    st_flag(s, f);
    st_seg(s, seg_new("segments/all"));
    confidence_state *st = st_load(s);
    CHECK(resolve_static(st, USER1, NULL, 0) == ERES);
    CHECK(confidence_resolve_result_write_count(g_res) == 0);
    confidence_state_unref(st);
  }

  /* Discovery keeps evaluating later rules only to collect their reads; a
   * later plain match does not resolve the flag. */
  {
    PbState *s = st_new();
    PbFlag *f = flag_new(FLAG, CLIENT);
    flag_variant(f, ON, "{}");
    flag_variant(f, OFF, "{}");
    PbRule *r = flag_rule(f, RULE1, "segments/all", "", 1000);
    rule_assign(r, A_VARIANT, "a1", ON, 1, 0, 1000);
    rule_mat(r, "", MAT_R, 0, 0);
    r = flag_rule(f, RULE2, "segments/all", "", 1000);
    rule_assign(r, A_VARIANT, "a2", OFF, 1, 0, 1000);
    rule_mat(r, "", "mat-two", 0, 0);
    r = flag_rule(f, "flags/f/rules/r3", "segments/all", "", 1000);
    rule_assign(r, A_VARIANT, "a3", OFF, 1, 0, 1000);
    st_flag(s, f);
    st_seg(s, seg_new("segments/all"));
    confidence_state *st = st_load(s);
    EXPECT_V(st, ctx_json(USER1), CONFIDENCE_MATERIALIZATIONS_DISCOVER, ABSENT);
    CHECK(confidence_resolve_result_suspended(g_res));
    CHECK(confidence_resolve_result_read_count(g_res) == 2);
    CHECK(record_is(0, 0, "user1", MAT_R, RULE1, ""));
    CHECK(record_is(0, 1, "user1", "mat-two", RULE2, ""));
    confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
    const char *flag = FLAG;
    req.client_secret = SECRET;
    req.flags = &flag;
    req.flag_count = 1;
    req.context = g_ctx;
    req.materialization_mode = CONFIDENCE_MATERIALIZATIONS_DISCOVER;
    CHECK(confidence_resolve_resume(st, &req, NULL, 0, g_res) == 0);
    const confidence_resolved_flag *rf = confidence_resolve_result_find(g_res, FLAG);
    CHECK(rf && confidence_resolved_flag_reason(rf) == M);
    CHECK_STR(rf ? confidence_resolved_flag_rule(rf) : "", RULE1);
    confidence_state_unref(st);
  }

  /* Reads are de-duplicated on (unit, materialization, rule). */
  {
    PbSegment *s1;
    PbState *s = fixture(&s1);
    seg_crit(s1, "m", c_matseg(MATSEG));
    seg_crit(s1, "m2", c_matseg(MATSEG));
    seg_expr(s1, e_and(2, e_ref("m"), e_ref("m2")));
    confidence_state *st = st_load(s);
    EXPECT_V(st, ctx_json(KCTX), CONFIDENCE_MATERIALIZATIONS_DISCOVER, ABSENT);
    CHECK(confidence_resolve_result_read_count(g_res) == 1);
    confidence_state_unref(st);
  }
}

/* Sets the Guava bit `idx` in data whose 8-byte words are big-endian. */
static void bloom_set(uint8_t *data, uint64_t idx)
{
  uint64_t byte = idx >> 3;
  data[(byte / 8) * 8 + 7 - byte % 8] |= (uint8_t)(1u << (idx & 7));
}

static confidence_state *bloom_state(int strategy, int64_t bit_count)
{
  enum { BYTES = 64, K = 3 };
  PbSegment *s1;
  PbState *s = fixture(&s1);
  seg_crit(s1, "m", c_matseg(MATSEG));
  seg_expr(s1, e_ref("m"));
  uint8_t *data = tb_alloc(BYTES);
  uint64_t h1, h2;
  cf_murmur3_128("user1", 5, &h1, &h2);
  uint64_t c = h1;
  for (int i = 0; i < K; i++) {
    bloom_set(data, (c & 0x7fffffffffffffffULL) % (BYTES * 8));
    c += h2;
  }
  PbBloom *b = msg(&confidence__flags__admin__v1__resolver_state__bloom_filter__descriptor);
  b->materialized_segment = tb_str(MATSEG);
  b->data.data = data;
  b->data.len = BYTES;
  b->hash_function_count = K;
  b->bit_count = bit_count;
  b->strategy = strategy;
  PUSH(s->bloom_filters, s->n_bloom_filters, b);
  return st_load(s);
}

static void test_bloom(void)
{
  /* A filter built here from the spec's Guava procedure holds user1; with a
   * filter no store is needed. */
  confidence_state *st = bloom_state(1, 512);
  EXPECT(st, USER1, M);
  EXPECT_V(st, ctx_json(USER1), CONFIDENCE_MATERIALIZATIONS_DISCOVER, M);
  CHECK(!confidence_resolve_result_suspended(g_res));
  confidence_state_unref(st);
  /* An unknown strategy drops the filter: the store is asked instead. */
  st = bloom_state(2, 512);
  EXPECT(st, USER1, MNS);
  EXPECT_V(st, ctx_json(USER1), CONFIDENCE_MATERIALIZATIONS_DISCOVER, ABSENT);
  CHECK(confidence_resolve_result_suspended(g_res));
  confidence_state_unref(st);
  /* num_bits == 0: treated as "not contained". */
  st = bloom_state(1, 0);
  EXPECT(st, USER1, N);
  confidence_state_unref(st);
}

/* ---- request validation ---------------------------------------------------------------------- */

static void test_request_checks(void)
{
  PbSegment *s1;
  PbState *s = fixture(&s1);
  confidence_state *st = st_load(s);
  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = SECRET;
  CHECK(confidence_resolve(st, &req, g_res) == 0);
  CHECK(confidence_resolve_result_flag_count(g_res) == 1); /* NULL context = {} */
  CHECK(confidence_resolve(NULL, &req, g_res) == CONFIDENCE_EINVAL);
  CHECK(confidence_resolve(st, NULL, g_res) == CONFIDENCE_EINVAL);
  CHECK(confidence_resolve(st, &req, NULL) == CONFIDENCE_EINVAL);
  req.version = 99;
  CHECK(confidence_resolve(st, &req, g_res) == CONFIDENCE_EINVAL);
  req.version = CONFIDENCE_RESOLVE_REQUEST_VERSION;
  confidence_value *list = confidence_value_new_list();
  req.context = list;
  CHECK(confidence_resolve(st, &req, g_res) == CONFIDENCE_EINVAL);
  confidence_value_free(list);
  req.context = NULL;
  req.materialization_mode = 42;
  CHECK(confidence_resolve(st, &req, g_res) == CONFIDENCE_EINVAL);
  req.materialization_mode = 0;
  req.flag_count = 2;
  req.flags = NULL;
  CHECK(confidence_resolve(st, &req, g_res) == CONFIDENCE_EINVAL);
  CHECK(confidence_resolve_result_flag_at(g_res, 0) == NULL);
  CHECK_STR(confidence_resolve_reason_name(M), "RESOLVE_REASON_MATCH");
  CHECK_STR(confidence_resolve_reason_name(MNS), "RESOLVE_REASON_MATERIALIZATION_NOT_SUPPORTED");
  CHECK(confidence_resolve_reason_name(-1) != NULL && confidence_resolve_reason_name(99) != NULL);
  confidence_state_unref(st);
}

int main(void)
{
  g_res = confidence_resolve_result_new();
  if (!g_res)
    return 1;
  test_eq();
  test_set();
  test_range();
  test_timestamps();
  test_versions();
  test_paths();
  test_string_ops();
  test_any_all();
  test_expressions();
  test_kleene();
  test_targeting_keys();
  test_nested_segments();
  test_bitsets();
  test_bucketing();
  test_rule_loop();
  test_schema();
  test_flag_selection();
  test_too_many();
  test_materializations();
  test_duplicates();
  test_writes_and_discovery();
  test_bloom();
  test_request_checks();
  confidence_resolve_result_free(g_res);
  confidence_value_free(g_ctx);
  tb_free_all();
  free(g_allocs);
  return check_finish();
}
