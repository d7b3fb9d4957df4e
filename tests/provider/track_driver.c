/* Test driver for tracking, metrics and all-flags, run by
 * tests/provider/test_tracking.py and tools/oracle/track_difftest.py:
 *   track_driver encode CASES.jsonl      one hex Event (or "ERR <code>") per case
 *   track_driver provider GRPC_URL STATE ACCOUNT SECRET MAX_QUEUED
 *       then commands on stdin, one answer line each (metrics: text + "# END"):
 *       track N THREADS | eval N | flush MS | shutdown MS | stats | metrics [om] | quit */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confidence/confidence.h"
#include "event_log.h"

/* ---- encode ------------------------------------------------------------------- */

static confidence_value *member(confidence_value *obj, const char *key)
{
  const confidence_value *v = confidence_value_struct_get(obj, key);
  return v && confidence_value_type_of(v) != CONFIDENCE_VALUE_NULL ? (confidence_value *)v : NULL;
}

static void encode_case(const char *line)
{
  confidence_value *c = NULL;
  if (confidence_value_from_json(line, strlen(line), &c) != 0) {
    printf("ERR parse\n");
    return;
  }
  confidence_value *name = member(c, "name"), *value = member(c, "value");
  double number = value ? confidence_value_number(value) : 0;
  const confidence_value *t = member(c, "time_ns"); /* a decimal string: exact */
  cf_wbuf b;
  int rc = cf_event_encode(name ? confidence_value_string(name, NULL) : NULL, member(c, "context"),
                           value ? &number : NULL, member(c, "data"), t ? strtoll(confidence_value_string(t, NULL), NULL, 10) : 0,
                           &b);
  if (rc) {
    printf("ERR %d\n", rc);
  } else {
    for (size_t i = 0; i < b.n; i++)
      printf("%02x", b.p[i]);
    printf("\n");
    free(b.p);
  }
  confidence_value_free(c);
}

static int run_encode(const char *path)
{
  FILE *f = fopen(path, "r");
  if (!f)
    return 2;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0)
    if (line[0] != '\n')
      encode_case(line);
  free(line);
  fclose(f);
  return 0;
}

/* ---- provider ------------------------------------------------------------------- */

typedef struct job {
  confidence_provider *p;
  int thread, first, count;
} job;

static void *track_thread(void *arg)
{
  job *j = arg;
  for (int i = j->first; i < j->first + j->count; i++) {
    char key[32];
    snprintf(key, sizeof key, "user-%d", i);
    confidence_value *ctx = confidence_value_new_struct(), *data = confidence_value_new_struct();
    confidence_value_struct_set(ctx, "targeting_key", confidence_value_new_string(key));
    confidence_value_struct_set(data, "i", confidence_value_new_number(i));
    confidence_value_struct_set(data, "thread", confidence_value_new_number(j->thread));
    confidence_track_details d = CONFIDENCE_TRACK_DETAILS_INIT;
    d.has_value = 1;
    d.value = i;
    d.data = data;
    confidence_provider_track(j->p, "purchase", ctx, &d);
    confidence_value_free(ctx);
    confidence_value_free(data);
  }
  return NULL;
}

static int next_event; /* track numbers continue across commands */

static void cmd_track(confidence_provider *p, int n, int threads)
{
  pthread_t t[64];
  job jobs[64];
  threads = threads < 1 ? 1 : threads > 64 ? 64 : threads;
  for (int k = 0; k < threads; k++) {
    int share = n / threads + (k < n % threads);
    jobs[k] = (job){p, k, next_event, share};
    next_event += share;
    pthread_create(&t[k], NULL, track_thread, &jobs[k]);
  }
  for (int k = 0; k < threads; k++)
    pthread_join(t[k], NULL);
  printf("ok\n");
}

static void cmd_eval(confidence_provider *p, int n)
{
  static const char *const flags[] = {"new-checkout.enabled", "button-style.color", "search-ranking.algorithm",
                                      "no-such-flag"};
  confidence_value *ctx = confidence_value_new_struct();
  for (int i = 0; i < n; i++) {
    char key[32];
    snprintf(key, sizeof key, "user-%d", i);
    confidence_value_struct_set(ctx, "targeting_key", confidence_value_new_string(key));
    char *s = confidence_provider_get_string(p, flags[i % 4], ctx, "default", NULL);
    confidence_string_free(s);
  }
  confidence_value_free(ctx);
  printf("ok\n");
}

static void cmd_stats(confidence_provider *p)
{
  confidence_event_stats e = CONFIDENCE_EVENT_STATS_INIT;
  confidence_provider_stats s = CONFIDENCE_PROVIDER_STATS_INIT;
  confidence_provider_read_event_stats(p, &e);
  confidence_provider_read_stats(p, &s);
  printf("{\"tracked\":%" PRIu64 ",\"queued\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"rejected\":%" PRIu64
         ",\"dropped\":%" PRIu64 ",\"invalid\":%" PRIu64 ",\"send_failures\":%" PRIu64 ",\"evaluations\":%" PRIu64
         ",\"exposures_sent\":%" PRIu64 ",\"exposures_queued\":%" PRIu64 ",\"exposures_dropped\":%" PRIu64
         ",\"state_updates\":%" PRIu64 "}\n",
         e.tracked, e.queued, e.sent, e.rejected, e.dropped, e.invalid, e.send_failures, s.evaluations,
         s.exposures_sent, s.exposures_queued, s.exposures_dropped, s.state_updates);
}

static void cmd_metrics(confidence_provider *p, int om)
{
  confidence_metrics_options o = CONFIDENCE_METRICS_OPTIONS_INIT;
  o.openmetrics = om;
  char *text = NULL;
  int rc = confidence_provider_metrics(p, &o, &text);
  printf("%s# END %d\n", text ? text : "", rc);
  confidence_string_free(text);
}

static void command(confidence_provider *p, const char *line)
{
  char word[32] = "";
  int a = 0, b = 0;
  sscanf(line, "%31s %d %d", word, &a, &b);
  if (strcmp(word, "track") == 0)
    cmd_track(p, a, b);
  else if (strcmp(word, "eval") == 0)
    cmd_eval(p, a);
  else if (strcmp(word, "flush") == 0)
    printf("%d\n", confidence_provider_flush(p, (uint32_t)a));
  else if (strcmp(word, "shutdown") == 0)
    printf("%d\n", confidence_provider_shutdown(p, (uint32_t)a));
  else if (strcmp(word, "stats") == 0)
    cmd_stats(p);
  else if (strcmp(word, "metrics") == 0)
    cmd_metrics(p, strstr(line, " om") != NULL);
  else
    printf("unknown command\n");
  fflush(stdout);
}

static int run_provider(char **argv)
{
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  o.events_grpc_url = argv[0];
  o.flag_log_grpc_url = argv[0];
  o.state_file = argv[1];
  o.account_id = argv[2];
  o.client_secret = argv[3];
  o.max_queued_events = (uint32_t)atoi(argv[4]);
  o.disable_state_sync = 1;
  o.log_poll_interval_ms = 600000; /* sends happen on flush and shutdown only */
  o.http_timeout_ms = 2000;
  confidence_provider *p;
  if (confidence_provider_new(&o, &p) != 0 || confidence_provider_start(p, 5000) != 0) {
    fprintf(stderr, "provider: %s\n", confidence_last_error_message());
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) > 0 && strncmp(line, "quit", 4) != 0)
    command(p, line);
  free(line);
  confidence_provider_free(p);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "encode") == 0)
    return run_encode(argv[2]);
  if (argc == 7 && strcmp(argv[1], "provider") == 0)
    return run_provider(argv + 2);
  fprintf(stderr, "usage: track_driver encode CASES | provider GRPC_URL STATE ACCOUNT SECRET MAX_QUEUED\n");
  return 2;
}
