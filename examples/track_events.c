/* OpenFeature tracking: each confidence_provider_track call becomes one
 * Confidence event, published in batches by the provider's sender thread.
 * Usage: track_events [EVENTS_GRPC_URL]   (default: Confidence's edge;
 * the local backend: http://127.0.0.1:<grpc port>) */
#include <stdio.h>

#include <confidence/confidence.h>

int main(int argc, char **argv)
{
  confidence_provider_options opts = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  opts.client_secret = "demo-client-secret";
  opts.events_grpc_url = argc > 1 ? argv[1] : NULL;
  opts.disable_state_sync = 1; /* tracking needs no flag state */
  confidence_provider *provider;
  if (confidence_provider_new(&opts, &provider) != 0 || confidence_provider_start(provider, 0) != 0) {
    fprintf(stderr, "provider: %s\n", confidence_last_error_message());
    return 1;
  }

  confidence_value *ctx = confidence_value_new_struct();
  confidence_value_struct_set(ctx, "targeting_key", confidence_value_new_string("user-123"));
  confidence_value *data = confidence_value_new_struct();
  confidence_value_struct_set(data, "product", confidence_value_new_string("sku-991"));

  confidence_track_details details = CONFIDENCE_TRACK_DETAILS_INIT;
  details.has_value = 1; /* an explicit 0 is a value too */
  details.value = 19.99;
  details.data = data;
  confidence_provider_track(provider, "purchase", ctx, &details); /* never blocks */
  confidence_provider_track(provider, "page-view", ctx, NULL);

  int rc = confidence_provider_flush(provider, 10000); /* exposures and events */
  confidence_event_stats st = CONFIDENCE_EVENT_STATS_INIT;
  confidence_provider_read_event_stats(provider, &st);
  printf("flush: %s; events tracked %llu, sent %llu, queued %llu\n", confidence_strerror(rc),
         (unsigned long long)st.tracked, (unsigned long long)st.sent, (unsigned long long)st.queued);

  confidence_value_free(data);
  confidence_value_free(ctx);
  confidence_provider_shutdown(provider, 10000);
  confidence_provider_free(provider);
  return 0;
}
