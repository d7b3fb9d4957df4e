/* Provider tests without a network: bootstrap from the spec state, typed
 * getters with OpenFeature semantics, and exposure logging through a fake
 * transport that decodes every WriteFlagLogsRequest it is sent.
 * Usage: test_provider RESOLVER_SPEC_DIR */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "confidence/confidence.h"
#include "confidence/provider.h"
#include "confidence/sys/transport.h"
#include "fake_transport.h"
#include "proto/confidence/flags/resolver/v1/internal_api.pb-c.h"
#include "under_tools.h"

static char state_path[4096];
static char account[128];

/* ---- a fake transport that records flag-log batches ------------------------ */

typedef struct fake {
  pthread_mutex_t mu;
  int fail_next;        /* answer UNAVAILABLE this many times */
  int hang_ms;          /* wait this long before answering, deaf to aborts */
  int calls;
  size_t events;        /* FlagAssigned events received */
  size_t applied;       /* applied flags received */
  size_t resolve_infos; /* FlagResolveInfo entries */
  size_t variant_count; /* sum of VariantResolveInfo counts */
  char last_auth[256];
  char last_flag[128];
  char last_key[128];
} fake;

static int fake_exchange(const confidence_http_request *req, confidence_http_response *resp, void *user)
{
  fake *f = user;
  pthread_mutex_lock(&f->mu);
  int hang_ms = f->hang_ms;
  pthread_mutex_unlock(&f->mu);
  if (hang_ms)
    nanosleep(&(struct timespec){hang_ms / 1000, (long)(hang_ms % 1000) * 1000000}, NULL);
  pthread_mutex_lock(&f->mu);
  f->calls++;
  for (size_t i = 0; i < req->header_count; i++)
    if (!strcmp(req->headers[i].name, "authorization"))
      snprintf(f->last_auth, sizeof f->last_auth, "%s", req->headers[i].value);
  bool fail = f->fail_next > 0;
  if (fail)
    f->fail_next--;
  if (!fail && req->body_len >= 5) {
    const uint8_t *b = req->body;
    size_t len = (size_t)b[1] << 24 | (size_t)b[2] << 16 | (size_t)b[3] << 8 | b[4];
    Confidence__Flags__Resolver__V1__WriteFlagLogsRequest *w =
        confidence__flags__resolver__v1__write_flag_logs_request__unpack(NULL, len, b + 5);
    if (w) {
      f->events += w->n_flag_assigned;
      for (size_t i = 0; i < w->n_flag_assigned; i++) {
        f->applied += w->flag_assigned[i]->n_flags;
        if (w->flag_assigned[i]->n_flags) {
          snprintf(f->last_flag, sizeof f->last_flag, "%s", w->flag_assigned[i]->flags[0]->flag);
          snprintf(f->last_key, sizeof f->last_key, "%s", w->flag_assigned[i]->flags[0]->targeting_key);
        }
      }
      f->resolve_infos += w->n_flag_resolve_info;
      for (size_t i = 0; i < w->n_flag_resolve_info; i++)
        for (size_t j = 0; j < w->flag_resolve_info[i]->n_variant_resolve_info; j++)
          f->variant_count += (size_t)w->flag_resolve_info[i]->variant_resolve_info[j]->count;
      confidence__flags__resolver__v1__write_flag_logs_request__free_unpacked(w, NULL);
    }
  }
  pthread_mutex_unlock(&f->mu);
  fake_grpc_reply(resp, !fail);
  return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static confidence_provider *make_provider(fake *f, uint32_t max_queued, int disable_exposures)
{
  static confidence_transport t;
  t = (confidence_transport){CONFIDENCE_TRANSPORT_VERSION, fake_exchange, fake_free_nothing, f};
  confidence_provider_options o;
  confidence_provider_options_init(&o, CONFIDENCE_PROVIDER_OPTIONS_VERSION);
  o.client_secret = "test-secret";
  o.state_file = state_path;
  o.account_id = account;
  o.disable_state_sync = 1;
  o.transport = &t;
  o.flag_log_grpc_url = "http://127.0.0.1:1"; /* never dialled: the fake answers */
  o.log_poll_interval_ms = 3600000;            /* only explicit flushes ship */
  o.max_queued_exposures = max_queued;
  o.disable_exposure_collection = disable_exposures;
  o.disable_apply_dedup = 1; /* these tests count every exposure; dedup has its own */
  confidence_provider *p = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  CHECK(confidence_provider_start(p, 1000) == 0);
  return p;
}

static confidence_value *ctx_json(const char *json)
{
  confidence_value *v = NULL;
  CHECK(confidence_value_from_json(json, strlen(json), &v) == 0);
  return v;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_not_ready(void)
{
  confidence_provider_options o;
  confidence_provider_options_init(&o, CONFIDENCE_PROVIDER_OPTIONS_VERSION);
  o.client_secret = "test-secret";
  o.disable_state_sync = 1;
  confidence_provider *p = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  confidence_details *d = confidence_details_new();
  CHECK(confidence_provider_get_bool(p, "simple-flag.enabled", NULL, 7, d) == 7);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_PROVIDER_NOT_READY);
  CHECK(confidence_details_reason(d) == CONFIDENCE_EVAL_REASON_ERROR);
  CHECK(confidence_provider_status(p) == CONFIDENCE_STATUS_NOT_READY);
  confidence_provider_stats st = CONFIDENCE_PROVIDER_STATS_INIT;
  CHECK(confidence_provider_read_stats(p, &st) == 0);
  CHECK(st.evaluations == 1); /* counted while not ready too */
  CHECK(st.exposures_queued == 0 && st.exposures_dropped == 0);
  /* A v1 caller gets the v1 fields only. */
  confidence_provider_stats v1;
  memset(&v1, 0xAB, sizeof v1);
  v1.version = 1;
  CHECK(confidence_provider_read_stats(p, &v1) == 0);
  CHECK(v1.evaluations == 1 && v1.resolve_counts_dropped == 0);
  CHECK(v1.exposures_deduplicated == 0xABABABABABABABABULL);
  confidence_details_free(d);
  confidence_provider_free(p);

  o.client_secret = NULL;
  CHECK(confidence_provider_new(&o, &p) == CONFIDENCE_EINVAL);
  CHECK(p == NULL);
}

static void test_getters(void)
{
  fake f = {.mu = PTHREAD_MUTEX_INITIALIZER};
  confidence_provider *p = make_provider(&f, 0, 0);
  CHECK(confidence_provider_status(p) == CONFIDENCE_STATUS_READY);
  confidence_value *se = ctx_json("{\"targeting_key\":\"user1\",\"country\":\"SE\"}");
  confidence_details *d = confidence_details_new();

  CHECK(confidence_provider_get_bool(p, "simple-flag.enabled", se, 0, d) == 1);
  CHECK(confidence_details_reason(d) == CONFIDENCE_EVAL_REASON_TARGETING_MATCH);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_NONE);
  CHECK_STR(confidence_details_variant(d), "on");
  CHECK(confidence_details_value_is_default(d) == 0);
  CHECK_STR(confidence_details_flag_key(d), "simple-flag.enabled");
  CHECK_STR(confidence_value_string(confidence_value_struct_get(confidence_details_metadata(d), "rule"), NULL),
            "flags/simple-flag/rules/rule1");
  CHECK_STR(confidence_details_rule(d), "flags/simple-flag/rules/rule1");
  CHECK_STR(confidence_details_segment(d),
            confidence_value_string(confidence_value_struct_get(confidence_details_metadata(d), "segment"), NULL));
  CHECK_STR(confidence_details_assignment_id(d),
            confidence_value_string(confidence_value_struct_get(confidence_details_metadata(d), "assignment_id"), NULL));

  /* Whole value as an object; missing path; type mismatch; unknown flag. */
  confidence_value *obj = confidence_provider_get_object(p, "simple-flag", se, NULL, d);
  CHECK(confidence_value_bool(confidence_value_struct_get(obj, "enabled")) == 1);
  confidence_value_free(obj);
  CHECK(confidence_provider_get_bool(p, "simple-flag.nope", se, 0, d) == 0);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_FLAG_NOT_FOUND);
  CHECK_STR(confidence_details_variant(d), ""); /* the default is returned: no variant */
  CHECK(confidence_details_value_is_default(d) == 1);
  char *s = confidence_provider_get_string(p, "simple-flag.enabled", se, "dflt", d);
  CHECK_STR(s, "dflt");
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_TYPE_MISMATCH);
  CHECK_STR(confidence_details_variant(d), "");
  confidence_string_free(s);
  CHECK(confidence_provider_get_int(p, "no-such-flag.x", se, 42, d) == 42);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_FLAG_NOT_FOUND);
  CHECK(confidence_provider_get_double(p, "", se, 1.5, d) == 1.5);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_FLAG_NOT_FOUND);

  /* No match: the default with reason DEFAULT and no error. */
  confidence_value *us = ctx_json("{\"targeting_key\":\"user1\",\"country\":\"US\"}");
  CHECK(confidence_provider_get_bool(p, "simple-flag.enabled", us, 1, d) == 1);
  CHECK(confidence_details_reason(d) == CONFIDENCE_EVAL_REASON_DEFAULT);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_NONE);
  CHECK(confidence_details_value_is_default(d) == 1); /* no error, yet the caller's own value */
  CHECK_STR(confidence_details_variant(d), "");
  CHECK(confidence_provider_get_bool(p, "simple-flag.enabled", se, 1, d) == 1);
  CHECK(confidence_details_value_is_default(d) == 0); /* the same value, now the flag's */

  /* An invalid targeting key: ERROR with a context error code. */
  confidence_value *badkey = ctx_json("{\"targeting_key\":{}}");
  CHECK(confidence_provider_get_string(p, "catch-all-50pct-flag.group", badkey, NULL, d) == NULL);
  CHECK(confidence_details_reason(d) == CONFIDENCE_EVAL_REASON_ERROR);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_INVALID_CONTEXT);

  /* A context that is not a struct. */
  confidence_value *list = ctx_json("[1,2]");
  CHECK(confidence_provider_get_bool(p, "simple-flag.enabled", list, 0, d) == 0);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_INVALID_CONTEXT);

  /* Flag keys: with and without "flags/", with and without a path. */
  CHECK(confidence_provider_get_bool(p, "flags/simple-flag.enabled", se, 0, d) == 1);
  CHECK(confidence_details_reason(d) == CONFIDENCE_EVAL_REASON_TARGETING_MATCH);
  CHECK_STR(confidence_details_variant(d), "on");
  confidence_value *whole = confidence_provider_get_object(p, "flags/simple-flag", se, NULL, d);
  CHECK(confidence_value_bool(confidence_value_struct_get(whole, "enabled")) == 1);
  confidence_value_free(whole);
  CHECK(confidence_provider_get_bool(p, "flags/", se, 0, d) == 0);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_FLAG_NOT_FOUND);
  CHECK(confidence_provider_get_bool(p, "flags/flags/simple-flag.enabled", se, 0, d) == 0);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_FLAG_NOT_FOUND);

  /* NULL provider / key never crash. */
  CHECK(confidence_provider_get_bool(NULL, "x", NULL, 3, NULL) == 3);
  CHECK(confidence_provider_get_bool(p, NULL, NULL, 4, NULL) == 4);

  confidence_value_free(se);
  confidence_value_free(us);
  confidence_value_free(badkey);
  confidence_value_free(list);
  confidence_details_free(d);
  confidence_provider_free(p);
}

static void test_exposures(void)
{
  fake f = {.mu = PTHREAD_MUTEX_INITIALIZER};
  confidence_provider *p = make_provider(&f, 0, 0);
  confidence_value *se = ctx_json("{\"targeting_key\":\"user1\",\"country\":\"SE\"}");
  confidence_value *skip = ctx_json("{\"targeting_key\":\"user1\",\"country\":\"SE\",\"_confidence_skip_apply\":true}");
  for (int i = 0; i < 100; i++)
    CHECK(confidence_provider_get_bool(p, "simple-flag.enabled", se, 0, NULL) == 1);
  for (int i = 0; i < 10; i++)
    CHECK(confidence_provider_get_bool(p, "simple-flag.enabled", skip, 0, NULL) == 1);
  CHECK(confidence_provider_flush(p, 5000) == 0);
  pthread_mutex_lock(&f.mu);
  CHECK(f.events == 100);   /* skip-apply evaluations send no exposure */
  CHECK(f.applied == 100);
  CHECK(f.variant_count == 110); /* but they are counted as resolves */
  CHECK_STR(f.last_flag, "flags/simple-flag");
  CHECK_STR(f.last_key, "user1");
  CHECK_STR(f.last_auth, "ClientSecret test-secret");
  pthread_mutex_unlock(&f.mu);

  /* Sink down: the batch is kept and delivered once it comes back. */
  f.fail_next = 1000;
  for (int i = 0; i < 20; i++)
    confidence_provider_get_bool(p, "simple-flag.enabled", se, 0, NULL);
  CHECK(confidence_provider_flush(p, 200) != 0);
  f.fail_next = 0;
  CHECK(confidence_provider_flush(p, 5000) == 0);
  pthread_mutex_lock(&f.mu);
  CHECK(f.events == 120);
  pthread_mutex_unlock(&f.mu);

  /* Queued at shutdown: still delivered. */
  for (int i = 0; i < 7; i++)
    confidence_provider_get_bool(p, "simple-flag.enabled", se, 0, NULL);
  CHECK(confidence_provider_shutdown(p, 5000) == 0);
  CHECK(confidence_provider_shutdown(p, 5000) == 0); /* idempotent */
  pthread_mutex_lock(&f.mu);
  CHECK(f.events == 127);
  pthread_mutex_unlock(&f.mu);
  confidence_provider_stats st = CONFIDENCE_PROVIDER_STATS_INIT;
  CHECK(confidence_provider_read_stats(p, &st) == 0);
  CHECK(st.exposures_sent == 127);
  CHECK(st.exposures_dropped == 0);
  CHECK(st.evaluations == 137);
  /* After shutdown: defaults. */
  confidence_details *d = confidence_details_new();
  CHECK(confidence_provider_get_bool(p, "simple-flag.enabled", se, 0, d) == 0);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_PROVIDER_NOT_READY);
  confidence_details_free(d);
  confidence_provider_free(p);
  confidence_value_free(se);
  confidence_value_free(skip);
}

static void test_queue_bound(void)
{
  fake f = {.mu = PTHREAD_MUTEX_INITIALIZER, .fail_next = 1 << 30};
  confidence_provider *p = make_provider(&f, 50, 0);
  confidence_value *se = ctx_json("{\"targeting_key\":\"user1\",\"country\":\"SE\"}");
  for (int i = 0; i < 80; i++)
    confidence_provider_get_bool(p, "simple-flag.enabled", se, 0, NULL);
  confidence_provider_flush(p, 300); /* fails: the sink is down */
  confidence_provider_stats st = CONFIDENCE_PROVIDER_STATS_INIT;
  CHECK(confidence_provider_read_stats(p, &st) == 0);
  CHECK(st.exposures_dropped == 30);
  CHECK(st.exposures_queued == 50);
  f.fail_next = 0;
  CHECK(confidence_provider_flush(p, 5000) == 0);
  pthread_mutex_lock(&f.mu);
  CHECK(f.events == 50);
  pthread_mutex_unlock(&f.mu);
  confidence_provider_free(p);
  confidence_value_free(se);
}

/* A transport that ignores shutdown's deadline keeps a send in flight past
 * it: shutdown returns ETIMEDOUT, and every exposure is accounted for at
 * that moment (the one in flight counted lost, whatever becomes of it). */
static void test_shutdown_with_a_send_stuck_in_flight(void)
{
#ifdef UNDER_TSAN
  /* Not under ThreadSanitizer: its pthread_timedjoin_np interceptor (clang
   * 14) records a join that timed out as done, and the later real join in
   * confidence_provider_free then fails its own CHECK. The case runs in the
   * plain, ASan+UBSan and valgrind trees. */
  fprintf(stderr, "shutdown with a send stuck in flight: not run under TSan (see the comment)\n");
  return;
#endif
  fake f = {.mu = PTHREAD_MUTEX_INITIALIZER};
  confidence_provider *p = make_provider(&f, 0, 0);
  confidence_value *se = ctx_json("{\"targeting_key\":\"user1\",\"country\":\"SE\"}");
  for (int i = 0; i < 40; i++)
    CHECK(confidence_provider_get_bool(p, "simple-flag.enabled", se, 0, NULL) == 1);
  pthread_mutex_lock(&f.mu);
  f.hang_ms = 1500;
  pthread_mutex_unlock(&f.mu);
  CHECK(confidence_provider_flush(p, 50) == CONFIDENCE_ETIMEDOUT); /* the sender is now in its send */
  CHECK(confidence_provider_shutdown(p, 300) == CONFIDENCE_ETIMEDOUT);
  confidence_provider_stats st = CONFIDENCE_PROVIDER_STATS_INIT;
  CHECK(confidence_provider_read_stats(p, &st) == 0);
  CHECK(st.exposures_queued == 0);
  CHECK(st.exposures_sent == 0);
  CHECK(st.exposures_lost_at_shutdown == 40);
  CHECK(st.exposures_sent + st.exposures_deduplicated + st.exposures_dropped == 40);
  confidence_provider_free(p); /* waits for the stuck send */
  pthread_mutex_lock(&f.mu);
  CHECK(f.calls >= 1);
  pthread_mutex_unlock(&f.mu);
  confidence_value_free(se);
}

static void test_disabled_exposures(void)
{
  fake f = {.mu = PTHREAD_MUTEX_INITIALIZER};
  confidence_provider *p = make_provider(&f, 0, 1);
  confidence_value *se = ctx_json("{\"targeting_key\":\"user1\",\"country\":\"SE\"}");
  for (int i = 0; i < 10; i++)
    confidence_provider_get_bool(p, "simple-flag.enabled", se, 0, NULL);
  CHECK(confidence_provider_flush(p, 5000) == 0);
  pthread_mutex_lock(&f.mu);
  CHECK(f.events == 0);
  CHECK(f.variant_count == 10); /* resolve counters are still reported */
  pthread_mutex_unlock(&f.mu);
  confidence_provider_free(p);
  confidence_value_free(se);
}

static int error_events;
static void count_errors(const confidence_event *ev, void *user)
{
  (void)user;
  if (ev->type == CONFIDENCE_EVENT_ERROR)
    error_events++;
}

static int64_t ms_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A bootstrap that does not load fails start() at once, with its cause. */
static void expect_bootstrap_error(const char *file, int sync, int want_rc, const char *want_text)
{
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  o.client_secret = "test-secret";
  o.state_file = file;
  o.account_id = account;
  o.disable_state_sync = !sync;
  o.cdn_base_url = "http://127.0.0.1:1"; /* refused at once */
  o.on_event = count_errors;
  confidence_provider *p = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  error_events = 0;
  int64_t t0 = ms_now();
  int rc = confidence_provider_start(p, 5000);
  int64_t took = ms_now() - t0;
  CHECK(rc == want_rc);
  CHECK(strstr(confidence_last_error_message(), want_text) != NULL);
  CHECK(took < 1000);
  CHECK(error_events >= 1);
  CHECK(confidence_provider_status(p) == (sync ? CONFIDENCE_STATUS_NOT_READY : CONFIDENCE_STATUS_FATAL));
  if (!sync) {
    confidence_details *d = confidence_details_new();
    CHECK(confidence_provider_get_bool(p, "simple-flag.enabled", NULL, 1, d) == 1);
    CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_PROVIDER_FATAL);
    confidence_details_free(d);
  }
  if (rc != want_rc)
    fprintf(stderr, "  %s: got %s (%s)\n", file, confidence_strerror(rc), confidence_last_error_message());
  confidence_provider_free(p);
}

static void test_config_errors(void)
{
  char garbage[] = "/tmp/confidence-garbage-XXXXXX", empty[] = "/tmp/confidence-empty-XXXXXX";
  int fd = mkstemp(garbage);
  CHECK(fd >= 0 && write(fd, "\xff\xff\xff garbage", 12) == 12);
  close(fd);
  fd = mkstemp(empty);
  CHECK(fd >= 0);
  close(fd);
  expect_bootstrap_error("/nonexistent/state.pb", 0, CONFIDENCE_EIO, "/nonexistent/state.pb");
  expect_bootstrap_error("/nonexistent/state.pb", 1, CONFIDENCE_EIO, "/nonexistent/state.pb");
  expect_bootstrap_error(garbage, 0, CONFIDENCE_EPARSE, "malformed");
  expect_bootstrap_error(empty, 0, CONFIDENCE_ESECRET, "no client for this client secret");
  unlink(garbage);
  unlink(empty);
}

/* The provider's state memory: each state gets half, and a bootstrap state
 * over it is a configuration error like any other. */
static void test_state_budget_option(void)
{
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  o.client_secret = "test-secret";
  o.state_file = state_path;
  o.account_id = account;
  o.disable_state_sync = 1;
  o.state_memory_budget_bytes = 2 * 64 * 1024; /* the spec state needs ~360 KiB */
  confidence_provider *p = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  CHECK(confidence_provider_start(p, 1000) == CONFIDENCE_ELIMIT);
  CHECK(strstr(confidence_last_error_message(), "budget") != NULL);
  CHECK(confidence_provider_status(p) == CONFIDENCE_STATUS_FATAL);
  confidence_provider_free(p);
  o.state_memory_budget_bytes = 2 * 4 * 1024 * 1024;
  CHECK(confidence_provider_new(&o, &p) == 0);
  CHECK(confidence_provider_start(p, 1000) == 0);
  confidence_state *st = confidence_provider_state(p);
  CHECK(st && confidence_state_memory_bytes(st) <= 4 * 1024 * 1024);
  confidence_state_unref(st);
  confidence_provider_free(p);
}

static int transport_frees;
static void count_free(void *user)
{
  CHECK(user == &transport_frees);
  transport_frees++;
}

/* Versioned structs: 1..current accepted, 0 and current+1 rejected; the
 * transport's version is checked and its free callback runs exactly once. */
static void test_versions(void)
{
  fake f = {.mu = PTHREAD_MUTEX_INITIALIZER};
  (void)f;
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  CHECK(o.version == CONFIDENCE_PROVIDER_OPTIONS_VERSION && o.client_secret == NULL && o.transport == NULL);
  o.client_secret = "test-secret";
  o.disable_state_sync = 1;
  confidence_provider *p = NULL;
  for (unsigned v = 1; v <= CONFIDENCE_PROVIDER_OPTIONS_VERSION; v++) {
    o.version = v;
    CHECK(confidence_provider_new(&o, &p) == 0);
    confidence_provider_free(p);
  }
  o.version = 0;
  CHECK(confidence_provider_new(&o, &p) == CONFIDENCE_EINVAL && p == NULL);
  o.version = CONFIDENCE_PROVIDER_OPTIONS_VERSION + 1;
  CHECK(confidence_provider_new(&o, &p) == CONFIDENCE_EINVAL && p == NULL);
  CHECK(strstr(confidence_last_error_message(), "confidence_provider_options") != NULL);
  CHECK(confidence_provider_options_init(&o, CONFIDENCE_PROVIDER_OPTIONS_VERSION + 1) == CONFIDENCE_EINVAL);
  CHECK(confidence_provider_options_init(&o, 1) == 0 && o.version == 1);
  o.client_secret = "test-secret";
  o.disable_state_sync = 1;

  /* A malformed encryption key is a configuration error at once. */
  o.encryption_key_hex = "not-hex";
  CHECK(confidence_provider_new(&o, &p) == CONFIDENCE_EINVAL && p == NULL);
  o.encryption_key_hex = "zz00000000000000000000000000000000000000000000000000000000000000";
  CHECK(confidence_provider_new(&o, &p) == CONFIDENCE_EINVAL && p == NULL);
  CHECK(strstr(confidence_last_error_message(), "hex") != NULL);
  o.encryption_key_hex = NULL;

  /* Transport vtable: version checked, free called once with user_data. */
  confidence_transport t = {CONFIDENCE_TRANSPORT_VERSION, fake_exchange, fake_free_nothing, &transport_frees, count_free};
  o.transport = &t;
  t.version = CONFIDENCE_TRANSPORT_VERSION + 1;
  CHECK(confidence_provider_new(&o, &p) == CONFIDENCE_EINVAL && transport_frees == 0);
  t.version = CONFIDENCE_TRANSPORT_VERSION;
  CHECK(confidence_provider_new(&o, &p) == 0);
  CHECK(transport_frees == 0);
  confidence_provider_free(p);
  CHECK(transport_frees == 1);

  /* Stats: the caller's version decides what is written. */
  o.transport = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  confidence_provider_stats st = CONFIDENCE_PROVIDER_STATS_INIT;
  CHECK(confidence_provider_read_stats(p, &st) == 0 && st.version == CONFIDENCE_PROVIDER_STATS_VERSION);
  st.version = 0;
  CHECK(confidence_provider_read_stats(p, &st) == CONFIDENCE_EINVAL);
  st.version = CONFIDENCE_PROVIDER_STATS_VERSION + 1;
  CHECK(confidence_provider_read_stats(p, &st) == CONFIDENCE_EINVAL);
  CHECK(confidence_provider_read_stats(p, NULL) == CONFIDENCE_EINVAL);
  confidence_provider_free(p);
}

/* ---- shutdown racing a state sync ----------------------------------------------- */

/* A CDN that serves the spec state, and holds its second answer until
 * released, ignoring should_abort (as a custom transport may). */
typedef struct slow_cdn {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  int gets, holding, released;
  uint8_t *state;
  size_t len;
} slow_cdn;

static int slow_cdn_exchange(const confidence_http_request *req, confidence_http_response *resp, void *user)
{
  slow_cdn *c = user;
  memset(resp, 0, sizeof *resp);
  pthread_mutex_lock(&c->mu);
  int n = ++c->gets;
  if (n == 2) {
    c->holding = 1;
    pthread_cond_broadcast(&c->cond);
    while (!c->released)
      pthread_cond_wait(&c->cond, &c->mu);
  }
  pthread_mutex_unlock(&c->mu);
  static confidence_http_header etag[2][1] = {{{"etag", "\"one\""}}, {{"etag", "\"two\""}}};
  resp->status = strcmp(req->method, "GET") == 0 ? 200 : 404;
  resp->headers = etag[n > 1];
  resp->header_count = 1;
  resp->body = c->state;
  resp->body_len = c->len;
  return 0;
}

static void *release_later(void *arg)
{
  slow_cdn *c = arg;
  nanosleep(&(struct timespec){0, 200 * 1000000}, NULL); /* shutdown has begun by then */
  pthread_mutex_lock(&c->mu);
  c->released = 1;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

static int ready_events;
static void count_ready(const confidence_event *ev, void *user)
{
  (void)user;
  ready_events += ev->type == CONFIDENCE_EVENT_READY;
}

/* A CDN answer that arrives after shutdown began is never installed: no
 * READY, NOT_READY for good, and the state is freed (ASan/LSan). */
static void test_shutdown_races_sync(void)
{
  slow_cdn c = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
  FILE *f = fopen(state_path, "rb");
  CHECK(f != NULL);
  c.state = malloc(1 << 22);
  c.len = f ? fread(c.state, 1, 1 << 22, f) : 0;
  if (f)
    fclose(f);
  confidence_transport t = {CONFIDENCE_TRANSPORT_VERSION, slow_cdn_exchange, fake_free_nothing, &c, NULL};
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  o.client_secret = "test-secret";
  o.account_id = account;
  o.transport = &t;
  o.state_poll_interval_ms = 20;
  o.on_event = count_ready;
  confidence_provider *p = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  CHECK(confidence_provider_start(p, 5000) == 0);
  pthread_mutex_lock(&c.mu);
  while (!c.holding) /* the second fetch is in flight */
    pthread_cond_wait(&c.cond, &c.mu);
  pthread_mutex_unlock(&c.mu);
  CHECK(ready_events == 1);
  pthread_t releaser;
  CHECK(pthread_create(&releaser, NULL, release_later, &c) == 0);
  CHECK(confidence_provider_shutdown(p, 5000) == 0); /* joins the sync thread after its answer */
  pthread_join(releaser, NULL);
  CHECK(confidence_provider_status(p) == CONFIDENCE_STATUS_NOT_READY);
  CHECK(confidence_provider_state(p) == NULL);
  CHECK(ready_events == 1);
  CHECK(confidence_provider_get_bool(p, "simple-flag.enabled", NULL, 7, NULL) == 7);
  confidence_provider_free(p);
  free(c.state);
}

/* A state without our client: the getter's message shows none of the
 * secret's characters (callers log details). */
static void test_unknown_secret_message(void)
{
  slow_cdn c = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .released = 1};
  FILE *f = fopen(state_path, "rb");
  c.state = malloc(1 << 22);
  c.len = f ? fread(c.state, 1, 1 << 22, f) : 0;
  if (f)
    fclose(f);
  confidence_transport t = {CONFIDENCE_TRANSPORT_VERSION, slow_cdn_exchange, fake_free_nothing, &c, NULL};
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  o.client_secret = "zq-not-a-client-secret-x9";
  o.account_id = account;
  o.transport = &t;
  confidence_provider *p = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  CHECK(confidence_provider_start(p, 5000) == 0);
  confidence_details *d = confidence_details_new();
  CHECK(confidence_provider_get_bool(p, "simple-flag.enabled", NULL, 7, d) == 7);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_GENERAL);
  CHECK_STR(confidence_details_error_message(d), "the client secret is not in the flag state");
  confidence_details_free(d);
  confidence_provider_free(p);
  free(c.state);
}

/* ---- short-lived threads --------------------------------------------------- */

/* UNDER_SANITIZER, UNDER_VALGRIND: under_tools.h. */

static long rss_kb(void)
{
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2)
    resident = 0;
  if (f)
    fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

typedef struct short_life {
  confidence_provider *p;
  const confidence_value *ctx;
} short_life;

static void *short_life_main(void *arg)
{
  short_life *sl = arg;
  for (int i = 0; i < 10; i++)
    confidence_provider_get_bool(sl->p, "simple-flag.enabled", sl->ctx, 0, NULL);
  return NULL;
}

/* 50 at a time, `total` threads that evaluate and exit; returns whether
 * every thread started. */
static bool run_short_lived(confidence_provider *p, const confidence_value *ctx, int total)
{
  short_life sl = {p, ctx};
  bool all = true;
  for (int done = 0; done < total; done += 50) {
    pthread_t t[50];
    int n = 0;
    for (; n < 50; n++)
      if (pthread_create(&t[n], NULL, short_life_main, &sl) != 0)
        break;
    all = all && n == 50;
    for (int i = 0; i < n; i++)
      pthread_join(t[i], NULL);
  }
  return all;
}

/* The rings of exited threads are given back: 20,000 short-lived threads
 * leave resident memory within 64 MB of where 1,000 left it. */
static void test_short_lived_threads(void)
{
  fake f = {.mu = PTHREAD_MUTEX_INITIALIZER};
  confidence_provider *p = make_provider(&f, 0, 0);
  confidence_value *ctx = ctx_json("{\"targeting_key\":\"user1\",\"country\":\"SE\"}");
  /* Under valgrind (~50x slower) a tenth of the threads, and its own
   * bookkeeping, like the sanitizers', grows with them: no RSS bound. */
  bool valgrind = UNDER_VALGRIND();
  int threads = valgrind ? 2000 : 20000;
  CHECK(run_short_lived(p, ctx, 1000));
  long before = rss_kb();
  CHECK(run_short_lived(p, ctx, threads));
  long after = rss_kb();
  fprintf(stderr, "short-lived threads: rss %ld -> %ld kB\n", before, after);
#ifndef UNDER_SANITIZER
  if (!valgrind)
    CHECK(after - before <= 64 * 1024);
#endif
  uint64_t evaluations = (uint64_t)(1000 + threads) * 10;
  confidence_provider_stats st = CONFIDENCE_PROVIDER_STATS_INIT;
  CHECK(confidence_provider_read_stats(p, &st) == 0);
  CHECK(st.evaluations == evaluations);
  CHECK(confidence_provider_flush(p, 10000) == 0);
  CHECK(confidence_provider_read_stats(p, &st) == 0);
  CHECK(st.exposures_sent + st.exposures_dropped == evaluations);
  confidence_value_free(ctx);
  confidence_provider_free(p);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: test_provider RESOLVER_SPEC_DIR\n");
    return 2;
  }
  snprintf(state_path, sizeof state_path, "%s/state.pb", argv[1]);
  char path[4200];
  snprintf(path, sizeof path, "%s/account_id", argv[1]);
  FILE *fa = fopen(path, "r");
  if (!fa || !fgets(account, sizeof account, fa))
    return 1;
  fclose(fa);
  account[strcspn(account, "\r\n")] = '\0';
  test_not_ready();
  test_versions();
  test_config_errors();
  test_state_budget_option();
  test_getters();
  test_exposures();
  test_queue_bound();
  test_disabled_exposures();
  test_shutdown_with_a_send_stuck_in_flight();
  test_short_lived_threads();
  test_shutdown_races_sync();
  test_unknown_secret_message();
  return check_finish();
}
