/* Values a caller or attacker can build: 200,000 levels deep (copy, equal,
 * to_json, free and resolve must not exhaust the C stack), 1,000,000
 * attributes wide (building and reading must stay O(n)), and every
 * two-letter code under a key naming a country (the schema classifier must
 * stay inside its table). Run under ASan+UBSan by scripts/sanitizers.sh.
 * Usage: test_hostile_values RESOLVER_SPEC_DIR */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "confidence/confidence.h"
#include "confidence/provider.h"
#include "confidence/sys/transport.h"
#include "context_schema.h"
#include "fake_transport.h"
#include "textconv.h"
#include "under_tools.h"

#define DEPTH 200000
#define WIDE 1000000

static const char *g_spec_dir;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The bound is 5 s on a RelWithDebInfo build. Sanitizers slow the
 * allocator-heavy loops several times over, so their tiers get 4x that; a
 * quadratic build of 10^6 fields would still take minutes there. Valgrind
 * runs ~50x slower: it checks memory only, with no time bound. */
static double time_bound(void)
{
#if defined(UNDER_ASAN) || defined(UNDER_TSAN)
  return 20.0;
#else
  return 5.0;
#endif
}

static size_t wide_n(void) { return UNDER_VALGRIND() ? WIDE / 20 : WIDE; }

/* ---- country codes ------------------------------------------------------------ */

/* ISO 3166-1 alpha-2, as isocountry 0.3.2 has it, written out independently
 * of src/context_schema.c. */
static const char *const ISO[] = {
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA",
    "ZM", "ZW"};

static int is_iso(const char *code)
{
  for (size_t i = 0; i < sizeof ISO / sizeof ISO[0]; i++)
    if (!strcmp(ISO[i], code))
      return 1;
  return 0;
}

static int semantic_of(const cf_schema *s, const char *path)
{
  for (size_t i = 0; s && i < s->n; i++)
    if (!strcmp(s->fields[i].path, path))
      return s->fields[i].semantic;
  return -1;
}

/* Each value is copied to a heap block of exactly its length, so ASan sees
 * any read past the two bytes or past the classifier's table. */
static void test_country_codes(void)
{
  CHECK(sizeof ISO / sizeof ISO[0] == 249);
  int mismatches = 0, countries = 0;
  for (char a = 'A'; a <= 'Z'; a++) {
    for (char b = 'A'; b <= 'Z'; b++) {
      char code[3] = {a, b, 0};
      char *exact = malloc(2);
      memcpy(exact, code, 2);
      confidence_value *ctx = confidence_value_new_struct(), *user = confidence_value_new_struct();
      confidence_value_struct_set(ctx, "country", confidence_value_new_string_len(exact, 2));
      confidence_value_struct_set(user, "country", confidence_value_new_string_len(exact, 2));
      confidence_value_struct_set(ctx, "user", user);
      confidence_value_struct_set(ctx, "home_country_code", confidence_value_new_string_len(exact, 2));
      cf_schema *s = cf_schema_derive(ctx);
      CHECK(s != NULL);
      int want = is_iso(code) ? 1 : 0;
      countries += want;
      if (semantic_of(s, "country") != want || semantic_of(s, "user.country") != want ||
          semantic_of(s, "home_country_code") != want) {
        if (mismatches++ < 5)
          fprintf(stderr, "  %s: country %d, user.country %d, want %d\n", code, semantic_of(s, "country"),
                  semantic_of(s, "user.country"), want);
      }
      cf_schema_free(s);
      confidence_value_free(ctx);
      free(exact);
    }
  }
  CHECK(mismatches == 0);
  CHECK(countries == 249);

  /* Case-insensitive codes; other lengths are never countries. */
  const char *values[] = {"se", "uK", "U", "", "USA", "S\xc3\xa9"};
  const int want[] = {1, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    confidence_value *ctx = confidence_value_new_struct();
    confidence_value_struct_set(ctx, "country", confidence_value_new_string(values[i]));
    cf_schema *s = cf_schema_derive(ctx);
    CHECK(semantic_of(s, "country") == want[i]);
    cf_schema_free(s);
    confidence_value_free(ctx);
  }
}

/* The same codes through provider evaluations, whose exposure path derives
 * the context schema for one evaluation in every 256 (so 256 each). */
static void test_country_codes_evaluated(void)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/state.pb", g_spec_dir);
  confidence_transport t = FAKE_GRPC_OK_TRANSPORT; /* flag logs go nowhere */
  confidence_provider_options o;
  confidence_provider_options_init(&o, CONFIDENCE_PROVIDER_OPTIONS_VERSION);
  o.client_secret = "test-secret";
  o.state_file = path;
  o.account_id = "test-account";
  o.disable_state_sync = 1;
  o.transport = &t;
  o.flag_log_grpc_url = "http://127.0.0.1:1"; /* never dialled: the fake answers */
  o.log_poll_interval_ms = 3600000;
  confidence_provider *p = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  CHECK(p && confidence_provider_start(p, 5000) == 0);
  confidence_details *d = confidence_details_new();
  int evaluated = 0;
  for (char a = 'A'; p && a <= 'Z'; a++) {
    for (char b = 'A'; b <= 'Z'; b++) {
      char code[2] = {a, b};
      confidence_value *ctx = confidence_value_new_struct(), *user = confidence_value_new_struct();
      confidence_value_struct_set(ctx, "targeting_key", confidence_value_new_string("user-1"));
      confidence_value_struct_set(ctx, "country", confidence_value_new_string_len(code, 2));
      confidence_value_struct_set(user, "country", confidence_value_new_string_len(code, 2));
      confidence_value_struct_set(ctx, "user", user);
      for (int i = 0; i < 256; i++)
        (void)confidence_provider_get_bool(p, "simple-flag.enabled", ctx, 0, d);
      evaluated += confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_NONE;
      confidence_value_free(ctx);
    }
  }
  CHECK(evaluated == 26 * 26);
  confidence_details_free(d);
  if (p)
    confidence_provider_shutdown(p, 5000);
  confidence_provider_free(p);
}

/* ---- deep values ----------------------------------------------------------------- */

/* depth nested containers around a number: lists, structs or both in turn. */
static confidence_value *deep_leaf(size_t depth, int kind, double leaf)
{
  confidence_value *v = confidence_value_new_number(leaf);
  for (size_t i = 0; v && i < depth; i++) {
    int list = kind == 0 || (kind == 2 && i % 2);
    confidence_value *c = list ? confidence_value_new_list() : confidence_value_new_struct();
    int rc = list ? confidence_value_list_append(c, v) : confidence_value_struct_set(c, "a", v);
    v = rc ? NULL : c;
    if (rc)
      confidence_value_free(c);
  }
  return v;
}

static confidence_value *deep_value(size_t depth, int kind) { return deep_leaf(depth, kind, 7); }

static const confidence_value *innermost(const confidence_value *v)
{
  while (confidence_value_type_of(v) == CONFIDENCE_VALUE_LIST || confidence_value_type_of(v) == CONFIDENCE_VALUE_STRUCT)
    v = confidence_value_type_of(v) == CONFIDENCE_VALUE_LIST ? confidence_value_list_at(v, 0)
                                                            : confidence_value_struct_value_at(v, 0);
  return v;
}

static void test_deep(void)
{
  for (int kind = 0; kind < 3; kind++) {
    confidence_value *v = deep_value(DEPTH, kind);
    CHECK(v != NULL);
    confidence_value *c = confidence_value_copy(v);
    CHECK(c != NULL);
    CHECK(confidence_value_equal(v, c));
    CHECK(confidence_value_equal(c, v));
    /* Same shape, same leaf: equal; another leaf at the bottom: not. */
    CHECK(confidence_value_number(innermost(c)) == 7);
    confidence_value *same = deep_value(DEPTH, kind), *alt = deep_leaf(DEPTH, kind, 8);
    CHECK(confidence_value_equal(v, same));
    CHECK(!confidence_value_equal(v, alt));
    CHECK(!confidence_value_equal(alt, c));
    confidence_value_free(same);

    char *json = confidence_value_to_json(v);
    CHECK(json != NULL);
    if (json) {
      size_t len = strlen(json), opens = 0, closes = 0;
      for (size_t i = 0; i < len; i++) {
        opens += json[i] == '[' || json[i] == '{';
        closes += json[i] == ']' || json[i] == '}';
      }
      CHECK(opens == DEPTH && closes == DEPTH);
      CHECK(strstr(json, "7") != NULL);
      if (kind == 0)
        CHECK(len == 2 * DEPTH + 1);
      /* Parsing it back hits the parser's documented depth limit. */
      confidence_value *back = NULL;
      CHECK(confidence_value_from_json(json, len, &back) == CONFIDENCE_ELIMIT);
      CHECK(back == NULL);
      CHECK(strstr(confidence_last_error_message(), "deeper") != NULL);
      confidence_string_free(json);
    }
    confidence_value_free(alt);
    confidence_value_free(c);
    confidence_value_free(v);
  }

  /* The JSON limit itself: 2048 levels parse, 2049 do not. */
  char *text = malloc(2 * 2049 + 1);
  for (size_t depth = 2048; depth <= 2049; depth++) {
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    confidence_value *v = NULL;
    int rc = confidence_value_from_json(text, 2 * depth, &v);
    CHECK(rc == (depth == 2048 ? 0 : CONFIDENCE_ELIMIT));
    confidence_value_free(v);
  }
  free(text);
}

/* Runs fn in a child process so that a crash fails this check instead of
 * ending the whole test program. */
static void survives(const char *what, void (*fn)(void))
{
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    fn();
    exit(check_failed ? 1 : 0);
  }
  int status = 0;
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (!WIFEXITED(status))
    fprintf(stderr, "  %s: the child died of signal %d\n", what, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* A deep value under every attribute the spec state's rules read, and as
 * the whole context: the resolve must return (an error is fine). */
static void deep_context_resolve(void)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/state.pb", g_spec_dir);
  confidence_state_options o = CONFIDENCE_STATE_OPTIONS_INIT;
  o.account_id = "test-account";
  confidence_state *st = NULL;
  CHECK(confidence_state_load_file(path, &o, &st) == 0);
  if (!st)
    return;
  /* Attributes under numeric, list, version, time and string rules. */
  static const char *const attrs[] = {"age", "score", "scores", "ids", "tags", "country", "version", "releaseTime"};
  confidence_resolve_result *res = confidence_resolve_result_new();
  for (int kind = 0; kind < 3; kind++) {
    confidence_value *ctx = confidence_value_new_struct();
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
      confidence_value_struct_set(ctx, attrs[i], deep_value(DEPTH, kind));
    confidence_value_struct_set(ctx, "targeting_key",
                                kind == 2 ? deep_value(DEPTH, kind) : confidence_value_new_string("user-1"));
    confidence_value_struct_set(ctx, "deepest", deep_value(DEPTH, kind));
    confidence_resolve_request req;
    memset(&req, 0, sizeof req);
    req.version = CONFIDENCE_RESOLVE_REQUEST_VERSION;
    req.client_secret = "test-secret";
    req.context = ctx;
    int rc = confidence_resolve(st, &req, res);
    CHECK(rc == 0 || rc == CONFIDENCE_ERESOLVE || rc == CONFIDENCE_ELIMIT);
    if (rc == 0)
      CHECK(confidence_resolve_result_flag_count(res) > 0);
    confidence_value_free(ctx);
  }
  /* A deep value as the context itself (a struct chain). */
  confidence_value *ctx = deep_value(DEPTH, 1);
  confidence_resolve_request req;
  memset(&req, 0, sizeof req);
  req.version = CONFIDENCE_RESOLVE_REQUEST_VERSION;
  req.client_secret = "test-secret";
  req.context = ctx;
  int rc = confidence_resolve(st, &req, res);
  CHECK(rc == 0 || rc == CONFIDENCE_ERESOLVE || rc == CONFIDENCE_ELIMIT);
  confidence_value_free(ctx);
  confidence_resolve_result_free(res);
  confidence_state_unref(st);
}

/* ---- wide structs ------------------------------------------------------------------ */

static void test_wide_api(void)
{
  size_t n = wide_n();
  char key[32];
  double t0 = now_s();
  confidence_value *ctx = confidence_value_new_struct();
  int failures = 0;
  for (size_t i = 0; i < n; i++) {
    snprintf(key, sizeof key, "attribute_%zu", i);
    failures += confidence_value_struct_set(ctx, key, confidence_value_new_number((double)i)) != 0;
  }
  double built = now_s() - t0;
  CHECK(failures == 0);
  CHECK(confidence_value_struct_size(ctx) == n);
  /* Every key found, in insertion order. */
  size_t wrong = 0;
  for (size_t i = 0; i < n; i++) {
    snprintf(key, sizeof key, "attribute_%zu", i);
    wrong += confidence_value_number(confidence_value_struct_get(ctx, key)) != (double)i;
    size_t klen = 0;
    const char *k = confidence_value_struct_key_at(ctx, i, &klen);
    wrong += !k || klen != strlen(key) || memcmp(k, key, klen) != 0;
  }
  CHECK(wrong == 0);
  CHECK(confidence_value_struct_get(ctx, "attribute_x") == NULL);
  double looked_up = now_s() - t0;
  printf("  %zu attributes via the API: built in %.2f s, built + %zu lookups in %.2f s\n", n, built, n, looked_up);
  if (!UNDER_VALGRIND())
    CHECK(looked_up <= time_bound());

  /* A later set of an existing key replaces it in place. */
  CHECK(confidence_value_struct_set(ctx, "attribute_5", confidence_value_new_string("five")) == 0);
  CHECK(confidence_value_struct_size(ctx) == n);
  CHECK_STR(confidence_value_string(confidence_value_struct_value_at(ctx, 5), NULL), "five");
  /* Removal keeps the others findable and in order. */
  CHECK(confidence_value_struct_remove(ctx, "attribute_3") == 1);
  CHECK(confidence_value_struct_remove(ctx, "attribute_3") == 0);
  CHECK(confidence_value_struct_get(ctx, "attribute_3") == NULL);
  CHECK(confidence_value_number(confidence_value_struct_get(ctx, "attribute_4")) == 4);
  CHECK_STR(confidence_value_struct_key_at(ctx, 3, NULL), "attribute_4");
  snprintf(key, sizeof key, "attribute_%zu", n - 1);
  CHECK(confidence_value_number(confidence_value_struct_get(ctx, key)) == (double)(n - 1));
  CHECK(confidence_value_struct_set(ctx, "attribute_3", confidence_value_new_bool(1)) == 0);
  CHECK_STR(confidence_value_struct_key_at(ctx, n - 1, NULL), "attribute_3");

  t0 = now_s();
  confidence_value *copy = confidence_value_copy(ctx);
  double t1 = now_s();
  CHECK(confidence_value_equal(ctx, copy));
  double t2 = now_s();
  char *json = confidence_value_to_json(copy);
  CHECK(json != NULL);
  double t3 = now_s();
  printf("  %zu attributes: copy %.2f s, equal %.2f s, to_json %.2f s\n", n, t1 - t0, t2 - t1, t3 - t2);
  if (!UNDER_VALGRIND())
    CHECK(t3 - t0 <= time_bound());
  confidence_value *back = NULL;
  CHECK(json && confidence_value_from_json(json, strlen(json), &back) == 0);
  CHECK(confidence_value_equal(back, ctx));
  confidence_value_free(back);
  confidence_string_free(json);
  confidence_value_free(copy);
  confidence_value_free(ctx);

  /* Keys that differ only after a NUL, and the empty key, stay apart. */
  confidence_value *s = confidence_value_new_struct();
  for (int i = 0; i < 40; i++) {
    char k[3] = {'k', 0, (char)i};
    confidence_value_struct_set_len(s, k, 3, confidence_value_new_number(i));
  }
  confidence_value_struct_set_len(s, NULL, 0, confidence_value_new_number(-1));
  CHECK(confidence_value_struct_size(s) == 41);
  char k7[3] = {'k', 0, 7};
  CHECK(confidence_value_struct_set_len(s, k7, 3, confidence_value_new_number(70)) == 0);
  CHECK(confidence_value_struct_size(s) == 41);
  CHECK(confidence_value_number(confidence_value_struct_value_at(s, 7)) == 70);
  CHECK(confidence_value_number(confidence_value_struct_get(s, "")) == -1);
  confidence_value_free(s);
}

static void test_wide_json(void)
{
  size_t n = wide_n();
  size_t cap = n * 32 + 64, len = 0;
  char *text = malloc(cap);
  text[len++] = '{';
  for (size_t i = 0; i < n; i++)
    len += (size_t)snprintf(text + len, cap - len, "%s\"attribute_%zu\":%zu", i ? "," : "", i, i);
  /* A later duplicate key wins (and keeps the first one's place). */
  len += (size_t)snprintf(text + len, cap - len, ",\"attribute_0\":\"last\"}");
  double t0 = now_s();
  confidence_value *v = NULL;
  int rc = confidence_value_from_json(text, len, &v);
  CHECK(rc == 0);
  size_t wrong = 0;
  char key[32];
  for (size_t i = 1; v && i < n; i++) {
    snprintf(key, sizeof key, "attribute_%zu", i);
    wrong += confidence_value_number(confidence_value_struct_get(v, key)) != (double)i;
  }
  double took = now_s() - t0;
  CHECK(wrong == 0);
  CHECK(confidence_value_struct_size(v) == n);
  CHECK_STR(confidence_value_string(confidence_value_struct_get(v, "attribute_0"), NULL), "last");
  CHECK_STR(confidence_value_struct_key_at(v, 0, NULL), "attribute_0");
  printf("  %zu attributes from JSON (%zu bytes): parsed + %zu lookups in %.2f s\n", n, len, n, took);
  if (!UNDER_VALGRIND())
    CHECK(took <= time_bound());
  confidence_value_free(v);
  free(text);
}

/* to_json prints integers by a fast path: it must agree with the general
 * shortest round-trip formatter everywhere. */
static void test_integer_text(void)
{
  const double edges[] = {1, -1, 9, 10, 99, 100, 1e15, 1e16 - 2, 9007199254740991.0, -9007199254740991.0,
                          9007199254740992.0, 9007199254740993.0, 1e17, 123456789012.0, -0.0, 0.0, 0.5, 1e300};
  uint64_t x = 0x243f6a8885a308d3u;
  int wrong = 0;
  for (size_t i = 0; i < 30000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double d = i < sizeof edges / sizeof edges[0] ? edges[i]
                                                   : (double)(int64_t)(x >> (11 + i % 50)) * (i % 2 ? -1 : 1);
    char want[CF_NUMBUF];
    cf_fmt_f64(d, want);
    confidence_value *v = confidence_value_new_number(d);
    char *got = confidence_value_to_json(v);
    if (!got || strcmp(got, want)) {
      if (wrong++ < 5)
        fprintf(stderr, "  %.17g: to_json %s, formatter %s\n", d, got ? got : "(null)", want);
    }
    confidence_string_free(got);
    confidence_value_free(v);
  }
  CHECK(wrong == 0);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: %s RESOLVER_SPEC_DIR\n", argv[0]);
    return 2;
  }
  g_spec_dir = argv[1];
  struct {
    const char *name;
    void (*fn)(void);
  } parts[] = {{"country codes", test_country_codes},
               {"country codes through evaluations", test_country_codes_evaluated},
               {"deep values", test_deep},
               {"integer text", test_integer_text}, {"wide via API", test_wide_api},
               {"wide via JSON", test_wide_json}};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    double t0 = now_s();
    parts[i].fn();
    printf("%s: %.2f s\n", parts[i].name, now_s() - t0);
  }
  double t0 = now_s();
  survives("resolve with 200,000-level context values", deep_context_resolve);
  printf("deep contexts through confidence_resolve: %.2f s\n", now_s() - t0);
  return check_finish();
}
