/* Evaluation racing state swaps: several threads evaluate flags while the
 * main thread swaps between two states every millisecond. Every answer must
 * be one of the two states' answers, nothing may crash or race (this test
 * is the one the TSan tier is for), and no exposure may be lost.
 * Usage: test_provider_swap BUILD_DIR */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "confidence/confidence.h"
#include "confidence/provider.h"
#include "fake_transport.h"
#include "provider_internal.h"

#define THREADS 3
#define SWAPS 400

static confidence_provider *provider;
static atomic_bool done;
static atomic_long bad_answers, evaluations, answered_on, answered_off;

static void *evaluate_loop(void *arg)
{
  (void)arg;
  confidence_value *ctx = confidence_value_new_struct();
  confidence_value_struct_set(ctx, "targeting_key", confidence_value_new_string("racer"));
  confidence_value_struct_set(ctx, "country", confidence_value_new_string("US"));
  confidence_details *d = confidence_details_new();
  while (!atomic_load(&done)) {
    /* v1 answers off for US users, v2 answers on. */
    int v = confidence_provider_get_bool(provider, "new-checkout.enabled", ctx, -1, d);
    atomic_fetch_add(&evaluations, 1);
    if (v == 1)
      atomic_fetch_add(&answered_on, 1);
    else if (v == 0)
      atomic_fetch_add(&answered_off, 1);
    if ((v != 0 && v != 1) || confidence_details_reason(d) != CONFIDENCE_EVAL_REASON_TARGETING_MATCH)
      atomic_fetch_add(&bad_answers, 1);
    char *s = confidence_provider_get_string(provider, "button-style.color", ctx, "none", NULL);
    if (!s || !strcmp(s, "none"))
      atomic_fetch_add(&bad_answers, 1);
    confidence_string_free(s);
  }
  confidence_details_free(d);
  confidence_value_free(ctx);
  return NULL;
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: test_provider_swap BUILD_DIR\n");
    return 2;
  }
  char v1[4096], v2[4096];
  snprintf(v1, sizeof v1, "%s/sample/state.pb", argv[1]);
  snprintf(v2, sizeof v2, "%s/sample/state-v2.pb", argv[1]);
  confidence_state *a = NULL, *b = NULL;
  CHECK(confidence_state_load_file(v1, NULL, &a) == 0);
  CHECK(confidence_state_load_file(v2, NULL, &b) == 0);

  confidence_transport t = FAKE_GRPC_OK_TRANSPORT;
  confidence_provider_options o;
  confidence_provider_options_init(&o, CONFIDENCE_PROVIDER_OPTIONS_VERSION);
  o.client_secret = "demo-client-secret";
  o.state_file = v1;
  o.disable_state_sync = 1;
  o.transport = &t;
  o.flag_log_grpc_url = "http://127.0.0.1:1";
  o.max_queued_exposures = 10000000;
  CHECK(confidence_provider_new(&o, &provider) == 0);
  CHECK(confidence_provider_start(provider, 1000) == 0);

  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; i++)
    pthread_create(&threads[i], NULL, evaluate_loop, NULL);
  for (int i = 0; i < SWAPS; i++) {
    cf_provider_install_state(provider, confidence_state_ref(i % 2 ? a : b), "test");
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  atomic_store(&done, true);
  for (int i = 0; i < THREADS; i++)
    pthread_join(threads[i], NULL);

  CHECK(atomic_load(&bad_answers) == 0);
  CHECK(atomic_load(&answered_on) > 0);  /* both states were seen */
  CHECK(atomic_load(&answered_off) > 0);
  CHECK(confidence_provider_shutdown(provider, 10000) == 0);
  confidence_provider_stats st = CONFIDENCE_PROVIDER_STATS_INIT;
  CHECK(confidence_provider_read_stats(provider, &st) == 0);
  CHECK(st.evaluations == (uint64_t)atomic_load(&evaluations) * 2);
  /* Every evaluation was either delivered or counted as dropped (a ring
   * can overflow under this load; nothing vanishes silently). */
  CHECK(st.exposures_sent + st.exposures_dropped + st.exposures_deduplicated == st.evaluations);
  CHECK(st.exposures_queued == 0);
  CHECK(st.state_updates == SWAPS + 1);
  printf("evaluations=%llu sent=%llu dropped=%llu\n", (unsigned long long)st.evaluations,
         (unsigned long long)st.exposures_sent, (unsigned long long)st.exposures_dropped);
  confidence_provider_free(provider);
  confidence_state_unref(a);
  confidence_state_unref(b);
  return check_finish();
}
