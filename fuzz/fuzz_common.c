/* Helpers shared by the fuzz targets (see fuzz_common.h). */
#define _POSIX_C_SOURCE 200809L
#include "fuzz_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "proto/confidence/flags/admin/v1/resolver.pb-c.h"
#include "wire.h"

#ifndef FUZZ_CONFORMANCE_DIR
#define FUZZ_CONFORMANCE_DIR "../shared/conformance"
#endif

/* Caps keep one input's work bounded when a fuzzed state is large. */
#define DICT_MAX 256

void fz_fail(const char *file, int line, const char *what)
{
  fprintf(stderr, "\n*** fuzz invariant failed at %s:%d: %s\n", file, line, what);
  fprintf(stderr, "*** last library message: %s\n", confidence_last_error_message());
  fflush(stderr);
  abort();
}

/* ---- input consumption ---------------------------------------------------- */

uint8_t fz_u8(fz_in *in) { return in->i < in->n ? in->p[in->i++] : 0; }

uint16_t fz_u16(fz_in *in)
{
  uint16_t v = fz_u8(in);
  return (uint16_t)(v | fz_u8(in) << 8);
}

uint32_t fz_u32(fz_in *in)
{
  uint32_t v = fz_u16(in);
  return v | (uint32_t)fz_u16(in) << 16;
}

double fz_f64(fz_in *in)
{
  uint64_t bits = fz_u32(in);
  bits |= (uint64_t)fz_u32(in) << 32;
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

const uint8_t *fz_bytes(fz_in *in, size_t want, size_t *got)
{
  size_t left = in->n - in->i;
  *got = want < left ? want : left;
  const uint8_t *p = in->p + in->i;
  in->i += *got;
  return p;
}

bool fz_done(const fz_in *in) { return in->i >= in->n; }

/* ---- files ------------------------------------------------------------------ */

uint8_t *fz_read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap)
      break;
    uint8_t *nb = realloc(buf, cap * 2);
    if (!nb) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = nb;
    cap *= 2;
  }
  fclose(f);
  *len = n;
  return buf;
}

const char *fz_conformance_path(const char *rel, char *buf, size_t bufsz)
{
  const char *dir = getenv("CONFIDENCE_CONFORMANCE_DIR");
  if (!dir || !*dir)
    dir = FUZZ_CONFORMANCE_DIR;
  snprintf(buf, bufsz, "%s/%s", dir, rel);
  return buf;
}

const char *fz_read_line(const char *path, char *buf, size_t bufsz)
{
  buf[0] = '\0';
  FILE *f = fopen(path, "rb");
  if (!f)
    return buf;
  if (!fgets(buf, (int)bufsz, f))
    buf[0] = '\0';
  fclose(f);
  size_t n = strlen(buf);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
    buf[--n] = '\0';
  return buf;
}

/* ---- dictionary ------------------------------------------------------------- */

void fz_dict_init(fz_dict *d) { memset(d, 0, sizeof *d); }

static void strs_free(fz_strs *s)
{
  for (size_t i = 0; i < s->n; i++)
    free(s->items[i]);
  free(s->items);
  memset(s, 0, sizeof *s);
}

void fz_dict_free(fz_dict *d)
{
  strs_free(&d->secrets);
  strs_free(&d->flags);
  strs_free(&d->paths);
  strs_free(&d->keys);
  strs_free(&d->strings);
  strs_free(&d->mats);
  strs_free(&d->rules);
  strs_free(&d->variants);
  free(d->numbers);
  memset(d, 0, sizeof *d);
}

void fz_strs_add(fz_strs *s, const char *str)
{
  if (!str || s->n >= DICT_MAX)
    return;
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->items[i], str) == 0)
      return;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    char **p = realloc(s->items, cap * sizeof *p);
    if (!p)
      return;
    s->items = p;
    s->cap = cap;
  }
  char *copy = strdup(str);
  if (copy)
    s->items[s->n++] = copy;
}

const char *fz_pick(const fz_strs *s, size_t i, const char *fallback)
{
  return s->n ? s->items[i % s->n] : fallback;
}

static void add_number(fz_dict *d, double x)
{
  if (d->n_numbers >= DICT_MAX)
    return;
  for (size_t i = 0; i < d->n_numbers; i++)
    if (memcmp(&d->numbers[i], &x, sizeof x) == 0)
      return;
  if (d->n_numbers == d->cap_numbers) {
    size_t cap = d->cap_numbers ? d->cap_numbers * 2 : 16;
    double *p = realloc(d->numbers, cap * sizeof *p);
    if (!p)
      return;
    d->numbers = p;
    d->cap_numbers = cap;
  }
  d->numbers[d->n_numbers++] = x;
}

/* A selector or attribute name: the whole path, and each of its pieces. */
static void add_path(fz_dict *d, const char *path)
{
  if (!path || !*path)
    return;
  fz_strs_add(&d->paths, path);
  const char *start = path;
  for (const char *p = path;; p++) {
    if (*p == '.' || *p == '\0') {
      size_t n = (size_t)(p - start);
      char piece[256];
      if (n < sizeof piece) {
        memcpy(piece, start, n);
        piece[n] = '\0';
        fz_strs_add(&d->keys, piece);
      }
      if (!*p)
        break;
      start = p + 1;
    }
  }
}

static bool is(const char *a, const char *b) { return strcmp(a, b) == 0; }

static void classify_string(fz_dict *d, const char *msg, const char *field, const char *s)
{
  if (!s)
    return;
  if (is(msg, "ClientSecret") && is(field, "secret"))
    fz_strs_add(&d->secrets, s);
  else if (is(msg, "Flag") && is(field, "name"))
    fz_strs_add(&d->flags, s);
  else if ((is(msg, "AttributeCriterion") && is(field, "attribute_name")) ||
           (is(msg, "Rule") && is(field, "targeting_key_selector")))
    add_path(d, s);
  else if (is(msg, "Rule") && is(field, "name"))
    fz_strs_add(&d->rules, s);
  else if ((is(msg, "Variant") && is(field, "name")) || (is(msg, "VariantAssignment") && is(field, "variant")))
    fz_strs_add(&d->variants, s);
  else if (is(field, "write_materialization") || is(field, "read_materialization") ||
           is(field, "materialized_segment"))
    fz_strs_add(&d->mats, s);
  else if ((is(msg, "Value") && is(field, "string_value")) || (is(msg, "SemanticVersion") && is(field, "version")) ||
           ((is(msg, "StartsWithRule") || is(msg, "EndsWithRule") || is(msg, "ContainsRule")) && is(field, "value")))
    fz_strs_add(&d->strings, s);
}

static void add_timestamp(fz_dict *d, int64_t secs)
{
  add_number(d, (double)secs);
  add_number(d, (double)secs * 1000.0);
  if (secs < -62135596800LL || secs > 253402300799LL) /* years 1..9999 */
    return;
  time_t t = (time_t)secs;
  struct tm tm;
  if (!gmtime_r(&t, &tm))
    return;
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fz_strs_add(&d->strings, buf);
  strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  fz_strs_add(&d->strings, buf);
}

/* Generic walk over a decoded message through its descriptors. */
static void walk_message(fz_dict *d, const ProtobufCMessage *m, int depth)
{
  if (!m || depth > 150)
    return;
  const ProtobufCMessageDescriptor *md = m->descriptor;
  const char *base = (const char *)m;
  for (unsigned i = 0; i < md->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &md->fields[i];
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
      if (which != f->id)
        continue;
    }
    size_t count = 1;
    const char *arr = base + f->offset;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      count = *(const size_t *)(base + f->quantifier_offset);
      arr = *(const char *const *)(base + f->offset);
    }
    for (size_t k = 0; k < count && arr; k++) {
      switch (f->type) {
      case PROTOBUF_C_TYPE_STRING:
        classify_string(d, md->short_name, f->name, ((const char *const *)arr)[k]);
        break;
      case PROTOBUF_C_TYPE_MESSAGE:
        walk_message(d, ((const ProtobufCMessage *const *)arr)[k], depth + 1);
        break;
      case PROTOBUF_C_TYPE_DOUBLE:
        add_number(d, ((const double *)arr)[k]);
        break;
      case PROTOBUF_C_TYPE_INT64:
        if (is(md->short_name, "Timestamp") && is(f->name, "seconds"))
          add_timestamp(d, ((const int64_t *)arr)[k]);
        break;
      default:
        break;
      }
    }
  }
}

/* protobuf-c's decoder recurses per nesting level: only hand it inputs
 * whose messages nest at most `budget` deep (wire-level walk). */

static bool shallow_enough(const ProtobufCMessageDescriptor *md, const uint8_t *p, size_t len, int budget)
{
  if (budget < 0)
    return false;
  size_t i = 0;
  while (i < len) {
    uint64_t key, v;
    if (!cf_wire_read_varint(p, len, &i, &key))
      return false;
    switch (key & 7) {
    case 0:
      if (!cf_wire_read_varint(p, len, &i, &v))
        return false;
      break;
    case 1:
      if (len - i < 8)
        return false;
      i += 8;
      break;
    case 5:
      if (len - i < 4)
        return false;
      i += 4;
      break;
    case 2: {
      if (!cf_wire_read_varint(p, len, &i, &v) || v > len - i)
        return false;
      const ProtobufCFieldDescriptor *f =
          (key >> 3) <= 0x1fffffff ? protobuf_c_message_descriptor_get_field(md, (unsigned)(key >> 3)) : NULL;
      if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && !shallow_enough(f->descriptor, p + i, (size_t)v, budget - 1))
        return false;
      i += (size_t)v;
      break;
    }
    default:
      return false;
    }
  }
  return true;
}

static int add_resolver_state(fz_dict *d, const uint8_t *data, size_t len)
{
  const ProtobufCMessageDescriptor *md = &confidence__flags__admin__v1__resolver_state__descriptor;
  if (!shallow_enough(md, data, len, 100))
    return 0;
  Confidence__Flags__Admin__V1__ResolverState *s = confidence__flags__admin__v1__resolver_state__unpack(NULL, len, data);
  if (!s)
    return 0;
  walk_message(d, &s->base, 0);
  confidence__flags__admin__v1__resolver_state__free_unpacked(s, NULL);
  return 1;
}

int fz_dict_add_state(fz_dict *d, const uint8_t *data, size_t len)
{
  int n = add_resolver_state(d, data, len);
  /* The envelope has no nested messages: safe to decode as is. */
  Confidence__Flags__Admin__V1__ClientResolverState *env =
      confidence__flags__admin__v1__client_resolver_state__unpack(NULL, len, data);
  if (env) {
    n += add_resolver_state(d, env->state.data, env->state.len);
    confidence__flags__admin__v1__client_resolver_state__free_unpacked(env, NULL);
  }
  return n;
}

confidence_state *fz_load_spec_state(const char *who, fz_dict *d)
{
  char path[4096], acc_path[4096], account[256];
  fz_conformance_path("resolver-spec/state.pb", path, sizeof path);
  fz_read_line(fz_conformance_path("resolver-spec/account_id", acc_path, sizeof acc_path), account, sizeof account);
  size_t len = 0;
  uint8_t *data = fz_read_file(path, &len);
  if (!data) {
    fprintf(stderr, "%s: cannot read %s (set CONFIDENCE_CONFORMANCE_DIR)\n", who, path);
    exit(1);
  }
  confidence_state_options o = CONFIDENCE_STATE_OPTIONS_INIT;
  o.account_id = account;
  confidence_state *st = NULL;
  if (confidence_state_load(data, len, &o, &st)) {
    fprintf(stderr, "%s: cannot load %s: %s\n", who, path, confidence_last_error_message());
    exit(1);
  }
  fz_dict_init(d);
  fz_dict_add_state(d, data, len);
  free(data);
  return st;
}

/* ---- values ------------------------------------------------------------------ */

void fz_set_path(confidence_value *ctx, const char *path, confidence_value *value)
{
  confidence_value *cur = ctx;
  const char *start = path;
  for (const char *p = path;; p++) {
    if (*p != '.' && *p != '\0')
      continue;
    size_t n = (size_t)(p - start);
    if (*p == '\0') {
      confidence_value_struct_set_len(cur, start, n, value);
      return;
    }
    char key[256];
    if (n >= sizeof key) {
      confidence_value_free(value);
      return;
    }
    memcpy(key, start, n);
    key[n] = '\0';
    /* The context is ours, so dropping const is fine. */
    confidence_value *next = (confidence_value *)confidence_value_struct_get(cur, key);
    if (confidence_value_type_of(next) != CONFIDENCE_VALUE_STRUCT) {
      if (confidence_value_struct_set_len(cur, key, n, confidence_value_new_struct())) {
        confidence_value_free(value);
        return;
      }
      next = (confidence_value *)confidence_value_struct_get(cur, key);
      FZ_CHECK(confidence_value_type_of(next) == CONFIDENCE_VALUE_STRUCT);
    }
    cur = next;
    start = p + 1;
  }
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t k;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      k = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      k = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      k = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i <= k)
      return false;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (s[i + j] & 0x3f);
    }
    if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += k + 1;
  }
  return true;
}

/* Returns false when JSON cannot represent the value exactly (NaN, inf,
 * invalid UTF-8 in a string or key). */
bool fz_walk_value(const confidence_value *v, int depth)
{
  FZ_CHECK(depth < 100000);
  confidence_value_type t = confidence_value_type_of(v);
  bool json_ok = true;
  size_t len = 12345;
  switch (t) {
  case CONFIDENCE_VALUE_NULL:
    FZ_CHECK(confidence_value_string(v, &len) == NULL && len == 0);
    break;
  case CONFIDENCE_VALUE_BOOL: {
    int b = confidence_value_bool(v);
    FZ_CHECK(b == 0 || b == 1);
    FZ_CHECK(confidence_value_number(v) == 0.0);
    break;
  }
  case CONFIDENCE_VALUE_NUMBER: {
    double x = confidence_value_number(v);
    json_ok = isfinite(x);
    FZ_CHECK(confidence_value_list_size(v) == 0);
    break;
  }
  case CONFIDENCE_VALUE_STRING: {
    const char *s = confidence_value_string(v, &len);
    FZ_CHECK(s != NULL && s[len] == '\0');
    json_ok = valid_utf8((const unsigned char *)s, len);
    FZ_CHECK(confidence_value_struct_size(v) == 0);
    break;
  }
  case CONFIDENCE_VALUE_LIST: {
    size_t n = confidence_value_list_size(v);
    for (size_t i = 0; i < n; i++) {
      const confidence_value *item = confidence_value_list_at(v, i);
      FZ_CHECK(item != NULL);
      json_ok &= fz_walk_value(item, depth + 1);
    }
    FZ_CHECK(confidence_value_list_at(v, n) == NULL);
    FZ_CHECK(confidence_value_struct_size(v) == 0);
    break;
  }
  case CONFIDENCE_VALUE_STRUCT: {
    size_t n = confidence_value_struct_size(v);
    for (size_t i = 0; i < n; i++) {
      size_t klen = 99;
      const char *key = confidence_value_struct_key_at(v, i, &klen);
      const confidence_value *item = confidence_value_struct_value_at(v, i);
      FZ_CHECK(key != NULL && item != NULL && key[klen] == '\0');
      /* The parser rejects invalid UTF-8 and NUL bytes in keys. */
      json_ok &= valid_utf8((const unsigned char *)key, klen) && strlen(key) == klen;
      /* Keys are unique, so a NUL-free key finds exactly this entry. */
      if (strlen(key) == klen)
        FZ_CHECK(confidence_value_struct_get(v, key) == item);
      json_ok &= fz_walk_value(item, depth + 1);
    }
    FZ_CHECK(confidence_value_struct_key_at(v, n, NULL) == NULL);
    FZ_CHECK(confidence_value_struct_value_at(v, n) == NULL);
    FZ_CHECK(confidence_value_list_size(v) == 0);
    break;
  }
  default:
    FZ_CHECK(!"unknown value type");
  }
  return json_ok;
}

/* A copy with every struct's fields in reverse order: equal() ignores order. */
static confidence_value *reversed_copy(const confidence_value *v)
{
  switch (confidence_value_type_of(v)) {
  case CONFIDENCE_VALUE_LIST: {
    confidence_value *l = confidence_value_new_list();
    for (size_t i = 0; l && i < confidence_value_list_size(v); i++)
      if (confidence_value_list_append(l, reversed_copy(confidence_value_list_at(v, i)))) {
        confidence_value_free(l);
        return NULL;
      }
    return l;
  }
  case CONFIDENCE_VALUE_STRUCT: {
    confidence_value *o = confidence_value_new_struct();
    for (size_t i = confidence_value_struct_size(v); o && i-- > 0;) {
      size_t klen;
      const char *key = confidence_value_struct_key_at(v, i, &klen);
      if (confidence_value_struct_set_len(o, key, klen, reversed_copy(confidence_value_struct_value_at(v, i)))) {
        confidence_value_free(o);
        return NULL;
      }
    }
    return o;
  }
  default:
    return confidence_value_copy(v);
  }
}

static bool has_nan(const confidence_value *v)
{
  switch (confidence_value_type_of(v)) {
  case CONFIDENCE_VALUE_NUMBER:
    return isnan(confidence_value_number(v));
  case CONFIDENCE_VALUE_LIST:
    for (size_t i = 0; i < confidence_value_list_size(v); i++)
      if (has_nan(confidence_value_list_at(v, i)))
        return true;
    return false;
  case CONFIDENCE_VALUE_STRUCT:
    for (size_t i = 0; i < confidence_value_struct_size(v); i++)
      if (has_nan(confidence_value_struct_value_at(v, i)))
        return true;
    return false;
  default:
    return false;
  }
}

static size_t value_depth(const confidence_value *v)
{
  size_t d = 0;
  for (size_t i = 0; i < confidence_value_list_size(v); i++) {
    size_t k = value_depth(confidence_value_list_at(v, i));
    d = k > d ? k : d;
  }
  for (size_t i = 0; i < confidence_value_struct_size(v); i++) {
    size_t k = value_depth(confidence_value_struct_value_at(v, i));
    d = k > d ? k : d;
  }
  return d + 1;
}

/* jansson refuses documents nested deeper than this (JSON_PARSER_MAX_DEPTH). */
#define JSON_PARSE_MAX_DEPTH 2048

void fz_value_roundtrip(const confidence_value *v)
{
  bool json_ok = fz_walk_value(v, 0);
  /* The parser's depth limit is below what the value API can build. */
  if (value_depth(v) > JSON_PARSE_MAX_DEPTH - 8)
    json_ok = false;
  bool nan = has_nan(v);
  char *json = confidence_value_to_json(v);
  FZ_CHECK(json != NULL);

  confidence_value *copy = confidence_value_copy(v);
  FZ_CHECK(copy != NULL);
  /* NaN != NaN, so only NaN-free values equal themselves. */
  FZ_CHECK(confidence_value_equal(copy, v) == !nan);
  FZ_CHECK(confidence_value_equal(v, v) == !nan);
  char *json2 = confidence_value_to_json(copy);
  FZ_CHECK(json2 != NULL && strcmp(json, json2) == 0);
  confidence_string_free(json2);

  confidence_value *rev = reversed_copy(v);
  FZ_CHECK(rev != NULL);
  FZ_CHECK(confidence_value_equal(rev, v) == !nan);
  FZ_CHECK(confidence_value_equal(v, rev) == !nan);
  confidence_value_free(rev);

  confidence_value *parsed = NULL;
  int rc = confidence_value_from_json(json, strlen(json), &parsed);
  if (json_ok) {
    if (rc != 0)
      fprintf(stderr, "to_json output does not parse back: %s\n%.2000s\n", confidence_last_error_message(), json);
    FZ_CHECK(rc == 0);
    if (!confidence_value_equal(parsed, v))
      fprintf(stderr, "round trip changed the value:\n%.2000s\n", json);
    FZ_CHECK(confidence_value_equal(parsed, v));
    char *json3 = confidence_value_to_json(parsed);
    FZ_CHECK(json3 != NULL && strcmp(json, json3) == 0);
    confidence_string_free(json3);
  } else if (rc == 0) {
    /* NaN/inf print as null, bad UTF-8 is rejected by the parser: the text
     * must still be a fixed point of parse+print. */
    char *json3 = confidence_value_to_json(parsed);
    FZ_CHECK(json3 != NULL);
    confidence_value *again = NULL;
    FZ_CHECK(confidence_value_from_json(json3, strlen(json3), &again) == 0);
    FZ_CHECK(confidence_value_equal(again, parsed));
    confidence_value_free(again);
    confidence_string_free(json3);
  }
  confidence_value_free(parsed);
  confidence_value_free(copy);
  confidence_string_free(json);
}

/* ---- resolving ---------------------------------------------------------------- */

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  h ^= 0xff; /* separator */
  return h * 0x100000001b3ULL;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
  FZ_CHECK(s != NULL);
  return mix(h, s, strlen(s));
}

static void check_record(const confidence_materialization_record *r)
{
  FZ_CHECK(r->unit && r->materialization && r->rule && r->variant);
  FZ_CHECK(strlen(r->unit) <= 100);
}

/* Checks a successful result; returns a digest of everything visible. */
static uint64_t check_result(const confidence_resolve_result *res, int mode)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  FZ_CHECK(confidence_resolve_result_error(res)[0] == '\0');
  h = mix_str(h, confidence_resolve_result_client(res));
  h = mix_str(h, confidence_resolve_result_credential(res));
  size_t n = confidence_resolve_result_flag_count(res);
  FZ_CHECK(n <= 1000);
  for (size_t i = 0; i < n; i++) {
    const confidence_resolved_flag *f = confidence_resolve_result_flag_at(res, i);
    FZ_CHECK(f != NULL);
    const char *name = confidence_resolved_flag_name(f);
    FZ_CHECK(name != NULL);
    FZ_CHECK(confidence_resolve_result_find(res, name) == f);
    int reason = confidence_resolved_flag_reason(f);
    FZ_CHECK(reason >= CONFIDENCE_RESOLVE_REASON_MATCH && reason <= CONFIDENCE_RESOLVE_REASON_MATERIALIZATION_NOT_SUPPORTED);
    FZ_CHECK(strcmp(confidence_resolve_reason_name(reason), "RESOLVE_REASON_UNSPECIFIED") != 0);
    if (mode == CONFIDENCE_MATERIALIZATIONS_DISCOVER || mode == CONFIDENCE_MATERIALIZATIONS_STATIC)
      FZ_CHECK(reason != CONFIDENCE_RESOLVE_REASON_MATERIALIZATION_NOT_SUPPORTED);
    const char *variant = confidence_resolved_flag_variant(f);
    const confidence_value *value = confidence_resolved_flag_value(f);
    const char *key = confidence_resolved_flag_targeting_key(f);
    FZ_CHECK(variant && key && strlen(key) <= 100);
    if (reason != CONFIDENCE_RESOLVE_REASON_MATCH)
      FZ_CHECK(value == NULL && variant[0] == '\0');
    if (variant[0])
      FZ_CHECK(value != NULL);
    if (value) {
      FZ_CHECK(confidence_value_type_of(value) == CONFIDENCE_VALUE_STRUCT);
      fz_walk_value(value, 0);
      char *json = confidence_value_to_json(value);
      FZ_CHECK(json != NULL);
      h = mix_str(h, json);
      confidence_string_free(json);
    }
    size_t nft = confidence_resolved_flag_fallthrough_count(f);
    FZ_CHECK(confidence_resolved_flag_should_apply(f) == (reason == CONFIDENCE_RESOLVE_REASON_MATCH || nft > 0));
    for (size_t k = 0; k < nft; k++) {
      const confidence_fallthrough *ftp = confidence_resolved_flag_fallthrough_at(f, k);
      FZ_CHECK(ftp != NULL);
      confidence_fallthrough ft = *ftp;
      FZ_CHECK(ft.rule && ft.assignment_id && ft.targeting_key && ft.targeting_key_selector);
      FZ_CHECK(strlen(ft.targeting_key) <= 100);
      h = mix_str(h, ft.rule);
      h = mix_str(h, ft.assignment_id);
      h = mix_str(h, ft.targeting_key);
      h = mix_str(h, ft.targeting_key_selector);
    }
    FZ_CHECK(confidence_resolved_flag_fallthrough_at(f, nft) == NULL);
    h = mix_str(h, name);
    h = mix(h, &reason, sizeof reason);
    h = mix_str(h, variant);
    h = mix_str(h, key);
    h = mix_str(h, confidence_resolved_flag_rule(f));
    h = mix_str(h, confidence_resolved_flag_segment(f));
    h = mix_str(h, confidence_resolved_flag_assignment_id(f));
    h = mix_str(h, confidence_resolved_flag_targeting_key_selector(f));
  }
  FZ_CHECK(confidence_resolve_result_flag_at(res, n) == NULL);

  size_t nr = confidence_resolve_result_read_count(res);
  if (mode != CONFIDENCE_MATERIALIZATIONS_DISCOVER)
    FZ_CHECK(nr == 0);
  FZ_CHECK(!!confidence_resolve_result_suspended(res) == (nr > 0));
  confidence_materialization_record r;
  for (size_t i = 0; i < nr; i++) {
    FZ_CHECK(confidence_resolve_result_read_at(res, i) != NULL);
    r = *confidence_resolve_result_read_at(res, i);
    check_record(&r);
    h = mix_str(mix_str(mix_str(h, r.unit), r.materialization), r.rule);
  }
  FZ_CHECK(confidence_resolve_result_read_at(res, nr) == NULL);
  size_t nw = confidence_resolve_result_write_count(res);
  if (mode == CONFIDENCE_MATERIALIZATIONS_UNSUPPORTED)
    FZ_CHECK(nw == 0);
  for (size_t i = 0; i < nw; i++) {
    FZ_CHECK(confidence_resolve_result_write_at(res, i) != NULL);
    r = *confidence_resolve_result_write_at(res, i);
    check_record(&r);
    h = mix_str(mix_str(mix_str(mix_str(h, r.unit), r.materialization), r.rule), r.variant);
  }
  FZ_CHECK(confidence_resolve_result_write_at(res, nw) == NULL);
  return h;
}

static void check_failed(const confidence_resolve_result *res, int rc)
{
  FZ_CHECK(rc == CONFIDENCE_ESECRET || rc == CONFIDENCE_ETOOMANY || rc == CONFIDENCE_ERESOLVE ||
           rc == CONFIDENCE_ELIMIT || rc == CONFIDENCE_EINVAL || rc == CONFIDENCE_ENOMEM);
  FZ_CHECK(confidence_resolve_result_error(res)[0] != '\0');
  FZ_CHECK(confidence_resolve_result_flag_count(res) == 0);
  FZ_CHECK(confidence_resolve_result_read_count(res) == 0);
  FZ_CHECK(confidence_resolve_result_write_count(res) == 0);
  FZ_CHECK(!confidence_resolve_result_suspended(res));
}

typedef struct owned_records {
  confidence_materialization_record *items;
  char **strings;
  size_t n, n_strings;
} owned_records;

static const char *keep(owned_records *o, const char *s)
{
  char *c = strdup(s ? s : "");
  FZ_CHECK(c != NULL);
  o->strings[o->n_strings++] = c;
  return c;
}

int fz_resolve_checked(const confidence_state *st, const confidence_resolve_request *req,
                       confidence_resolve_result *res, const fz_dict *d, unsigned sel, uint64_t *digest)
{
  int rc = confidence_resolve(st, req, res);
  if (rc) {
    check_failed(res, rc);
    if (digest)
      *digest = (uint64_t)(int64_t)rc;
    return rc;
  }
  uint64_t h = check_result(res, req->materialization_mode);
  if (!confidence_resolve_result_suspended(res)) {
    /* Resuming a finished resolve is refused. */
    if (sel & 1)
      FZ_CHECK(confidence_resolve_resume(st, req, NULL, 0, res) == CONFIDENCE_EINVAL);
    if (digest)
      *digest = h;
    return 0;
  }
  /* Answer the reads: each one present or not, with some variant. */
  size_t nr = confidence_resolve_result_read_count(res);
  owned_records o = {calloc(nr + 1, sizeof *o.items), calloc(4 * nr + 1, sizeof *o.strings), 0, 0};
  FZ_CHECK(o.items && o.strings);
  for (size_t i = 0; i < nr; i++) {
    FZ_CHECK(confidence_resolve_result_read_at(res, i) != NULL);
    confidence_materialization_record r = *confidence_resolve_result_read_at(res, i);
    unsigned bits = (sel >> (i % 8)) ^ (unsigned)i;
    if (bits & 1)
      continue;
    const char *variant = (bits & 2) ? "" : fz_pick(d ? &d->variants : &(fz_strs){0}, sel + i, "");
    confidence_materialization_record *rec = &o.items[o.n++];
    rec->unit = keep(&o, r.unit);
    rec->materialization = keep(&o, r.materialization);
    rec->rule = keep(&o, r.rule);
    rec->variant = keep(&o, variant);
  }
  rc = confidence_resolve_resume(st, req, o.items, o.n, res);
  if (rc) {
    check_failed(res, rc);
    h = (uint64_t)(int64_t)rc;
  } else {
    h ^= check_result(res, CONFIDENCE_MATERIALIZATIONS_STATIC) * 31;
    FZ_CHECK(!confidence_resolve_result_suspended(res));
  }
  for (size_t i = 0; i < o.n_strings; i++)
    free(o.strings[i]);
  free(o.strings);
  free(o.items);
  if (digest)
    *digest = h;
  return rc;
}

void fz_check_state(const confidence_state *st, const char *account)
{
  const char *acc = confidence_state_account_id(st);
  FZ_CHECK(acc != NULL);
  if (account && *account)
    FZ_CHECK(strcmp(acc, account) == 0);
  size_t n = confidence_state_flag_count(st);
  for (size_t i = 0; i < n; i++)
    FZ_CHECK(confidence_state_flag_name_at(st, i) != NULL);
  FZ_CHECK(confidence_state_flag_name_at(st, n) == NULL);
  size_t nl = confidence_state_log_destination_count(st);
  FZ_CHECK(nl >= 1 && nl <= 2);
  for (size_t i = 0; i < nl; i++) {
    int dst = confidence_state_log_destination_at(st, i);
    FZ_CHECK(dst == CONFIDENCE_LOG_DESTINATION_EDGE || dst == CONFIDENCE_LOG_DESTINATION_CLOUDFLARE);
  }
  FZ_CHECK(confidence_state_log_destination_at(st, nl) == CONFIDENCE_EINVAL);
  FZ_CHECK(confidence_state_memory_bytes(st) > 0);
}

/* ---- encryption ------------------------------------------------------------- */

uint8_t *fz_seal(const uint8_t *plain, size_t len, const char *key_hex, const uint8_t nonce[12], size_t *out_len)
{
  uint8_t key[32];
  if (strlen(key_hex) < 64 || len > INT32_MAX)
    return NULL;
  for (size_t i = 0; i < 32; i++) {
    unsigned byte;
    if (sscanf(key_hex + 2 * i, "%2x", &byte) != 1)
      return NULL;
    key[i] = (uint8_t)byte;
  }
  uint8_t *out = malloc(len + 12 + 16);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0, fin = 0;
  bool ok = out && ctx;
  ok = ok && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1;
  ok = ok && EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) == 1;
  ok = ok && EVP_EncryptUpdate(ctx, out + 12, &n, plain, (int)len) == 1;
  ok = ok && EVP_EncryptFinal_ex(ctx, out + 12 + n, &fin) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) {
    free(out);
    return NULL;
  }
  memcpy(out, nonce, 12);
  *out_len = len + 12 + 16;
  return out;
}
