/* Provider against the real local backend (tools/testserver): CDN sync with
 * ETags, exposure delivery over gRPC and HTTP ingest, and the fault matrix.
 * The server is started and stopped here, on 127.0.0.1 only.
 * Usage: test_integration REPO_DIR BUILD_DIR */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "confidence/confidence.h"
#include "confidence/provider.h"

#define SECRET "demo-client-secret"
#define ACCOUNT "demo-shop-account"

static const char *repo, *build;
static char state_v1[4096], state_v2[4096], state_cf[4096];

/* ---- the server ------------------------------------------------------------ */

typedef struct server {
  pid_t pid;
  int stdin_fd;
  int http, grpc;
} server;

static bool server_start(server *s, const char *state, const char *key)
{
  char script[4200], ports[4200];
  snprintf(script, sizeof script, "%s/tools/testserver/server.py", repo);
  snprintf(ports, sizeof ports, "%s/testserver-%d.ports", build, (int)getpid());
  unlink(ports);
  int in[2], out[2];
  if (pipe(in) || pipe(out))
    return false;
  s->pid = fork();
  if (s->pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[1]);
    close(out[0]);
    if (key)
      execlp("python3", "python3", script, "--state", state, "--secret", SECRET, "--ports-file", ports,
             "--max-lifetime", "300", "--exit-on-stdin-eof", "--encryption-key", key, (char *)NULL);
    else
      execlp("python3", "python3", script, "--state", state, "--secret", SECRET, "--ports-file", ports,
             "--max-lifetime", "300", "--exit-on-stdin-eof", (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  s->stdin_fd = in[1];
  FILE *f = fdopen(out[0], "r");
  char line[256] = "";
  bool ready = f && fgets(line, sizeof line, f) && sscanf(line, "READY http=%d grpc=%d", &s->http, &s->grpc) == 2;
  if (f)
    fclose(f);
  if (!ready)
    fprintf(stderr, "test server did not start (got '%s')\n", line);
  return ready;
}

static void server_stop(server *s)
{
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGTERM);
  close(s->stdin_fd);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

/* ---- control API ----------------------------------------------------------- */

typedef struct body {
  char *p;
  size_t n;
} body;

static size_t collect(char *data, size_t size, size_t n, void *user)
{
  body *b = user;
  char *np = realloc(b->p, b->n + size * n + 1);
  if (!np)
    return 0;
  memcpy(np + b->n, data, size * n);
  b->p = np;
  b->n += size * n;
  b->p[b->n] = '\0';
  return size * n;
}

/* Returns the JSON answer (owned) of a control call; `data` may be NULL. */
static json_t *control(const server *s, const char *method, const char *path, const void *data, size_t len)
{
  char url[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->http, path);
  CURL *c = curl_easy_init();
  body b = {0};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  if (data) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
  }
  CURLcode rc = curl_easy_perform(c);
  curl_easy_cleanup(c);
  json_t *j = rc == CURLE_OK && b.p ? json_loads(b.p, 0, NULL) : NULL;
  free(b.p);
  return j;
}

static void set_faults(const server *s, const char *json) { json_decref(control(s, "POST", "/control/faults", json, strlen(json))); }

static void put_state(const server *s, const char *path)
{
  FILE *f = fopen(path, "rb");
  char buf[65536];
  size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f)
    fclose(f);
  json_decref(control(s, "POST", "/control/state", buf, n));
}

/* Applied flags the backend accepted, as "flag|variant|key" -> count. */
static json_int_t applied_count(const server *s, const char *flag, const char *variant, const char *key)
{
  json_t *sum = control(s, "GET", "/control/summary", NULL, 0);
  json_int_t total = 0;
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(sum, "applied"), i, a)
  {
    if (!strcmp(json_string_value(json_object_get(a, "flag")), flag) &&
        (!variant || !strcmp(json_string_value(json_object_get(a, "variant")), variant)) &&
        (!key || !strcmp(json_string_value(json_object_get(a, "targeting_key")), key)))
      total += json_integer_value(json_object_get(a, "count"));
  }
  json_decref(sum);
  return total;
}

static json_int_t summary_int(const server *s, const char *field)
{
  json_t *sum = control(s, "GET", "/control/summary", NULL, 0);
  json_int_t v = json_integer_value(json_object_get(sum, field));
  json_decref(sum);
  return v;
}

/* CDN answers of a given status recorded so far. */
static int cdn_answers(const server *s, int status)
{
  json_t *r = control(s, "GET", "/control/received", NULL, 0);
  int n = 0;
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(r, "cdn"), i, c) n += json_integer_value(json_object_get(c, "status")) == status;
  json_decref(r);
  return n;
}

/* ---- provider helpers --------------------------------------------------------- */

typedef struct events {
  pthread_mutex_t mu;
  int ready, stale, error, changed;
  char changed_flag[128];
  size_t changed_count;
  bool secret_logged;
  int log_lines;
} events;

static void on_event(const confidence_event *ev, void *user)
{
  events *e = user;
  pthread_mutex_lock(&e->mu);
  if (ev->type == CONFIDENCE_EVENT_READY)
    e->ready++;
  if (ev->type == CONFIDENCE_EVENT_STALE)
    e->stale++;
  if (ev->type == CONFIDENCE_EVENT_ERROR)
    e->error++;
  if (ev->type == CONFIDENCE_EVENT_CONFIGURATION_CHANGED) {
    e->changed++;
    if (ev->flags_changed_count)
      snprintf(e->changed_flag, sizeof e->changed_flag, "%s", ev->flags_changed[0]);
    e->changed_count = ev->flags_changed_count;
  }
  if (strstr(ev->message, SECRET))
    e->secret_logged = true;
  pthread_mutex_unlock(&e->mu);
}

static void on_log(int level, const char *message, void *user)
{
  events *e = user;
  if (getenv("CONFIDENCE_TEST_VERBOSE"))
    fprintf(stderr, "[provider %d] %s\n", level, message);
  pthread_mutex_lock(&e->mu);
  e->log_lines++;
  if (strstr(message, SECRET))
    e->secret_logged = true;
  pthread_mutex_unlock(&e->mu);
}

static confidence_provider *provider_for(const server *s, events *ev, uint32_t max_queued, uint32_t stale_after_ms,
                                        const char *key)
{
  char cdn[128], grpc[128], ingest[160];
  snprintf(cdn, sizeof cdn, "http://127.0.0.1:%d", s->http);
  snprintf(grpc, sizeof grpc, "http://127.0.0.1:%d", s->grpc);
  snprintf(ingest, sizeof ingest, "http://127.0.0.1:%d/v1/flagLogs:ingest", s->http);
  confidence_provider_options o;
  confidence_provider_options_init(&o, CONFIDENCE_PROVIDER_OPTIONS_VERSION);
  o.client_secret = SECRET;
  o.cdn_base_url = cdn;
  o.flag_log_grpc_url = grpc;
  o.ingest_url = ingest;
  o.state_poll_interval_ms = 200;
  o.log_poll_interval_ms = 600000; /* tests flush explicitly */
  o.http_timeout_ms = 2000;
  o.stale_after_ms = stale_after_ms;
  o.max_queued_exposures = max_queued;
  o.on_event = on_event;
  o.event_user_data = ev;
  o.log = on_log;
  o.log_level = CONFIDENCE_LOG_DEBUG;
  o.log_user_data = ev;
  o.encryption_key_hex = key;
  confidence_provider *p = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  return p;
}

static bool wait_for(confidence_provider *p, int status, int ms)
{
  for (int waited = 0; waited < ms; waited += 20) {
    if (confidence_provider_status(p) == status)
      return true;
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
  }
  return confidence_provider_status(p) == status;
}

static confidence_value *user(const char *key, const char *country)
{
  confidence_value *v = confidence_value_new_struct();
  confidence_value_struct_set(v, "targeting_key", confidence_value_new_string(key));
  confidence_value_struct_set(v, "country", confidence_value_new_string(country));
  return v;
}

/* ---- scenarios ------------------------------------------------------------------ */

/* Every evaluation's exposure arrives, with its flag, variant and key,
 * including those still queued at shutdown; updates arrive within a poll. */
static void test_exposures_and_updates(void)
{
  server s = {0};
  CHECK(server_start(&s, state_v1, NULL));
  events ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
  confidence_provider *p = provider_for(&s, &ev, 0, 0, NULL);
  CHECK(confidence_provider_start(p, 5000) == 0);
  CHECK(confidence_provider_status(p) == CONFIDENCE_STATUS_READY);
  confidence_details *d = confidence_details_new();
  int on = 0, off = 0;
  for (int i = 0; i < 40; i++) {
    char key[32];
    snprintf(key, sizeof key, "user-%d", i);
    confidence_value *ctx = user(key, i % 2 ? "SE" : "US"); /* SE users are beta testers */
    int v = confidence_provider_get_bool(p, "new-checkout.enabled", ctx, -1, d);
    CHECK(v == (i % 2 ? 1 : 0));
    CHECK(confidence_details_reason(d) == CONFIDENCE_EVAL_REASON_TARGETING_MATCH);
    if (i == 5)
      CHECK(confidence_provider_flush(p, 5000) == 0); /* some sent early, the rest at shutdown */
    if (v)
      on++;
    else
      off++;
    confidence_value_free(ctx);
  }
  /* Updates: a new state is picked up within a poll or two; 304s before. */
  struct timespec ts = {0, 500 * 1000000};
  nanosleep(&ts, NULL);
  CHECK(cdn_answers(&s, 304) >= 1);
  put_state(&s, state_v2);
  confidence_value *us = user("user-x", "US");
  bool switched = false;
  for (int waited = 0; waited < 2000 && !switched; waited += 50) {
    switched = confidence_provider_get_bool(p, "new-checkout.enabled", us, -1, NULL) == 1;
    struct timespec t = {0, 50 * 1000000};
    nanosleep(&t, NULL);
  }
  CHECK(switched);
  pthread_mutex_lock(&ev.mu);
  CHECK(ev.changed >= 1);
  CHECK_STR(ev.changed_flag, "flags/new-checkout");
  CHECK(ev.changed_count == 1); /* only the flag whose definition changed */
  pthread_mutex_unlock(&ev.mu);
  CHECK(confidence_provider_shutdown(p, 10000) == 0);

  json_int_t on_sent = applied_count(&s, "flags/new-checkout", "flags/new-checkout/variants/on", NULL);
  json_int_t off_sent = applied_count(&s, "flags/new-checkout", "flags/new-checkout/variants/off", NULL);
  json_int_t x_sent = applied_count(&s, "flags/new-checkout", "flags/new-checkout/variants/on", "user-x");
  json_int_t x_off = applied_count(&s, "flags/new-checkout", "flags/new-checkout/variants/off", "user-x");
  CHECK(off_sent - x_off == off); /* user-x polled v1 (off) until the switch */
  CHECK(on_sent - x_sent == on);
  CHECK(applied_count(&s, "flags/new-checkout", NULL, "user-7") == 1);
  confidence_provider_stats st = CONFIDENCE_PROVIDER_STATS_INIT;
  CHECK(confidence_provider_read_stats(p, &st) == 0);
  CHECK(st.exposures_dropped == 0);
  CHECK((json_int_t)st.exposures_sent == summary_int(&s, "flag_assigned"));
  pthread_mutex_lock(&ev.mu);
  CHECK(!ev.secret_logged);
  CHECK(ev.log_lines > 0);
  pthread_mutex_unlock(&ev.mu);
  confidence_details_free(d);
  confidence_value_free(us);
  confidence_provider_free(p);
  server_stop(&s);
}

/* CDN down at start: NOT_READY, then READY once it answers. Later failures
 * of every kind keep the last good state and lead to STALE. */
static void test_cdn_faults(void)
{
  server s = {0};
  CHECK(server_start(&s, state_v1, NULL));
  set_faults(&s, "{\"cdn\": {\"mode\": \"status\", \"status\": 503, \"count\": 3}}");
  events ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
  confidence_provider *p = provider_for(&s, &ev, 0, 600, NULL);
  CHECK(confidence_provider_start(p, 0) == 0);
  CHECK(confidence_provider_status(p) == CONFIDENCE_STATUS_NOT_READY);
  CHECK(wait_for(p, CONFIDENCE_STATUS_READY, 5000));
  confidence_value *se = user("u1", "SE");
  CHECK(confidence_provider_get_bool(p, "new-checkout.enabled", se, 0, NULL) == 1);

  const char *faults[] = {
      "{\"cdn\": {\"mode\": \"status\", \"status\": 500}}",
      "{\"cdn\": {\"mode\": \"timeout\", \"seconds\": 3}}",
      "{\"cdn\": {\"mode\": \"corrupt\"}}",
      "{\"cdn\": {\"mode\": \"truncate\"}}",
  };
  for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
    confidence_provider_stats before = CONFIDENCE_PROVIDER_STATS_INIT, after = CONFIDENCE_PROVIDER_STATS_INIT;
    CHECK(confidence_provider_read_stats(p, &before) == 0);
    set_faults(&s, faults[i]);
    CHECK(wait_for(p, CONFIDENCE_STATUS_STALE, 8000));
    CHECK(confidence_provider_read_stats(p, &after) == 0);
    CHECK(after.state_fetch_failures > before.state_fetch_failures);
    /* The good state keeps serving, flagged as stale. */
    confidence_details *d = confidence_details_new();
    CHECK(confidence_provider_get_bool(p, "new-checkout.enabled", se, 0, d) == 1);
    CHECK(confidence_details_reason(d) == CONFIDENCE_EVAL_REASON_STALE);
    confidence_details_free(d);
    set_faults(&s, "{}");
    CHECK(wait_for(p, CONFIDENCE_STATUS_READY, 8000));
  }
  pthread_mutex_lock(&ev.mu);
  CHECK(ev.stale >= 4);
  CHECK(ev.ready >= 5);
  CHECK(!ev.secret_logged);
  pthread_mutex_unlock(&ev.mu);
  confidence_value_free(se);
  confidence_provider_free(p);
  server_stop(&s);
}

/* Encrypted CDN state: loads with the key; a payload sealed with another
 * key never replaces the good state. */
static void test_encrypted(void)
{
  const char *key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  server s = {0};
  CHECK(server_start(&s, state_v1, key));
  events ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
  confidence_provider *p = provider_for(&s, &ev, 0, 600, key);
  CHECK(confidence_provider_start(p, 5000) == 0);
  confidence_value *se = user("u1", "SE");
  CHECK(confidence_provider_get_bool(p, "new-checkout.enabled", se, 0, NULL) == 1);
  set_faults(&s, "{\"cdn\": {\"mode\": \"wrong_key\"}}");
  put_state(&s, state_v2); /* a real change, but sealed with the wrong key */
  CHECK(wait_for(p, CONFIDENCE_STATUS_STALE, 8000));
  confidence_value *us = user("u2", "US");
  CHECK(confidence_provider_get_bool(p, "new-checkout.enabled", us, -1, NULL) == 0); /* still v1 */
  set_faults(&s, "{}");
  CHECK(wait_for(p, CONFIDENCE_STATUS_READY, 8000));
  CHECK(confidence_provider_get_bool(p, "new-checkout.enabled", us, -1, NULL) == 1); /* now v2 */
  confidence_value_free(se);
  confidence_value_free(us);
  confidence_provider_free(p);
  server_stop(&s);
}

/* The sink down then up: nothing lost within the bound, exact drops beyond;
 * UNAVAILABLE is retried; Cloudflare ingest falls back to the edge. */
static void test_log_faults(void)
{
  server s = {0};
  CHECK(server_start(&s, state_v1, NULL));
  events ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
  confidence_provider *p = provider_for(&s, &ev, 25, 0, NULL);
  CHECK(confidence_provider_start(p, 5000) == 0);
  confidence_value *se = user("u-sink", "SE");

  set_faults(&s, "{\"grpc\": {\"mode\": \"unavailable\", \"count\": 2}}");
  for (int i = 0; i < 5; i++)
    confidence_provider_get_bool(p, "new-checkout.enabled", se, 0, NULL);
  CHECK(confidence_provider_flush(p, 15000) == 0); /* third attempt succeeds */
  CHECK(applied_count(&s, "flags/new-checkout", NULL, "u-sink") == 5);

  set_faults(&s, "{\"grpc\": {\"mode\": \"unavailable\"}}");
  for (int i = 0; i < 40; i++)
    confidence_provider_get_bool(p, "new-checkout.enabled", se, 0, NULL);
  CHECK(confidence_provider_flush(p, 15000) != 0);
  confidence_provider_stats st = CONFIDENCE_PROVIDER_STATS_INIT;
  CHECK(confidence_provider_read_stats(p, &st) == 0);
  CHECK(st.exposures_dropped == 15);
  CHECK(st.exposures_queued == 25);
  set_faults(&s, "{}");
  CHECK(confidence_provider_flush(p, 15000) == 0);
  CHECK(applied_count(&s, "flags/new-checkout", NULL, "u-sink") == 30);
  confidence_value_free(se);
  confidence_provider_free(p);
  server_stop(&s);

  /* Cloudflare first, edge as fallback. */
  server s2 = {0};
  CHECK(server_start(&s2, state_cf, NULL));
  events ev2 = {.mu = PTHREAD_MUTEX_INITIALIZER};
  p = provider_for(&s2, &ev2, 0, 0, NULL);
  CHECK(confidence_provider_start(p, 5000) == 0);
  confidence_value *u = user("u-cf", "SE");
  confidence_provider_get_bool(p, "new-checkout.enabled", u, 0, NULL);
  CHECK(confidence_provider_flush(p, 5000) == 0);
  json_t *sum = control(&s2, "GET", "/control/summary", NULL, 0);
  CHECK(json_integer_value(json_object_get(json_object_get(sum, "by_transport"), "ingest")) >= 1);
  json_decref(sum);
  set_faults(&s2, "{\"ingest\": {\"mode\": \"status\", \"status\": 500}}");
  confidence_provider_get_bool(p, "new-checkout.enabled", u, 0, NULL);
  CHECK(confidence_provider_flush(p, 15000) == 0);
  sum = control(&s2, "GET", "/control/summary", NULL, 0);
  CHECK(json_integer_value(json_object_get(json_object_get(sum, "by_transport"), "grpc")) >= 1);
  json_decref(sum);
  CHECK(applied_count(&s2, "flags/new-checkout", NULL, "u-cf") == 2);
  confidence_value_free(u);
  confidence_provider_free(p);
  server_stop(&s2);
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: test_integration REPO_DIR BUILD_DIR\n");
    return 2;
  }
  repo = argv[1];
  build = argv[2];
  snprintf(state_v1, sizeof state_v1, "%s/sample/state.pb", build);
  snprintf(state_v2, sizeof state_v2, "%s/sample/state-v2.pb", build);
  snprintf(state_cf, sizeof state_cf, "%s/sample/state-cloudflare.pb", build);
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const char *only = getenv("CONFIDENCE_TEST_ONLY");
  if (!only || strstr(only, "exposures"))
    test_exposures_and_updates();
  if (!only || strstr(only, "cdn"))
    test_cdn_faults();
  if (!only || strstr(only, "encrypted"))
    test_encrypted();
  if (!only || strstr(only, "log"))
    test_log_faults();
  curl_global_cleanup();
  return check_finish();
}
