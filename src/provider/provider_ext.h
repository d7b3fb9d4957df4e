/* What issue 10 adds to the provider (tracking, metrics, all-flags
 * evaluation), kept apart from the lifecycle code: one pointer in
 * struct confidence_provider, set up and torn down through two hooks. */
#ifndef CF_PROVIDER_EXT_H
#define CF_PROVIDER_EXT_H

#include "confidence/provider.h"
#include "event_log.h"

typedef struct cf_provider_ext {
  cf_event_log *events;
  char *events_url; /* gRPC base URL of the events service */
  unsigned instance; /* resolver_id label of the metrics */
} cf_provider_ext;

/* From the (current-layout) options; 0 or CONFIDENCE_ENOMEM. */
int cf_provider_ext_init(confidence_provider *p, const confidence_provider_options *o);
void cf_provider_ext_free(confidence_provider *p);

/* Publishes queued track events (sender thread, flush, shutdown) with the
 * flag logs' retry policy. Returns 0 or CONFIDENCE_ENETWORK. */
int cf_provider_ship_events(confidence_provider *p, uint32_t timeout_ms, const cf_retry_policy *retry);

#endif
