/* A provider serving a good state keeps serving it when the CDN switches to
 * a state whose bitsets would inflate past 4 GiB: the reload is refused by
 * the state memory budget, in little memory, with an ERROR event naming the
 * budget. The CDN is a fake transport, so the switch is exact.
 * Usage: test_provider_budget */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "check.h"
#include "confidence/confidence.h"
#include "confidence/provider.h"
#include "confidence/sys/transport.h"
#include "fake_transport.h"
#include "state_builder.h"

typedef struct cdn {
  pthread_mutex_t mu;
  const uint8_t *body;
  size_t len;
  const char *etag;
  int served_bad; /* GETs answered with the over-budget state */
  const uint8_t *bad;
  int budget_errors; /* ERROR events that name the budget */
  int errors;
} cdn;

static int cdn_exchange(const confidence_http_request *req, confidence_http_response *resp, void *user)
{
  cdn *c = user;
  memset(resp, 0, sizeof *resp);
  static confidence_http_header good_tag[] = {{"etag", "\"good\""}}, bad_tag[] = {{"etag", "\"bad\""}};
  if (strcmp(req->method, "GET") != 0) { /* flag logs: accept and drop */
    fake_grpc_reply(resp, true);
    return 0;
  }
  pthread_mutex_lock(&c->mu);
  resp->status = 200;
  resp->body = (void *)c->body;
  resp->body_len = c->len;
  resp->headers = c->body == c->bad ? bad_tag : good_tag;
  resp->header_count = 1;
  if (c->body == c->bad)
    c->served_bad++;
  pthread_mutex_unlock(&c->mu);
  return 0;
}

static void on_event(const confidence_event *e, void *user)
{
  cdn *c = user;
  if (e->type != CONFIDENCE_EVENT_ERROR)
    return;
  pthread_mutex_lock(&c->mu);
  c->errors++;
  if (strstr(e->message, "budget"))
    c->budget_errors++;
  pthread_mutex_unlock(&c->mu);
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int main(void)
{
  size_t good_len, bad_len;
  uint8_t *good = sb_state_with_bitsets(1, 125000, &good_len);
  uint8_t *bad = sb_state_with_bitsets(66, (size_t)64 << 20, &bad_len);
  cdn c = {PTHREAD_MUTEX_INITIALIZER, good, good_len, NULL, 0, bad, 0, 0};
  confidence_transport t = {CONFIDENCE_TRANSPORT_VERSION, cdn_exchange, fake_free_nothing, &c, NULL};

  confidence_provider_options o;
  confidence_provider_options_init(&o, CONFIDENCE_PROVIDER_OPTIONS_VERSION);
  o.client_secret = "s";
  o.account_id = "acct";
  o.cdn_base_url = "http://cdn.invalid";
  o.flag_log_grpc_url = "http://127.0.0.1:1"; /* never dialled: the fake answers */
  o.state_poll_interval_ms = 50;
  o.log_poll_interval_ms = 3600000;
  o.transport = &t;
  o.on_event = on_event;
  o.event_user_data = &c;
  confidence_provider *p = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  CHECK(p && confidence_provider_start(p, 5000) == 0);
  confidence_state *before = confidence_provider_state(p);
  CHECK(before != NULL && confidence_state_flag_count(before) == 1);

  confidence_details *d = confidence_details_new();
  confidence_value *ctx = confidence_value_new_struct();
  confidence_value_struct_set(ctx, "targeting_key", confidence_value_new_string("user-1"));
  confidence_value *obj = confidence_provider_get_object(p, "f", ctx, NULL, d);
  CHECK(confidence_details_reason(d) == CONFIDENCE_EVAL_REASON_TARGETING_MATCH);
  confidence_value_free(obj);

  /* The CDN switches to the over-budget state; wait for three refusals. */
  pthread_mutex_lock(&c.mu);
  c.body = bad;
  c.len = bad_len;
  pthread_mutex_unlock(&c.mu);
  int served = 0, budget_errors = 0;
  for (int i = 0; i < 200 && (served < 3 || budget_errors < 3); i++) {
    sleep_ms(50);
    pthread_mutex_lock(&c.mu);
    served = c.served_bad;
    budget_errors = c.budget_errors;
    pthread_mutex_unlock(&c.mu);
  }
  CHECK(served >= 3);
  CHECK(budget_errors >= 3);

  confidence_state *after = confidence_provider_state(p);
  CHECK(after == before);
  CHECK(confidence_provider_status(p) == CONFIDENCE_STATUS_READY ||
        confidence_provider_status(p) == CONFIDENCE_STATUS_STALE);
  /* Still the good state's answer (STALE once syncs kept failing). */
  obj = confidence_provider_get_object(p, "f", ctx, NULL, d);
  CHECK(obj != NULL);
  CHECK(confidence_details_reason(d) == CONFIDENCE_EVAL_REASON_TARGETING_MATCH ||
        confidence_details_reason(d) == CONFIDENCE_EVAL_REASON_STALE);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_NONE);
  CHECK_STR(confidence_details_variant(d), "flags/f/variants/v");
  confidence_value_free(obj);
  confidence_provider_stats stats = CONFIDENCE_PROVIDER_STATS_INIT;
  CHECK(confidence_provider_read_stats(p, &stats) == 0);
  CHECK(stats.state_fetch_failures >= 3);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("  %d refusals of a %zu-byte state declaring 4.125 GiB; max RSS %ld MiB\n", served, bad_len,
         ru.ru_maxrss / 1024);
  CHECK(ru.ru_maxrss / 1024 <= 1024);

  confidence_state_unref(after);
  confidence_state_unref(before);
  confidence_value_free(ctx);
  confidence_details_free(d);
  CHECK(confidence_provider_shutdown(p, 5000) == 0);
  confidence_provider_free(p);
  free(good);
  free(bad);
  return check_finish();
}
