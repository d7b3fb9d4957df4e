/* Compiles a decoded ResolverState into the immutable snapshot the resolver
 * walks (state_internal.h): the entry point, change-detection hashes, flags
 * with their rules and variant values; the rest as compile_internal.h lists. */
#include <stdlib.h>
#include <string.h>

#include "compile_internal.h"
#include "murmur3.h"
#include "state_compile.h"
#include "wire.h"

typedef Confidence__Flags__Admin__V1__Flag__Rule PbRule;
typedef Confidence__Flags__Admin__V1__Flag__Rule__Assignment PbAssignment;
typedef Confidence__Flags__Types__V1__FlagSchema__StructFlagSchema PbStructSchema;

/* Oneof cases carry the field numbers of their members. */
enum { ASSIGN_VARIANT = 2, ASSIGN_FALLTHROUGH, ASSIGN_CLIENT_DEFAULT };
enum { PV_NULL = 1, PV_NUMBER, PV_STRING, PV_BOOL, PV_STRUCT, PV_LIST };
enum { SCHEMA_STRUCT = 1 };

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

/* ---- shared helpers ----------------------------------------------------- */

cf_str cf_compile_intern(cf_compiler *c, const char *s)
{
  size_t len = s ? strlen(s) : 0;
  if (len > UINT32_MAX) {
    c->err = cf_error(CONFIDENCE_ELIMIT, "string too long in state");
    return (cf_str){"", 0};
  }
  char *p = cf_arena_strndup(c->a, s ? s : "", len);
  if (!p) {
    cf_compile_oom(c);
    return (cf_str){"", 0};
  }
  return (cf_str){p, (uint32_t)len};
}

const cf_str *cf_compile_split_path(cf_compiler *c, const char *s, char sep, uint32_t *n_out)
{
  uint32_t n = 1;
  for (const char *p = s; *p; p++)
    n += *p == sep;
  cf_str *out = cf_arena_calloc(c->a, n, sizeof *out);
  if (!out)
    return cf_compile_oom(c);
  uint32_t i = 0;
  const char *start = s;
  for (const char *p = s;; p++) {
    if (*p == sep || *p == '\0') {
      char *piece = cf_arena_strndup(c->a, start, (size_t)(p - start));
      if (!piece)
        return cf_compile_oom(c);
      out[i++] = (cf_str){piece, (uint32_t)(p - start)};
      if (*p == '\0')
        break;
      start = p + 1;
    }
  }
  *n_out = n;
  return out;
}

/* ---- values and schemas ------------------------------------------------- */

static int cmp_fields(const void *x, const void *y)
{
  const cf_field *a = x, *b = y;
  size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  int r = memcmp(a->key, b->key, n);
  return r ? r : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static confidence_value *compile_struct(cf_compiler *c, const Google__Protobuf__Struct *pb,
                                        const PbStructSchema *schema);

confidence_value *cf_compile_value(cf_compiler *c, const Google__Protobuf__Value *pb, const PbSchema *schema)
{
  confidence_value *v;
  switch (pb ? (int)pb->kind_case : 0) {
  case PV_NUMBER:
    if ((v = cf_value_arena_new(c->a, CONFIDENCE_VALUE_NUMBER)))
      v->u.n = pb->number_value;
    break;
  case PV_STRING:
    if ((v = cf_value_arena_new(c->a, CONFIDENCE_VALUE_STRING))) {
      cf_str s = cf_compile_intern(c, pb->string_value);
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
        return cf_compile_oom(c);
      for (size_t i = 0; i < n; i++)
        if (!(v->u.list.items[i] = cf_compile_value(c, pb->list_value->values[i], NULL)))
          return NULL;
      v->u.list.n = v->u.list.cap = n;
    }
    break;
  }
  default: /* null, or no kind (treated as null) */
    v = cf_value_arena_new(c->a, CONFIDENCE_VALUE_NULL);
    break;
  }
  return v ? v : cf_compile_oom(c);
}

/* A struct value with schema fields missing from it filled with null,
 * recursing only where both sides are structs (spec 3.11). Fields sorted. */
static confidence_value *compile_struct(cf_compiler *c, const Google__Protobuf__Struct *pb,
                                        const PbStructSchema *schema)
{
  size_t n_in = pb ? pb->n_fields : 0, n_schema = schema ? schema->n_schema : 0;
  confidence_value *v = cf_value_arena_new(c->a, CONFIDENCE_VALUE_STRUCT);
  cf_field *fields = cf_arena_calloc(c->a, n_in + n_schema + 1, sizeof *fields);
  if (!v || !fields)
    return cf_compile_oom(c);
  size_t n = 0;
  for (size_t i = 0; i < n_in; i++) {
    const char *key = pb->fields[i]->key ? pb->fields[i]->key : "";
    size_t klen = strlen(key);
    const PbSchema *sub = NULL;
    for (size_t j = 0; j < n_schema; j++)
      if (strcmp(schema->schema[j]->key ? schema->schema[j]->key : "", key) == 0)
        sub = schema->schema[j]->value; /* later map entries win */
    confidence_value *fv = cf_compile_value(c, pb->fields[i]->value, sub);
    if (!fv)
      return NULL;
    size_t k = 0;
    while (k < n && !(fields[k].key_len == klen && memcmp(fields[k].key, key, klen) == 0))
      k++;
    if (k == n) {
      cf_str ks = cf_compile_intern(c, key);
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
    cf_str ks = cf_compile_intern(c, key);
    if (!null_v || c->err)
      return cf_compile_oom(c);
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

static bool compile_assignments(cf_compiler *c, const cf_flag *f, const PbRule *pb, cf_rule *r)
{
  const Confidence__Flags__Admin__V1__Flag__Rule__AssignmentSpec *spec = pb->assignment_spec;
  r->has_spec = true;
  r->bucket_count = spec->bucket_count;
  size_t n = spec->n_assignments;
  cf_assignment *as = cf_arena_calloc(c->a, n ? n : 1, sizeof *as);
  if (!as)
    return cf_compile_fail_oom(c);
  for (size_t i = 0; i < n; i++) {
    const PbAssignment *pa = spec->assignments[i];
    cf_assignment *a = &as[i];
    a->id = cf_compile_intern(c, pa->assignment_id);
    switch ((int)pa->assignment_case) {
    case ASSIGN_VARIANT:
      a->kind = CF_ASSIGN_VARIANT;
      a->variant_name = cf_compile_intern(c, pa->variant->variant);
      a->variant = find_variant(f, a->variant_name.s);
      break;
    case ASSIGN_FALLTHROUGH: a->kind = CF_ASSIGN_FALLTHROUGH; break;
    case ASSIGN_CLIENT_DEFAULT: a->kind = CF_ASSIGN_CLIENT_DEFAULT; break;
    default: a->kind = CF_ASSIGN_UNSET; break;
    }
    cf_range *ranges = cf_arena_calloc(c->a, pa->n_bucket_ranges ? pa->n_bucket_ranges : 1, sizeof *ranges);
    if (!ranges)
      return cf_compile_fail_oom(c);
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

static bool compile_rule(cf_compiler *c, const cf_flag *f, const PbRule *pb, cf_rule *r)
{
  r->name = cf_compile_intern(c, pb->name);
  r->enabled = pb->enabled;
  cf_str *envs = cf_arena_calloc(c->a, pb->n_environments ? pb->n_environments : 1, sizeof *envs);
  if (!envs)
    return cf_compile_fail_oom(c);
  for (size_t i = 0; i < pb->n_environments; i++)
    envs[i] = cf_compile_intern(c, pb->environments[i]);
  r->envs = envs;
  r->n_envs = (uint32_t)pb->n_environments;
  r->segment_name = cf_compile_intern(c, pb->segment);
  r->segment = cf_strmap_get(&c->segments, r->segment_name.s, r->segment_name.len);
  r->selector = cf_compile_intern(c, pb->targeting_key_selector);
  r->key_path = cf_compile_split_path(c, r->selector.len ? r->selector.s : "targeting_key", '.', &r->n_key_path);
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
      return cf_compile_fail_oom(c);
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
    r->write_mat = cf_compile_intern(c, ms->write_materialization);
    r->read_mat = cf_compile_intern(c, ms->read_materialization);
    r->must_match = ms->mode && ms->mode->materialization_must_match;
    r->can_ignore = ms->mode && ms->mode->segment_targeting_can_be_ignored;
  }
  return c->err == 0;
}

static bool compile_flag(cf_compiler *c, const PbFlag *pb, uint64_t fingerprint, cf_flag *f)
{
  f->state = (int)pb->state;
  cf_variant *vars = cf_arena_calloc(c->a, pb->n_variants ? pb->n_variants : 1, sizeof *vars);
  if (!vars)
    return cf_compile_fail_oom(c);
  for (size_t i = 0; i < pb->n_variants; i++) {
    vars[i].name = cf_compile_intern(c, pb->variants[i]->name);
    vars[i].value = compile_struct(c, pb->variants[i]->value, pb->schema);
    if (!vars[i].value)
      return false;
  }
  f->variants = vars;
  f->n_variants = (uint32_t)pb->n_variants;
  cf_rule *rules = cf_arena_calloc(c->a, pb->n_rules ? pb->n_rules : 1, sizeof *rules);
  if (!rules)
    return cf_compile_fail_oom(c);
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

/* ---- entry point -------------------------------------------------------- */

int cf_state_compile(const void *pbstate, const uint8_t *wire, size_t wire_len, const char *account_id,
                     size_t budget, size_t reserved, confidence_state *st)
{
  const PbState *pb = pbstate;
  cf_compiler c = {.st = st, .a = &st->arena, .budget = budget, .reserved = reserved};
  wire_hashes wh = {cf_arena_calloc(c.a, pb->n_flags + 1, sizeof(uint64_t)),
                    cf_arena_calloc(c.a, pb->n_segments_no_bitsets + 1, sizeof(uint64_t)), 0, 0};
  if (!wh.flags || !wh.segments)
    return cf_error(CONFIDENCE_ENOMEM, "out of memory compiling state");
  hash_wire(wire, wire_len, &wh);

  st->account_id = cf_compile_intern(&c, account_id);
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

  if (!cf_compile_bitsets(&c, pb) || !cf_compile_blooms(&c, pb))
    return c.err;
  if (!cf_compile_segments(&c, pb, wh.segments, wh.n_segments))
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
    flags[n_flags].name = cf_compile_intern(&c, name);
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
    cf_compile_clients(&c, pb, flags, flag_pb, n_flags);
  free(flag_pb);
  return c.err;
}
