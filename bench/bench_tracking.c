/* build/bench/confidence_bench_tracking STATE ACCOUNT SECRET: the cost of
 * confidence_provider_track on the calling thread (1 and 4 threads), and
 * what the per-thread metric counters add to an evaluation, next to the
 * evaluation itself. Offline: nothing listens at the event URL
 * and nothing is flushed, so events only queue. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "confidence/confidence.h"
#include "slot_metrics.h"

#define TRACKS 200000
#define EVALS 2000000

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static confidence_provider *p;

static void *track_loop(void *arg)
{
  int n = *(int *)arg;
  confidence_value *ctx = confidence_value_new_struct(), *data = confidence_value_new_struct();
  confidence_value_struct_set(ctx, "targeting_key", confidence_value_new_string("user-12345"));
  confidence_value_struct_set(ctx, "country", confidence_value_new_string("SE"));
  confidence_value_struct_set(ctx, "app_version", confidence_value_new_string("2.5.1"));
  confidence_value_struct_set(data, "product", confidence_value_new_string("sku-991"));
  confidence_value_struct_set(data, "quantity", confidence_value_new_number(2));
  confidence_track_details d = CONFIDENCE_TRACK_DETAILS_INIT;
  d.has_value = 1;
  d.value = 19.99;
  d.data = data;
  for (int i = 0; i < n; i++)
    confidence_provider_track(p, "purchase", ctx, &d);
  confidence_value_free(ctx);
  confidence_value_free(data);
  return NULL;
}

static double track_ns(int threads)
{
  pthread_t t[4];
  int share = TRACKS / threads;
  double t0 = now_ns();
  for (int i = 0; i < threads; i++)
    pthread_create(&t[i], NULL, track_loop, &share);
  for (int i = 0; i < threads; i++)
    pthread_join(t[i], NULL);
  return (now_ns() - t0) / share; /* per call, as each calling thread sees it */
}

static double eval_ns(void)
{
  confidence_value *ctx = confidence_value_new_struct();
  confidence_value_struct_set(ctx, "targeting_key", confidence_value_new_string("user-12345"));
  confidence_value_struct_set(ctx, "country", confidence_value_new_string("SE"));
  volatile int sink = 0;
  double t0 = now_ns();
  for (int i = 0; i < EVALS; i++)
    sink += confidence_provider_get_bool(p, "new-checkout.enabled", ctx, 0, NULL);
  double ns = (now_ns() - t0) / EVALS;
  confidence_value_free(ctx);
  return sink >= 0 ? ns : -ns; /* reads sink: the loop cannot be dropped */
}

/* The per-evaluation metric work (one reason bump; histogram on 1 in 16). */
static double metrics_ns(void)
{
  static cf_slot_metrics m;
  double t0 = now_ns();
  for (int i = 0; i < EVALS; i++)
    cf_slot_metrics_count(&m, i & 3, i % 16 == 0 ? (uint32_t)(i & 1023) : UINT32_MAX);
  return (now_ns() - t0) / EVALS;
}

int main(int argc, char **argv)
{
  if (argc != 4) {
    fprintf(stderr, "usage: confidence_bench_tracking STATE ACCOUNT SECRET\n");
    return 2;
  }
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  o.state_file = argv[1];
  o.account_id = argv[2];
  o.client_secret = argv[3];
  o.disable_state_sync = 1;
  o.disable_exposure_collection = 1;
  o.flag_log_grpc_url = o.events_grpc_url = "http://127.0.0.1:9";
  o.log_poll_interval_ms = 600000;
  o.max_queued_events = 2 * TRACKS;
  if (confidence_provider_new(&o, &p) || confidence_provider_start(p, 5000))
    return 1;
  double e = eval_ns(), m = metrics_ns();
  printf("evaluation (get_bool)        %8.1f ns\n", e);
  printf("metric counters per eval     %8.2f ns  (%.2f%% of an evaluation)\n", m, 100 * m / e);
  char *text = NULL;
  double t0 = now_ns();
  confidence_provider_metrics(p, NULL, &text);
  printf("metrics scrape               %8.1f us  (%zu bytes, off the evaluation path)\n", (now_ns() - t0) / 1e3,
         text ? strlen(text) : 0);
  confidence_string_free(text);
  printf("track, 1 thread              %8.1f ns per call\n", track_ns(1));
  printf("track, 4 threads             %8.1f ns per call per thread\n", track_ns(4));
  confidence_provider_free(p);
  return 0;
}
