/* The remote store (use_remote_materialization_store) against the local
 * backend's InternalFlagLoggerService: the shared scenarios (states served
 * by the backend's CDN, updated through its control API), what the backend
 * stored, and its faults on the two RPCs: UNAVAILABLE and a slow answer
 * past the read timeout give the default + GENERAL within the timeout; the
 * next evaluation recovers. Usage: test_store_remote REPO STATES_DIR */
#include "store_scenarios.h"
#include "testserver_client.h"

#include "clock.h"

static ts_server sticky_server, custom_server;

static void remote_configure(confidence_provider_options *o, int read_only)
{
  CHECK(!read_only); /* Confidence's store always writes */
  const ts_server *s = strcmp(o->client_secret, CUSTOM_SECRET) == 0 ? &custom_server : &sticky_server;
  static char cdn[2][64], grpc[2][64];
  int i = s == &custom_server;
  snprintf(cdn[i], sizeof cdn[i], "http://127.0.0.1:%d", s->http);
  snprintf(grpc[i], sizeof grpc[i], "http://127.0.0.1:%d", s->grpc);
  o->cdn_base_url = cdn[i];
  o->flag_log_grpc_url = grpc[i];
  o->transport = NULL; /* the real client, h2c */
  o->use_remote_materialization_store = 1;
}

static void remote_seed(const char *unit, const char *mat)
{
  char doc[512];
  snprintf(doc, sizeof doc, "{\"inclusions\": [{\"unit\": \"%s\", \"materialization\": \"%s\"}]}", unit, mat);
  ts_post_json(&custom_server, "/control/materializations", doc);
}

/* Both backends get the state: each scenario serves the one it needs. */
static void remote_serve(uint8_t *bytes, size_t len)
{
  json_decref(ts_control(&sticky_server, "POST", "/control/state", bytes, len));
  json_decref(ts_control(&custom_server, "POST", "/control/state", bytes, len));
  free(bytes);
}

static const store_kind remote_kind = {"remote", remote_configure, remote_seed, remote_serve, 1};

/* The sticky scenario's assignment reached the backend's store. */
static void test_backend_contents(void)
{
  json_t *dump = ts_control(&sticky_server, "GET", "/control/materializations", NULL, 0);
  json_t *variants = json_object_get(dump, "variants");
  bool found = false;
  size_t i;
  json_t *v;
  json_array_foreach(variants, i, v)
  {
    found |= strcmp(json_string_value(json_object_get(v, "unit")), "sticky-remote") == 0 &&
             strcmp(json_string_value(json_object_get(v, "materialization")), "experiment_1") == 0;
  }
  CHECK(found);
  json_decref(dump);
}

static void expect_default(confidence_provider *p, const char *unit, const char *needle, int64_t max_ms)
{
  int64_t t0 = cf_clock_ms();
  confidence_details *d = confidence_details_new();
  confidence_value *ctx = unit_context(unit, NULL);
  confidence_value_free(confidence_provider_get_object(p, "sticky-flag-3", ctx, NULL, d));
  int64_t took = cf_clock_ms() - t0;
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_GENERAL);
  CHECK(strstr(confidence_details_error_message(d), needle) != NULL ||
        !fprintf(stderr, "message: %s\n", confidence_details_error_message(d)));
  CHECK(took < max_ms);
  fprintf(stderr, "remote fault: '%s' after %lld ms\n", confidence_details_error_message(d), (long long)took);
  confidence_details_free(d);
  confidence_value_free(ctx);
}

static void test_faults(const char *states)
{
  cdn_serve_file(states, STICKY_STATE);
  confidence_provider_options extra = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  extra.materialization_read_timeout_ms = 400;
  confidence_provider *p = start_provider(&remote_kind, "test-secret", 0, &extra);
  ts_post_json(&sticky_server, "/control/faults",
               "{\"grpc\": {\"mode\": \"unavailable\", \"method\": \"ReadMaterializedOperations\"}}");
  expect_default(p, "fault-unit", "status 14", 1000);
  ts_post_json(&sticky_server, "/control/faults",
               "{\"grpc\": {\"mode\": \"slow\", \"seconds\": 2, \"method\": \"ReadMaterializedOperations\"}}");
  expect_default(p, "fault-unit", "ReadMaterializedOperations", 1000);
  ts_post_json(&sticky_server, "/control/faults", "{}");
  int code = -1;
  char *v = variant_of(p, "sticky-flag-3", "fault-unit", NULL, &code);
  CHECK(code == 0 && *v); /* recovered */
  free(v);
  /* a failing write changes no answer; it is counted */
  ts_post_json(&sticky_server, "/control/faults",
               "{\"grpc\": {\"mode\": \"internal\", \"method\": \"WriteMaterializedOperations\"}}");
  v = variant_of(p, "sticky-flag-3", "write-fault-unit", NULL, &code);
  CHECK(code == 0 && *v);
  free(v);
  ts_post_json(&sticky_server, "/control/faults", "{}");
  confidence_store_stats s = CONFIDENCE_STORE_STATS_INIT;
  confidence_provider_read_store_stats(p, &s);
  CHECK(s.read_failures == 2 && s.write_failures == 1);
  confidence_provider_free(p);
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: test_store_remote REPO STATES_DIR\n");
    return 2;
  }
  char sticky[4096], custom[4096];
  snprintf(sticky, sizeof sticky, "%s/%s", argv[2], STICKY_STATE);
  snprintf(custom, sizeof custom, "%s/%s", argv[2], CUSTOM_STATE);
  CHECK(ts_start(&sticky_server, argv[1], sticky, &(ts_options){.secret = "test-secret", .account = ACCOUNT}));
  CHECK(ts_start(&custom_server, argv[1], custom, &(ts_options){.secret = CUSTOM_SECRET, .account = ACCOUNT}));
  run_scenarios(&remote_kind, argv[2], "remote");
  test_backend_contents();
  test_faults(argv[2]);
  ts_stop(&sticky_server);
  ts_stop(&custom_server);
  return check_finish();
}
