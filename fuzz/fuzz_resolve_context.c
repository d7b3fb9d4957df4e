/* fuzz_resolve_context: the input drives a context builder (nested structs
 * and lists, NaN, infinities, -0.0, huge and subnormal numbers, long
 * strings, invalid UTF-8 and embedded NULs through the _len constructors,
 * keys and values taken from the states' own targeting rules) plus a request
 * (flag filter, static materialization records). Every context is resolved
 * against
 *   resolver-spec/state.pb            (secrets test-secret, minimal-secret)
 *   states/resolver_state_current.pb  (its client secret, read from the state)
 * in all three materialization modes, and goes through the value checks.
 *
 * Input layout: byte 0 = options, then the builder program (see build()). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define MAX_DEPTH 24
#define MAX_ITEMS 8

typedef struct target {
  const char *name;
  confidence_state *st;
  fz_dict dict;
} target;

static target g_targets[2];
static fz_dict g_all; /* union of both dictionaries, for the builder */
static confidence_resolve_result *g_res;

static void load_target(target *t, const char *rel_state, const char *rel_account, const char *const *secrets)
{
  char path[4096], acc_path[4096], account[256];
  fz_conformance_path(rel_state, path, sizeof path);
  fz_read_line(fz_conformance_path(rel_account, acc_path, sizeof acc_path), account, sizeof account);
  size_t len = 0;
  uint8_t *data = fz_read_file(path, &len);
  if (!data) {
    fprintf(stderr, "fuzz_resolve_context: cannot read %s (set CONFIDENCE_CONFORMANCE_DIR)\n", path);
    exit(1);
  }
  confidence_state_options o = CONFIDENCE_STATE_OPTIONS_INIT;
  o.account_id = account;
  if (confidence_state_load(data, len, &o, &t->st)) {
    fprintf(stderr, "fuzz_resolve_context: cannot load %s: %s\n", path, confidence_last_error_message());
    exit(1);
  }
  t->name = rel_state;
  fz_dict_init(&t->dict);
  if (secrets) {
    /* Fixed secrets first, so they are the ones used. */
    for (size_t i = 0; secrets[i]; i++)
      fz_strs_add(&t->dict.secrets, secrets[i]);
  }
  fz_dict_add_state(&t->dict, data, len);
  fz_dict_add_state(&g_all, data, len);
  free(data);
  if (!t->dict.secrets.n) {
    fprintf(stderr, "fuzz_resolve_context: no client secret found in %s\n", path);
    exit(1);
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  static const char *const spec_secrets[] = {"test-secret", "minimal-secret", NULL};
  fz_dict_init(&g_all);
  load_target(&g_targets[0], "resolver-spec/state.pb", "resolver-spec/account_id", spec_secrets);
  /* The demo state's secret is taken from its ClientCredential. */
  load_target(&g_targets[1], "states/resolver_state_current.pb", "states/account_id", NULL);
  g_res = confidence_resolve_result_new();
  if (!g_res)
    exit(1);
  return 0;
}

/* ---- the builder ---------------------------------------------------------- */

static const double SPECIAL_NUMBERS[] = {
    0.0, -0.0, 1.0, -1.0, 0.5, 42.0, 1e12, 1e12 - 1, -1e12, 1e13, 1e15 + 0.5, 9007199254740992.0,
    9007199254740993.0, 1e21, 1e22, -1e21, 1e100, 1e300, DBL_MAX, -DBL_MAX, DBL_MIN, 4.9406564584124654e-324,
    9223372036854775807.0, -9223372036854775808.0, 18446744073709551616.0, 2147483647.0, -2147483648.0, 0.1,
    1.5e-7, 123456789.123, 1700000000.0, 1700000000000.0, 253402300799.0, 8210298412799.0, 8210298412800.0,
    -8334632851200.0, NAN, -NAN, INFINITY, -INFINITY};

static const char *const SPECIAL_STRINGS[] = {"",
                                              "user1",
                                              "SE",
                                              "true",
                                              "TRUE",
                                              "false",
                                              "True",
                                              "1",
                                              "-0",
                                              "1e5",
                                              "1E+5",
                                              ".5",
                                              "5.",
                                              "+inf",
                                              "-Infinity",
                                              "NaN",
                                              "nan",
                                              "0x10",
                                              " 1",
                                              "1_000",
                                              "2023-01-01",
                                              "2023-01-01T00:00:00Z",
                                              "2023-01-01T00:00:00.123456789+01:00",
                                              "2023-01-01T23:59:60Z",
                                              "2023-01-01 12:00:00",
                                              "2023-01-01T12:00:00.5",
                                              "2024-02-29",
                                              "2023-02-29",
                                              "+262143-12-31",
                                              "-262144-01-01",
                                              "99999-01-01",
                                              "2023-01-01t00:00:00z",
                                              ("2023-01-01T00:00:00\xE2\x88\x92" "05:00"),
                                              "1.2.3",
                                              "1.2.3.4",
                                              "1.2.3-beta",
                                              "1.2",
                                              "1.2.3456",
                                              "01.02.03",
                                              "1..2",
                                              "1.2.3.4.5",
                                              "4294967296.1.1",
                                              "9999999999.9999999999.9999999999",
                                              "a.b",
                                              "null",
                                              "\xff\xfe",
                                              "\xc0\x80",
                                              "\xed\xa0\x80",
                                              "caf\xc3\xa9"};

static confidence_value *build(fz_in *in, int depth);

static char *make_bytes(fz_in *in, size_t *len)
{
  size_t want = fz_u8(in) % 48, got;
  const uint8_t *p = fz_bytes(in, want, &got);
  char *s = malloc(got + 1);
  FZ_CHECK(s != NULL);
  memcpy(s, p, got);
  s[got] = '\0';
  *len = got;
  return s;
}

static confidence_value *long_string(fz_in *in)
{
  static const size_t lens[] = {99, 100, 101, 255, 256, 511, 512, 513, 4096, 70000};
  size_t len = lens[fz_u8(in) % (sizeof lens / sizeof lens[0])];
  uint8_t fill = fz_u8(in);
  char *s = malloc(len);
  FZ_CHECK(s != NULL);
  for (size_t i = 0; i < len; i++)
    s[i] = (char)(fill ? fill : '0' + (char)(i % 10));
  confidence_value *v = confidence_value_new_string_len(s, len);
  free(s);
  return v;
}

/* Nested one-element lists or structs, deeper than any real context. */
static confidence_value *deep_nest(fz_in *in)
{
  size_t depth = 1 + fz_u16(in) % 2200;
  bool lists = fz_u8(in) & 1;
  confidence_value *v = confidence_value_new_string("leaf");
  for (size_t i = 0; i < depth && v; i++) {
    confidence_value *outer = lists ? confidence_value_new_list() : confidence_value_new_struct();
    FZ_CHECK(outer != NULL);
    int rc = lists ? confidence_value_list_append(outer, v) : confidence_value_struct_set(outer, "targeting_key", v);
    FZ_CHECK(rc == 0);
    v = outer;
  }
  return v;
}

static void set_key(fz_in *in, confidence_value *obj, confidence_value *item)
{
  uint8_t how = fz_u8(in);
  if (how % 4 == 3) { /* raw bytes: NULs and invalid UTF-8 in keys */
    size_t len;
    char *k = make_bytes(in, &len);
    confidence_value_struct_set_len(obj, k, len, item);
    free(k);
  } else if (how % 4 == 2) {
    if (how & 0x80) /* the empty key, spelled (NULL, 0) or "" */
      confidence_value_struct_set_len(obj, (how & 0x40) ? NULL : "", 0, item);
    else
      confidence_value_struct_set(obj, "targeting_key", item);
  } else {
    confidence_value_struct_set(obj, fz_pick(&g_all.keys, fz_u8(in), "country"), item);
  }
}

static confidence_value *build(fz_in *in, int depth)
{
  uint8_t op = fz_u8(in);
  if (depth >= MAX_DEPTH && op % 16 >= 11)
    op = 2;
  switch (op % 16) {
  case 0:
    return confidence_value_new_null();
  case 1:
    return confidence_value_new_bool(op >> 4 & 1);
  case 2:
    return confidence_value_new_number(SPECIAL_NUMBERS[fz_u8(in) % (sizeof SPECIAL_NUMBERS / sizeof SPECIAL_NUMBERS[0])]);
  case 3:
    return confidence_value_new_number(fz_f64(in));
  case 4:
    return confidence_value_new_number((double)(int32_t)fz_u32(in));
  case 5: {
    double x = g_all.n_numbers ? g_all.numbers[fz_u8(in) % g_all.n_numbers] : 1.0;
    static const double nudge[] = {0, 1, -1, 0.5, -1e-9};
    return confidence_value_new_number(x + nudge[op >> 4 & 3]);
  }
  case 6:
    return confidence_value_new_string(fz_pick(&g_all.strings, fz_u8(in), "x"));
  case 7:
    return confidence_value_new_string(
        SPECIAL_STRINGS[fz_u8(in) % (sizeof SPECIAL_STRINGS / sizeof SPECIAL_STRINGS[0])]);
  case 8: {
    size_t len;
    char *s = make_bytes(in, &len);
    confidence_value *v = confidence_value_new_string_len(s, len);
    free(s);
    return v;
  }
  case 9:
    return long_string(in);
  case 10: {
    /* A rule string with a suffix or prefix added (starts/ends/contains). */
    const char *base = fz_pick(&g_all.strings, fz_u8(in), "x");
    char buf[512];
    snprintf(buf, sizeof buf, (op >> 4 & 1) ? "%s-suffix" : "prefix-%s", base);
    return confidence_value_new_string(buf);
  }
  case 11:
  case 12: {
    confidence_value *l = confidence_value_new_list();
    size_t n = fz_u8(in) % MAX_ITEMS;
    for (size_t i = 0; i < n && !fz_done(in); i++)
      confidence_value_list_append(l, build(in, depth + 1));
    return l;
  }
  case 13:
  case 14: {
    confidence_value *o = confidence_value_new_struct();
    size_t n = fz_u8(in) % MAX_ITEMS;
    for (size_t i = 0; i < n && !fz_done(in); i++)
      set_key(in, o, build(in, depth + 1));
    return o;
  }
  default: /* rare: deep nesting is slow to build, check and free */
    return depth < 4 && (fz_u8(in) & 7) == 0 ? deep_nest(in) : confidence_value_new_null();
  }
}

/* Top level: values at the rules' attribute paths, then free-form fields. */
static confidence_value *build_context(fz_in *in)
{
  confidence_value *ctx = confidence_value_new_struct();
  FZ_CHECK(ctx != NULL);
  size_t n_paths = fz_u8(in) % 12;
  for (size_t i = 0; i < n_paths && !fz_done(in); i++)
    fz_set_path(ctx, fz_pick(&g_all.paths, fz_u8(in), "targeting_key"), build(in, 1));
  size_t n_fields = fz_u8(in) % MAX_ITEMS;
  for (size_t i = 0; i < n_fields && !fz_done(in); i++)
    set_key(in, ctx, build(in, 1));
  return ctx;
}

/* ---- requests --------------------------------------------------------------- */

typedef struct request_parts {
  const char *flags[16];
  size_t n_flags;
  confidence_materialization_record recs[8];
  size_t n_recs;
} request_parts;

static void build_request_parts(fz_in *in, const fz_dict *d, request_parts *p)
{
  memset(p, 0, sizeof *p);
  uint8_t f = fz_u8(in);
  if (f & 1) { /* a flag filter instead of all flags */
    size_t n = (f >> 1) % 14;
    for (size_t i = 0; i < n; i++) {
      uint8_t b = fz_u8(in);
      p->flags[p->n_flags++] = b == 255 ? NULL : b == 254 ? "flags/no-such-flag" : fz_pick(&d->flags, b, "flags/x");
    }
  }
  size_t nr = fz_u8(in) % 9;
  for (size_t i = 0; i < nr && i < 8; i++) {
    uint8_t b = fz_u8(in);
    confidence_materialization_record *r = &p->recs[p->n_recs++];
    r->unit = b == 255 ? NULL : fz_pick(&g_all.strings, b, "user1");
    if (b % 3 == 0)
      r->unit = "user1";
    r->materialization = fz_pick(&d->mats, fz_u8(in), "mat");
    r->rule = (b & 8) ? "" : fz_pick(&d->rules, fz_u8(in), "rule");
    r->variant = (b & 16) ? "" : fz_pick(&d->variants, fz_u8(in), "variant");
    if (b == 254)
      r->materialization = NULL;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fz_in in = {data, size, 0};
  uint8_t opts = fz_u8(&in);
  confidence_value *ctx = build_context(&in);
  bool json_ok = fz_walk_value(ctx, 0);
  (void)json_ok;
  if (opts & 1)
    fz_value_roundtrip(ctx);

  for (size_t t = 0; t < 2; t++) {
    target *tg = &g_targets[t];
    request_parts parts;
    build_request_parts(&in, &tg->dict, &parts);
    size_t n_secrets = tg->dict.secrets.n < 2 ? tg->dict.secrets.n : 2;
    for (size_t s = 0; s < n_secrets; s++) {
      for (int mode = 0; mode < 3; mode++) {
        confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
        req.client_secret = tg->dict.secrets.items[s];
        req.context = ctx;
        req.flags = parts.n_flags ? parts.flags : NULL;
        req.flag_count = parts.n_flags;
        req.materialization_mode = mode;
        if (mode == CONFIDENCE_MATERIALIZATIONS_STATIC) {
          req.materializations = parts.recs;
          req.materialization_count = parts.n_recs;
        }
        int rc = fz_resolve_checked(tg->st, &req, g_res, &tg->dict, opts, NULL);
        FZ_CHECK(rc == 0 || rc == CONFIDENCE_ERESOLVE);
      }
    }
  }
  confidence_value_free(ctx);
  return 0;
}
