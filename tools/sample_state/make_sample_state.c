/* Writes the demo's sample flag state (a ClientResolverState envelope) for
 * a fictional shop: a targeted rollout, a three-way bucketed experiment and
 * a version-gated flag with a client-default fallback. The state is
 * authored here, in code, so the demo needs no downloaded data.
 * Usage: make_sample_state OUT.pb [--v2 | --cloudflare]
 * --v2 writes the "next version" tests switch to: the new checkout is on
 * for everyone. --cloudflare names Cloudflare ingest as the primary log
 * destination, the gRPC edge as fallback. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/confidence/flags/admin/v1/resolver.pb-c.h"

typedef Confidence__Flags__Admin__V1__Flag Flag;
typedef Confidence__Flags__Admin__V1__Flag__Rule Rule;
typedef Confidence__Flags__Admin__V1__Flag__Rule__Assignment Assignment;
typedef Confidence__Flags__Admin__V1__Flag__Rule__BucketRange BucketRange;
typedef Confidence__Flags__Admin__V1__Flag__Variant Variant;
typedef Confidence__Flags__Admin__V1__Segment Segment;
typedef Confidence__Flags__Types__V1__Targeting Targeting;
typedef Confidence__Flags__Types__V1__Targeting__Criterion Criterion;
typedef Confidence__Flags__Types__V1__Targeting__Criterion__AttributeCriterion Attribute;
typedef Confidence__Flags__Types__V1__Targeting__Value TValue;
typedef Confidence__Flags__Types__V1__Expression Expr;
typedef Google__Protobuf__Struct Struct;
typedef Google__Protobuf__Value Value;

/* Everything is allocated once and lives until exit: a tool, not a library. */
static void *alloc(size_t n)
{
  void *p = calloc(1, n);
  if (!p) {
    fprintf(stderr, "make_sample_state: out of memory\n");
    exit(1);
  }
  return p;
}

static void *dup_mem(const void *src, size_t n)
{
  void *p = alloc(n);
  memcpy(p, src, n);
  return p;
}
/* A heap copy of a message initialised with its generated INIT macro. */
#define NEW(T, init) ((T *)dup_mem(&(T)init, sizeof(T)))

static void **list(size_t n, void **items)
{
  void **out = alloc(n * sizeof *out);
  memcpy(out, items, n * sizeof *out);
  return out;
}
#define LIST(T, ...) ((T **)list(sizeof((void *[]){__VA_ARGS__}) / sizeof(void *), (void *[]){__VA_ARGS__}))
#define COUNT(...) (sizeof((void *[]){__VA_ARGS__}) / sizeof(void *))

/* ---- values ----------------------------------------------------------------- */

static Value *str_value(const char *s)
{
  Value *v = NEW(Value, GOOGLE__PROTOBUF__VALUE__INIT);
  v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
  v->string_value = (char *)s;
  return v;
}

static Value *num_value(double n)
{
  Value *v = NEW(Value, GOOGLE__PROTOBUF__VALUE__INIT);
  v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
  v->number_value = n;
  return v;
}

static Value *bool_value(int b)
{
  Value *v = NEW(Value, GOOGLE__PROTOBUF__VALUE__INIT);
  v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
  v->bool_value = b;
  return v;
}

static Google__Protobuf__Struct__FieldsEntry *field(const char *key, Value *v)
{
  Google__Protobuf__Struct__FieldsEntry *e =
      NEW(Google__Protobuf__Struct__FieldsEntry, GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT);
  e->key = (char *)key;
  e->value = v;
  return e;
}

#define STRUCT(...) make_struct(COUNT(__VA_ARGS__), LIST(Google__Protobuf__Struct__FieldsEntry, __VA_ARGS__))
static Struct *make_struct(size_t n, Google__Protobuf__Struct__FieldsEntry **fields)
{
  Struct *s = NEW(Struct, GOOGLE__PROTOBUF__STRUCT__INIT);
  s->n_fields = n;
  s->fields = fields;
  return s;
}

static Variant *variant(const char *name, Struct *value)
{
  Variant *v = NEW(Variant, CONFIDENCE__FLAGS__ADMIN__V1__FLAG__VARIANT__INIT);
  v->name = (char *)name;
  v->value = value;
  return v;
}

/* ---- schemas ---------------------------------------------------------------- */

typedef Confidence__Flags__Types__V1__FlagSchema Schema;
typedef Confidence__Flags__Types__V1__FlagSchema__StructFlagSchema StructSchema;
typedef Confidence__Flags__Types__V1__FlagSchema__StructFlagSchema__SchemaEntry SchemaEntry;

static Schema *leaf_schema(int kind)
{
  static Confidence__Flags__Types__V1__FlagSchema__StringFlagSchema str = CONFIDENCE__FLAGS__TYPES__V1__FLAG_SCHEMA__STRING_FLAG_SCHEMA__INIT;
  static Confidence__Flags__Types__V1__FlagSchema__IntFlagSchema integer = CONFIDENCE__FLAGS__TYPES__V1__FLAG_SCHEMA__INT_FLAG_SCHEMA__INIT;
  static Confidence__Flags__Types__V1__FlagSchema__BoolFlagSchema boolean = CONFIDENCE__FLAGS__TYPES__V1__FLAG_SCHEMA__BOOL_FLAG_SCHEMA__INIT;
  Schema *s = NEW(Schema, CONFIDENCE__FLAGS__TYPES__V1__FLAG_SCHEMA__INIT);
  s->schema_type_case = kind;
  if (kind == CONFIDENCE__FLAGS__TYPES__V1__FLAG_SCHEMA__SCHEMA_TYPE_STRING_SCHEMA)
    s->string_schema = &str;
  else if (kind == CONFIDENCE__FLAGS__TYPES__V1__FLAG_SCHEMA__SCHEMA_TYPE_INT_SCHEMA)
    s->int_schema = &integer;
  else
    s->bool_schema = &boolean;
  return s;
}
#define STRING_SCHEMA leaf_schema(CONFIDENCE__FLAGS__TYPES__V1__FLAG_SCHEMA__SCHEMA_TYPE_STRING_SCHEMA)
#define INT_SCHEMA leaf_schema(CONFIDENCE__FLAGS__TYPES__V1__FLAG_SCHEMA__SCHEMA_TYPE_INT_SCHEMA)
#define BOOL_SCHEMA leaf_schema(CONFIDENCE__FLAGS__TYPES__V1__FLAG_SCHEMA__SCHEMA_TYPE_BOOL_SCHEMA)

static SchemaEntry *schema_field(const char *key, Schema *s)
{
  SchemaEntry *e = NEW(SchemaEntry, CONFIDENCE__FLAGS__TYPES__V1__FLAG_SCHEMA__STRUCT_FLAG_SCHEMA__SCHEMA_ENTRY__INIT);
  e->key = (char *)key;
  e->value = s;
  return e;
}

#define SCHEMA(...) make_schema(COUNT(__VA_ARGS__), LIST(SchemaEntry, __VA_ARGS__))
static StructSchema *make_schema(size_t n, SchemaEntry **entries)
{
  StructSchema *s = NEW(StructSchema, CONFIDENCE__FLAGS__TYPES__V1__FLAG_SCHEMA__STRUCT_FLAG_SCHEMA__INIT);
  s->n_schema = n;
  s->schema = entries;
  return s;
}

/* ---- targeting -------------------------------------------------------------- */

static TValue *tstring(const char *s)
{
  TValue *v = NEW(TValue, CONFIDENCE__FLAGS__TYPES__V1__TARGETING__VALUE__INIT);
  v->value_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__VALUE__VALUE_STRING_VALUE;
  v->string_value = (char *)s;
  return v;
}

static TValue *tversion(const char *s)
{
  Confidence__Flags__Types__V1__Targeting__SemanticVersion *sv =
      NEW(Confidence__Flags__Types__V1__Targeting__SemanticVersion,
          CONFIDENCE__FLAGS__TYPES__V1__TARGETING__SEMANTIC_VERSION__INIT);
  sv->version = (char *)s;
  TValue *v = NEW(TValue, CONFIDENCE__FLAGS__TYPES__V1__TARGETING__VALUE__INIT);
  v->value_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__VALUE__VALUE_VERSION_VALUE;
  v->version_value = sv;
  return v;
}

static Criterion *attr_criterion(const char *attribute)
{
  Attribute *a = NEW(Attribute, CONFIDENCE__FLAGS__TYPES__V1__TARGETING__CRITERION__ATTRIBUTE_CRITERION__INIT);
  a->attribute_name = (char *)attribute;
  Criterion *c = NEW(Criterion, CONFIDENCE__FLAGS__TYPES__V1__TARGETING__CRITERION__INIT);
  c->criterion_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__CRITERION__CRITERION_ATTRIBUTE;
  c->attribute = a;
  return c;
}

static Criterion *eq_criterion(const char *attribute, TValue *v)
{
  Criterion *c = attr_criterion(attribute);
  Confidence__Flags__Types__V1__Targeting__EqRule *eq =
      NEW(Confidence__Flags__Types__V1__Targeting__EqRule, CONFIDENCE__FLAGS__TYPES__V1__TARGETING__EQ_RULE__INIT);
  eq->value = v;
  c->attribute->rule_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__CRITERION__ATTRIBUTE_CRITERION__RULE_EQ_RULE;
  c->attribute->eq_rule = eq;
  return c;
}

static Criterion *set_criterion(const char *attribute, size_t n, TValue **values)
{
  Criterion *c = attr_criterion(attribute);
  Confidence__Flags__Types__V1__Targeting__SetRule *set =
      NEW(Confidence__Flags__Types__V1__Targeting__SetRule, CONFIDENCE__FLAGS__TYPES__V1__TARGETING__SET_RULE__INIT);
  set->n_values = n;
  set->values = values;
  c->attribute->rule_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__CRITERION__ATTRIBUTE_CRITERION__RULE_SET_RULE;
  c->attribute->set_rule = set;
  return c;
}

static Criterion *at_least_criterion(const char *attribute, TValue *start)
{
  Criterion *c = attr_criterion(attribute);
  Confidence__Flags__Types__V1__Targeting__RangeRule *r = NEW(Confidence__Flags__Types__V1__Targeting__RangeRule,
                                                              CONFIDENCE__FLAGS__TYPES__V1__TARGETING__RANGE_RULE__INIT);
  r->start_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__RANGE_RULE__START_START_INCLUSIVE;
  r->start_inclusive = start;
  c->attribute->rule_case = CONFIDENCE__FLAGS__TYPES__V1__TARGETING__CRITERION__ATTRIBUTE_CRITERION__RULE_RANGE_RULE;
  c->attribute->range_rule = r;
  return c;
}

static Expr *ref(const char *name)
{
  Expr *e = NEW(Expr, CONFIDENCE__FLAGS__TYPES__V1__EXPRESSION__INIT);
  e->expression_case = CONFIDENCE__FLAGS__TYPES__V1__EXPRESSION__EXPRESSION_REF;
  e->ref = (char *)name;
  return e;
}

static Expr *either(Expr *a, Expr *b)
{
  Confidence__Flags__Types__V1__Expression__Operands *ops = NEW(
      Confidence__Flags__Types__V1__Expression__Operands, CONFIDENCE__FLAGS__TYPES__V1__EXPRESSION__OPERANDS__INIT);
  ops->n_operands = 2;
  ops->operands = LIST(Expr, a, b);
  Expr *e = NEW(Expr, CONFIDENCE__FLAGS__TYPES__V1__EXPRESSION__INIT);
  e->expression_case = CONFIDENCE__FLAGS__TYPES__V1__EXPRESSION__EXPRESSION_OR;
  e->or_ = ops;
  return e;
}

static Confidence__Flags__Types__V1__Targeting__CriteriaEntry *criterion(const char *key, Criterion *c)
{
  Confidence__Flags__Types__V1__Targeting__CriteriaEntry *e = NEW(
      Confidence__Flags__Types__V1__Targeting__CriteriaEntry, CONFIDENCE__FLAGS__TYPES__V1__TARGETING__CRITERIA_ENTRY__INIT);
  e->key = (char *)key;
  e->value = c;
  return e;
}

static Segment *segment(const char *name, Expr *expr, size_t n_criteria,
                        Confidence__Flags__Types__V1__Targeting__CriteriaEntry **criteria)
{
  Segment *s = NEW(Segment, CONFIDENCE__FLAGS__ADMIN__V1__SEGMENT__INIT);
  s->name = (char *)name;
  if (expr) {
    Targeting *t = NEW(Targeting, CONFIDENCE__FLAGS__TYPES__V1__TARGETING__INIT);
    t->expression = expr;
    t->n_criteria = n_criteria;
    t->criteria = criteria;
    s->targeting = t;
  }
  return s;
}

/* ---- rules ------------------------------------------------------------------ */

static Assignment *assign(const char *id, const char *variant_name, int lower, int upper)
{
  Assignment *a = NEW(Assignment, CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__ASSIGNMENT__INIT);
  a->assignment_id = (char *)id;
  if (variant_name) {
    Confidence__Flags__Admin__V1__Flag__Rule__Assignment__VariantAssignment *va =
        NEW(Confidence__Flags__Admin__V1__Flag__Rule__Assignment__VariantAssignment,
            CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__ASSIGNMENT__VARIANT_ASSIGNMENT__INIT);
    va->variant = (char *)variant_name;
    a->assignment_case = CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__ASSIGNMENT__ASSIGNMENT_VARIANT;
    a->variant = va;
  } else {
    static Confidence__Flags__Admin__V1__Flag__Rule__Assignment__ClientDefaultAssignment def =
        CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__ASSIGNMENT__CLIENT_DEFAULT_ASSIGNMENT__INIT;
    a->assignment_case = CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__ASSIGNMENT__ASSIGNMENT_CLIENT_DEFAULT;
    a->client_default = &def;
  }
  BucketRange *r = NEW(BucketRange, CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__BUCKET_RANGE__INIT);
  r->lower = lower;
  r->upper = upper;
  a->n_bucket_ranges = 1;
  a->bucket_ranges = LIST(BucketRange, r);
  return a;
}

static Rule *rule(const char *name, const char *seg, int bucket_count, size_t n, Assignment **assignments)
{
  Confidence__Flags__Admin__V1__Flag__Rule__AssignmentSpec *spec =
      NEW(Confidence__Flags__Admin__V1__Flag__Rule__AssignmentSpec,
          CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__ASSIGNMENT_SPEC__INIT);
  spec->bucket_count = bucket_count;
  spec->n_assignments = n;
  spec->assignments = assignments;
  Rule *r = NEW(Rule, CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__INIT);
  r->name = (char *)name;
  r->segment = (char *)seg;
  r->enabled = 1;
  r->assignment_spec = spec;
  return r;
}

static Flag *flag(const char *name, StructSchema *schema, size_t n_variants, Variant **variants, size_t n_rules,
                  Rule **rules)
{
  Flag *f = NEW(Flag, CONFIDENCE__FLAGS__ADMIN__V1__FLAG__INIT);
  f->name = (char *)name;
  f->schema = schema;
  f->state = CONFIDENCE__FLAGS__ADMIN__V1__FLAG__STATE__ACTIVE;
  f->n_variants = n_variants;
  f->variants = variants;
  f->n_rules = n_rules;
  f->rules = rules;
  f->n_clients = 1;
  f->clients = (char **)LIST(char, "clients/demo-shop");
  return f;
}

int main(int argc, char **argv)
{
  bool v2 = argc == 3 && strcmp(argv[2], "--v2") == 0;
  bool cloudflare = argc == 3 && strcmp(argv[2], "--cloudflare") == 0;
  if (argc < 2 || argc > 3 || (argc == 3 && !v2 && !cloudflare)) {
    fprintf(stderr, "usage: make_sample_state OUT.pb [--v2 | --cloudflare]\n");
    return 2;
  }
  const char *rest_variant = v2 ? "flags/new-checkout/variants/on" : "flags/new-checkout/variants/off";
  /* Segments: everyone, and beta testers (premium plan or a Nordic country). */
  Segment *everyone = segment("segments/everyone", NULL, 0, NULL);
  Segment *beta = segment(
      "segments/beta-testers", either(ref("premium"), ref("nordic")), 2,
      LIST(Confidence__Flags__Types__V1__Targeting__CriteriaEntry,
           criterion("premium", eq_criterion("user.plan", tstring("premium"))),
           criterion("nordic", set_criterion("country", 3, LIST(TValue, tstring("SE"), tstring("NO"), tstring("DK"))))));
  Segment *modern = segment("segments/app-2-or-later", ref("v2"), 1,
                            LIST(Confidence__Flags__Types__V1__Targeting__CriteriaEntry,
                                 criterion("v2", at_least_criterion("app.version", tversion("2.0.0")))));

  Flag *checkout = flag(
      "flags/new-checkout", SCHEMA(schema_field("enabled", BOOL_SCHEMA)), 2,
      LIST(Variant, variant("flags/new-checkout/variants/on", STRUCT(field("enabled", bool_value(1)))),
           variant("flags/new-checkout/variants/off", STRUCT(field("enabled", bool_value(0))))),
      2,
      LIST(Rule, rule("flags/new-checkout/rules/beta", "segments/beta-testers", 1, 1,
                      LIST(Assignment, assign("beta-on", "flags/new-checkout/variants/on", 0, 1))),
           rule("flags/new-checkout/rules/rest", "segments/everyone", 1, 1,
                LIST(Assignment, assign("rest", rest_variant, 0, 1)))));

  /* A three-way experiment; "control" leaves `size` out, the schema fills it. */
  Flag *button = flag(
      "flags/button-style", SCHEMA(schema_field("color", STRING_SCHEMA), schema_field("size", INT_SCHEMA)), 3,
      LIST(Variant, variant("flags/button-style/variants/control", STRUCT(field("color", str_value("grey")))),
           variant("flags/button-style/variants/blue",
                   STRUCT(field("color", str_value("blue")), field("size", num_value(14)))),
           variant("flags/button-style/variants/green",
                   STRUCT(field("color", str_value("green")), field("size", num_value(16))))),
      1,
      LIST(Rule, rule("flags/button-style/rules/experiment", "segments/everyone", 100, 3,
                      LIST(Assignment, assign("control", "flags/button-style/variants/control", 0, 34),
                           assign("blue", "flags/button-style/variants/blue", 34, 67),
                           assign("green", "flags/button-style/variants/green", 67, 100)))));

  /* Version-gated; older apps fall through to the client's own default. */
  Flag *search = flag(
      "flags/search-ranking", SCHEMA(schema_field("algorithm", STRING_SCHEMA)), 1,
      LIST(Variant, variant("flags/search-ranking/variants/semantic", STRUCT(field("algorithm", str_value("semantic"))))),
      2,
      LIST(Rule, rule("flags/search-ranking/rules/modern", "segments/app-2-or-later", 1, 1,
                      LIST(Assignment, assign("semantic", "flags/search-ranking/variants/semantic", 0, 1))),
           rule("flags/search-ranking/rules/legacy", "segments/everyone", 1, 1,
                LIST(Assignment, assign("legacy-default", NULL, 0, 1)))));

  Confidence__Iam__V1__Client *client = NEW(Confidence__Iam__V1__Client, CONFIDENCE__IAM__V1__CLIENT__INIT);
  client->name = "clients/demo-shop";
  Confidence__Iam__V1__ClientCredential__ClientSecret *secret =
      NEW(Confidence__Iam__V1__ClientCredential__ClientSecret, CONFIDENCE__IAM__V1__CLIENT_CREDENTIAL__CLIENT_SECRET__INIT);
  secret->secret = "demo-client-secret";
  Confidence__Iam__V1__ClientCredential *cred =
      NEW(Confidence__Iam__V1__ClientCredential, CONFIDENCE__IAM__V1__CLIENT_CREDENTIAL__INIT);
  cred->name = "clients/demo-shop/clientCredentials/demo";
  cred->credential_case = CONFIDENCE__IAM__V1__CLIENT_CREDENTIAL__CREDENTIAL_CLIENT_SECRET;
  cred->client_secret = secret;

  Confidence__Flags__Admin__V1__ResolverState state = CONFIDENCE__FLAGS__ADMIN__V1__RESOLVER_STATE__INIT;
  state.n_flags = 3;
  state.flags = LIST(Flag, checkout, button, search);
  state.n_segments_no_bitsets = 3;
  state.segments_no_bitsets = LIST(Segment, everyone, beta, modern);
  state.n_clients = 1;
  state.clients = LIST(Confidence__Iam__V1__Client, client);
  state.n_client_credentials = 1;
  state.client_credentials = LIST(Confidence__Iam__V1__ClientCredential, cred);

  size_t len = confidence__flags__admin__v1__resolver_state__get_packed_size(&state);
  uint8_t *packed = alloc(len);
  confidence__flags__admin__v1__resolver_state__pack(&state, packed);
  Confidence__Flags__Admin__V1__ClientResolverState env = CONFIDENCE__FLAGS__ADMIN__V1__CLIENT_RESOLVER_STATE__INIT;
  env.state.data = packed;
  env.state.len = len;
  env.account = "demo-shop-account";
  Confidence__Flags__Admin__V1__LogDestination destinations[2] = {
      CONFIDENCE__FLAGS__ADMIN__V1__LOG_DESTINATION__LOG_DESTINATION_CLOUDFLARE,
      CONFIDENCE__FLAGS__ADMIN__V1__LOG_DESTINATION__LOG_DESTINATION_SPOTIFY_EDGE};
  if (cloudflare) {
    env.n_log_destinations = 2;
    env.log_destinations = destinations;
  }
  size_t env_len = confidence__flags__admin__v1__client_resolver_state__get_packed_size(&env);
  uint8_t *out = alloc(env_len);
  confidence__flags__admin__v1__client_resolver_state__pack(&env, out);
  FILE *f = fopen(argv[1], "wb");
  if (!f || fwrite(out, 1, env_len, f) != env_len || fclose(f) != 0) {
    fprintf(stderr, "make_sample_state: cannot write %s\n", argv[1]);
    return 1;
  }
  return 0;
}
