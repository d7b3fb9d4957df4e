/* An evaluating thread that the drainer keeps up with touches only the
 * first pages of its exposure ring: the producer starts a new lap whenever
 * it finds the ring empty past CF_SLOT_REWIND records. 20,000 evaluations
 * (over two laps of the ring) in batches the drainer empties leave under a
 * seventh of the ring's pages resident, and every exposure is sent once.
 * Usage: test_ring_pages BUILD_DIR */
#define _DEFAULT_SOURCE /* mincore */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "confidence/confidence.h"
#include "confidence/provider.h"
#include "fake_transport.h"
#include "provider_internal.h"

#define EVALUATIONS 20000
#define BATCH 200

static size_t resident_pages(const void *p, size_t len, size_t *total)
{
  size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (len + page - 1) / page, resident = 0;
  unsigned char *vec = malloc(n);
  if (!vec || mincore((void *)p, len, vec) != 0) {
    free(vec);
    *total = 0;
    return 0;
  }
  for (size_t i = 0; i < n; i++)
    resident += vec[i] & 1;
  free(vec);
  *total = n;
  return resident;
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: test_ring_pages BUILD_DIR\n");
    return 2;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/sample/state.pb", argv[1]);
  confidence_transport t = FAKE_GRPC_OK_TRANSPORT;
  confidence_provider_options o;
  confidence_provider_options_init(&o, CONFIDENCE_PROVIDER_OPTIONS_VERSION);
  o.client_secret = "demo-client-secret";
  o.state_file = path;
  o.disable_state_sync = 1;
  o.transport = &t;
  o.flag_log_grpc_url = "http://127.0.0.1:1";
  o.max_queued_exposures = 1000000;
  confidence_provider *p = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  CHECK(confidence_provider_start(p, 1000) == 0);

  long answered = 0;
  for (int i = 0; i < EVALUATIONS; i++) {
    char key[32];
    snprintf(key, sizeof key, "unit-%d", i); /* distinct keys: no exposure is deduplicated */
    confidence_value *ctx = confidence_value_new_struct();
    confidence_value_struct_set(ctx, "targeting_key", confidence_value_new_string(key));
    confidence_value_struct_set(ctx, "country", confidence_value_new_string("SE"));
    answered += confidence_provider_get_bool(p, "new-checkout.enabled", ctx, -1, NULL) != -1;
    confidence_value_free(ctx);
    if ((i + 1) % BATCH == 0)
      CHECK(confidence_provider_flush(p, 5000) == 0); /* the drainer empties the ring */
  }
  CHECK(answered == EVALUATIONS);

  cf_slot *slot = cf_provider_slot(p);
  CHECK(slot && slot->ring);
  size_t total = 0, resident = slot && slot->ring ? resident_pages(slot->ring, CF_SLOT_RING * sizeof(cf_exposure), &total) : 0;
  fprintf(stderr, "ring pages resident after %d evaluations: %zu of %zu\n", EVALUATIONS, resident, total);
  CHECK(total > 0 && resident > 0);
  /* CF_SLOT_REWIND + BATCH records span 38 pages; before the rewind all were touched. */
  CHECK(resident < total / 7);

  confidence_provider_stats st = CONFIDENCE_PROVIDER_STATS_INIT;
  CHECK(confidence_provider_read_stats(p, &st) == 0);
  CHECK(st.evaluations == EVALUATIONS);
  CHECK(st.exposures_sent == EVALUATIONS);
  CHECK(st.exposures_dropped == 0);
  CHECK(confidence_provider_shutdown(p, 2000) == 0);
  confidence_provider_free(p);
  return check_finish();
}
