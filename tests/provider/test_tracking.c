/* All-flags evaluation equals resolving each flag alone (sample state and
 * the resolver-spec state), plus the track call's failure accounting and
 * the event encoder's limits. No network: exposures and events
 * stay queued (nothing listens at the log URL and nothing is flushed).
 * Usage: test_tracking BUILD_DIR SPEC_DIR */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "confidence/confidence.h"
#include "event_log.h"

static confidence_provider *provider_for(const char *state, const char *account, const char *secret)
{
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  o.client_secret = secret;
  o.state_file = state;
  o.account_id = account;
  o.disable_state_sync = 1;
  o.flag_log_grpc_url = o.events_grpc_url = "http://127.0.0.1:9";
  o.log_poll_interval_ms = 600000;
  confidence_provider *p = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  CHECK(p && confidence_provider_start(p, 5000) == 0);
  return p;
}

/* Resolves `flag` alone into `res`; returns the resolve's code. */
static int resolve_alone(const confidence_state *st, const char *secret, const confidence_value *ctx, const char *flag,
                         confidence_resolve_result *res)
{
  const char *flags[1] = {flag};
  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = secret;
  req.flags = flags;
  req.flag_count = 1;
  req.context = ctx;
  return confidence_resolve(st, &req, res);
}

/* One entry of the all-flags tree against a resolve of that flag alone. */
static void check_entry(confidence_provider *p, confidence_state *st, const char *secret, const confidence_value *ctx,
                        const confidence_value *entry, confidence_resolve_result *res)
{
  const char *flag = confidence_value_string(confidence_value_struct_get(entry, "flag"), NULL);
  CHECK(resolve_alone(st, secret, ctx, flag, res) == 0 && confidence_resolve_result_flag_count(res) == 1);
  const confidence_resolved_flag *f = confidence_resolve_result_flag_at(res, 0);
  const char *variant = confidence_value_string(confidence_value_struct_get(entry, "variant"), NULL);
  CHECK_STR(variant, confidence_resolved_flag_variant(f));
  CHECK_STR(confidence_value_string(confidence_value_struct_get(entry, "reason"), NULL),
            confidence_resolve_reason_name(confidence_resolved_flag_reason(f)));
  const confidence_value *value = confidence_value_struct_get(entry, "value"), *want = confidence_resolved_flag_value(f);
  CHECK(value ? want && confidence_value_equal(value, want) : !want);
  CHECK(confidence_value_bool(confidence_value_struct_get(entry, "shouldApply")) == confidence_resolved_flag_should_apply(f));
  /* and what a getter reports for it */
  confidence_details *d = confidence_details_new();
  confidence_value *got = confidence_provider_get_object(p, flag, ctx, NULL, d);
  CHECK_STR(confidence_details_variant(d), variant);
  CHECK(*variant ? got && want && confidence_value_equal(got, want) : got == NULL);
  confidence_value_free(got);
  confidence_details_free(d);
}

/* True when resolving some flag of the state alone fails as a whole. */
static bool some_flag_fails(confidence_provider *p, const char *secret, const confidence_value *ctx)
{
  confidence_state *st = confidence_provider_state(p);
  confidence_resolve_result *res = confidence_resolve_result_new();
  bool failed = false;
  for (size_t i = 0; i < confidence_state_flag_count(st) && !failed; i++)
    failed = resolve_alone(st, secret, ctx, confidence_state_flag_name_at(st, i), res) == CONFIDENCE_ERESOLVE;
  confidence_resolve_result_free(res);
  confidence_state_unref(st);
  return failed;
}

/* evaluate_all for `ctx` against every flag of the state resolved alone. */
static void check_all(confidence_provider *p, const char *secret, const confidence_value *ctx, size_t *flags_seen)
{
  confidence_value *tree = NULL;
  char *json = NULL;
  int rc = confidence_provider_evaluate_all(p, ctx, 0, &tree, &json);
  if (rc) { /* a resolve that fails as a whole ("[10, \"text\"]" vs a range) fails for some flag alone too */
    CHECK(rc == CONFIDENCE_ERESOLVE && some_flag_fails(p, secret, ctx));
    return;
  }
  confidence_state *st = confidence_provider_state(p);
  confidence_resolve_result *res = confidence_resolve_result_new();
  const confidence_value *list = confidence_value_struct_get(tree, "resolvedFlags");
  for (size_t i = 0; i < confidence_value_list_size(list); i++)
    check_entry(p, st, secret, ctx, confidence_value_list_at(list, i), res);
  /* every flag that resolves alone is in the list */
  size_t resolvable = 0;
  for (size_t i = 0; i < confidence_state_flag_count(st); i++)
    resolvable += resolve_alone(st, secret, ctx, confidence_state_flag_name_at(st, i), res) == 0 &&
                  confidence_resolve_result_flag_count(res) == 1;
  CHECK(confidence_value_list_size(list) == resolvable);
  *flags_seen += resolvable;
  confidence_value *parsed = NULL; /* the JSON is the tree */
  CHECK(json && confidence_value_from_json(json, strlen(json), &parsed) == 0 && confidence_value_equal(parsed, tree));
  confidence_value_free(parsed);
  confidence_resolve_result_free(res);
  confidence_state_unref(st);
  confidence_string_free(json);
  confidence_value_free(tree);
}

static confidence_provider *sample_provider(const char *build)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/sample/state.pb", build);
  return provider_for(path, "demo-shop-account", "demo-client-secret");
}

static void test_sample_state(const char *build)
{
  confidence_provider *p = sample_provider(build);
  static const char *const countries[] = {"SE", "US", "DE", "GB"};
  static const char *const versions[] = {"1.0.0", "2.0.0", "2.5.1", "0.9"};
  size_t seen = 0;
  check_all(p, "demo-client-secret", NULL, &seen);
  for (int i = 0; i < 200; i++) {
    confidence_value *ctx = confidence_value_new_struct();
    char key[32];
    snprintf(key, sizeof key, "user-%d", i);
    if (i % 10)
      confidence_value_struct_set(ctx, "targeting_key", confidence_value_new_string(key));
    confidence_value_struct_set(ctx, "country", confidence_value_new_string(countries[i % 4]));
    confidence_value_struct_set(ctx, "app_version", confidence_value_new_string(versions[i / 4 % 4]));
    confidence_value_struct_set(ctx, "beta", confidence_value_new_bool(i % 3 == 0));
    check_all(p, "demo-client-secret", ctx, &seen);
    confidence_value_free(ctx);
  }
  printf("sample state: %zu flag results compared\n", seen);
  CHECK(seen > 200);
  confidence_provider_free(p);
}

static void test_spec_state(const char *spec)
{
  char path[4096], tests[4096];
  snprintf(path, sizeof path, "%s/state.pb", spec);
  snprintf(tests, sizeof tests, "%s/tests.json", spec);
  confidence_provider *p = provider_for(path, "test-account", "test-secret");
  json_t *cases = json_load_file(tests, 0, NULL);
  CHECK(json_is_array(cases));
  size_t i, seen = 0;
  json_t *c;
  json_array_foreach(cases, i, c)
  {
    json_t *ctx_json = json_object_get(json_object_get(c, "resolveRequest"), "evaluationContext");
    char *text = ctx_json ? json_dumps(ctx_json, JSON_COMPACT) : NULL;
    confidence_value *ctx = NULL;
    if (text && confidence_value_from_json(text, strlen(text), &ctx) == 0)
      check_all(p, "test-secret", ctx, &seen);
    confidence_value_free(ctx);
    free(text);
  }
  printf("spec state: %zu flag results compared over %zu contexts\n", seen, json_array_size(cases));
  CHECK(seen > 166);
  json_decref(cases);
  confidence_provider_free(p);
}

static void test_track_accounting(const char *build)
{
  confidence_provider *p = sample_provider(build);
  confidence_value *num = confidence_value_new_number(1), *ctx = confidence_value_new_struct();
  confidence_track_details bad = {99};
  confidence_provider_track(p, NULL, ctx, NULL);              /* no name */
  confidence_provider_track(p, "x", num, NULL);               /* context not a struct */
  confidence_provider_track(p, "\xff", ctx, NULL);            /* invalid UTF-8 */
  confidence_provider_track(p, "x", ctx, &bad);               /* unknown details version */
  confidence_provider_track(p, "ok", ctx, NULL);
  confidence_provider_track(NULL, "ok", ctx, NULL);           /* no provider: nothing */
  confidence_event_stats s = CONFIDENCE_EVENT_STATS_INIT;
  CHECK(confidence_provider_read_event_stats(p, &s) == 0);
  CHECK(s.tracked == 5 && s.invalid == 4 && s.queued == 1 && s.dropped == 0);
  CHECK(confidence_provider_evaluate_all(p, num, 0, NULL, NULL) == CONFIDENCE_EINVAL);
  confidence_metrics_options mo = CONFIDENCE_METRICS_OPTIONS_INIT;
  mo.instance = "a\"b\n";
  char *text = NULL;
  CHECK(confidence_provider_metrics(p, &mo, &text) == 0 && strstr(text, "resolver_id=\"a\\\"b\\n\"") &&
        strstr(text, "confidence_events_invalid_total{resolver_id=\"a\\\"b\\n\"} 4\n"));
  confidence_string_free(text);
  mo.version = 7;
  CHECK(confidence_provider_metrics(p, &mo, &text) == CONFIDENCE_EINVAL && text == NULL);
  confidence_value_free(num);
  confidence_value_free(ctx);
  confidence_provider_free(p);
}

/* Nesting past CF_EVENT_MAX_DEPTH is refused, at the limit accepted. */
static void test_depth_limit(void)
{
  for (int depth = CF_EVENT_MAX_DEPTH - 1; depth <= CF_EVENT_MAX_DEPTH + 1; depth++) {
    confidence_value *v = confidence_value_new_number(1);
    for (int i = 1; i < depth; i++) {
      confidence_value *s = confidence_value_new_struct();
      confidence_value_struct_set(s, "k", v);
      v = s;
    }
    confidence_value *data = confidence_value_new_struct();
    confidence_value_struct_set(data, "d", v);
    cf_wbuf b;
    int rc = cf_event_encode("e", NULL, NULL, data, 0, &b);
    CHECK(depth <= CF_EVENT_MAX_DEPTH ? rc == 0 : rc == CONFIDENCE_ELIMIT);
    free(b.p);
    confidence_value_free(data);
  }
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: test_tracking BUILD_DIR SPEC_DIR\n");
    return 2;
  }
  test_sample_state(argv[1]);
  test_spec_state(argv[2]);
  test_track_accounting(argv[1]);
  test_depth_limit();
  return check_finish();
}
