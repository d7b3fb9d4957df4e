/* Prometheus metrics of a provider: resolve latency and reasons, exposures,
 * events, state. Serve the text at /metrics in your HTTP server.
 * Usage: metrics STATE_FILE ACCOUNT_ID CLIENT_SECRET [--openmetrics]
 * (e.g. build/sample/state.pb demo-shop-account demo-client-secret) */
#include <stdio.h>
#include <string.h>

#include <confidence/confidence.h>

int main(int argc, char **argv)
{
  if (argc < 4) {
    fprintf(stderr, "usage: metrics STATE_FILE ACCOUNT_ID CLIENT_SECRET [--openmetrics]\n");
    return 2;
  }
  confidence_provider_options opts = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  opts.state_file = argv[1];
  opts.account_id = argv[2];
  opts.client_secret = argv[3];
  opts.disable_state_sync = 1;
  opts.disable_exposure_collection = 1;
  confidence_provider *provider;
  if (confidence_provider_new(&opts, &provider) != 0 || confidence_provider_start(provider, 5000) != 0) {
    fprintf(stderr, "provider: %s\n", confidence_last_error_message());
    return 1;
  }
  confidence_value *ctx = confidence_value_new_struct();
  confidence_value_struct_set(ctx, "targeting_key", confidence_value_new_string("user-123"));
  for (int i = 0; i < 1000; i++)
    confidence_provider_get_bool(provider, "new-checkout.enabled", ctx, 0, NULL);

  confidence_metrics_options mopts = CONFIDENCE_METRICS_OPTIONS_INIT;
  mopts.openmetrics = argc > 4 && strcmp(argv[4], "--openmetrics") == 0;
  mopts.buckets_per_decade = 3; /* a coarser latency histogram */
  char *text;
  if (confidence_provider_metrics(provider, &mopts, &text) == 0) {
    fputs(text, stdout);
    confidence_string_free(text);
  }
  confidence_value_free(ctx);
  confidence_provider_free(provider);
  return 0;
}
