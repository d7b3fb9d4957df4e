/* build/bench/confidence_bench_store: per-evaluation cost of a sticky flag
 * with the in-memory store (1 and 2 threads) and with Redis on loopback
 * (one pipelined round trip), and of a flag without materializations with
 * and without a store configured (docs/benchmarks.md). Offline:
 * states are bootstrapped, exposures are off.
 * Usage: confidence_bench_store STATES_DIR [REDIS_PORT] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "confidence/confidence.h"
#ifdef CONFIDENCE_BENCH_REDIS
#include "confidence/redis.h"
#endif

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static confidence_provider *provider(const char *state, const char *account, confidence_store *store)
{
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  o.client_secret = "test-secret";
  o.state_file = state;
  o.account_id = account;
  o.disable_state_sync = 1;
  o.disable_exposure_collection = 1;
  o.materialization_store = store;
  confidence_provider *p = NULL;
  if (confidence_provider_new(&o, &p) || confidence_provider_start(p, 1000)) {
    fprintf(stderr, "provider: %s\n", confidence_last_error_message());
    exit(1);
  }
  return p;
}

typedef struct run {
  confidence_provider *p;
  const char *flag, *attr;
  int units, iterations;
  double ns;
} run;

/* Evaluates `flag` for `units` rotating units (each assigned once during
 * the warm-up, so the timed loop is all read hits). */
static void *loop(void *arg)
{
  run *r = arg;
  confidence_value **ctx = calloc((size_t)r->units, sizeof *ctx);
  char unit[32];
  for (int u = 0; u < r->units; u++) {
    ctx[u] = confidence_value_new_struct();
    snprintf(unit, sizeof unit, "bench-%p-%d", (void *)r, u);
    confidence_value_struct_set(ctx[u], r->attr, confidence_value_new_string(unit));
    confidence_value_struct_set(ctx[u], "country", confidence_value_new_string("SE"));
    confidence_value_free(confidence_provider_get_object(r->p, r->flag, ctx[u], NULL, NULL));
  }
  double t0 = now_ns();
  for (int i = 0; i < r->iterations; i++)
    confidence_value_free(confidence_provider_get_object(r->p, r->flag, ctx[i % r->units], NULL, NULL));
  r->ns = (now_ns() - t0) / r->iterations;
  for (int u = 0; u < r->units; u++)
    confidence_value_free(ctx[u]);
  free(ctx);
  return NULL;
}

static double measure(confidence_provider *p, const char *flag, const char *attr, int threads, int iterations)
{
  run r[2];
  pthread_t t[2];
  for (int i = 0; i < threads; i++) {
    r[i] = (run){p, flag, attr, 1000, iterations, 0};
    pthread_create(&t[i], NULL, loop, &r[i]);
  }
  double sum = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(t[i], NULL);
    sum += r[i].ns;
  }
  return sum / threads;
}

static void report(const char *what, double ns, int threads)
{
  printf("%-58s %9.0f ns/eval  %8.2f M eval/s total\n", what, ns, threads * 1e3 / ns);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: confidence_bench_store STATES_DIR [REDIS_PORT]\n");
    return 2;
  }
  char sticky[4096], spec[4096];
  snprintf(sticky, sizeof sticky, "%s/resolver_state_with_multiple_sticky_flags.pb", argv[1]);
  snprintf(spec, sizeof spec, "%s/../resolver-spec/state.pb", argv[1]);
  confidence_store *m = NULL;
  confidence_memory_store_new(NULL, &m);
  confidence_provider *p = provider(sticky, "confidence-demo-june", m);
  report("sticky flag, memory store, 1 thread", measure(p, "sticky-flag-1", "user_id", 1, 400000), 1);
  report("sticky flag, memory store, 2 threads (per thread)", measure(p, "sticky-flag-1", "user_id", 2, 400000), 2);
  confidence_provider_free(p);

  /* Alternating rounds, best of 5 each: the machine's load moves more
   * than the difference being measured. */
  confidence_provider *plain = provider(spec, "test-account", NULL);
  confidence_memory_store_new(NULL, &m);
  confidence_provider *with = provider(spec, "test-account", m);
  double best_plain = 1e18, best_with = 1e18;
  for (int round = 0; round < 5; round++) {
    double a = measure(plain, "simple-flag", "targeting_key", 1, 1000000);
    double b = measure(with, "simple-flag", "targeting_key", 1, 1000000);
    best_plain = a < best_plain ? a : best_plain;
    best_with = b < best_with ? b : best_with;
  }
  report("flag without materializations, no store (best of 5)", best_plain, 1);
  report("flag without materializations, memory store configured (best of 5)", best_with, 1);
  confidence_provider_free(plain);
  confidence_provider_free(with);
#ifdef CONFIDENCE_BENCH_REDIS
  if (argc > 2) {
    confidence_redis_store_options ro = CONFIDENCE_REDIS_STORE_OPTIONS_INIT;
    ro.port = atoi(argv[2]);
    confidence_store *r = NULL;
    confidence_redis_store_new(&ro, &r);
    p = provider(sticky, "confidence-demo-june", r);
    report("sticky flag, Redis on loopback, 1 thread", measure(p, "sticky-flag-1", "user_id", 1, 20000), 1);
    report("sticky flag, Redis on loopback, 2 threads (per thread)", measure(p, "sticky-flag-1", "user_id", 2, 20000), 2);
    confidence_provider_free(p);
  }
#endif
  return 0;
}
