/* Quick start: the C version of the Python provider's README example.
 * Create a provider, wait until it is ready, evaluate a boolean flag for a
 * user, shut down (which sends the exposure to Confidence).
 *
 *   CONFIDENCE_CLIENT_SECRET=... ./quickstart
 * Optional endpoint overrides (the demo points them at the local backend):
 *   CONFIDENCE_CDN_URL, CONFIDENCE_FLAG_LOG_URL, CONFIDENCE_FLAG_KEY */
#include <confidence/confidence.h>
#include <confidence/provider.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
  const char *secret = getenv("CONFIDENCE_CLIENT_SECRET");
  const char *flag_key = getenv("CONFIDENCE_FLAG_KEY") ? getenv("CONFIDENCE_FLAG_KEY") : "test-flag.enabled";
  if (!secret) {
    fprintf(stderr, "set CONFIDENCE_CLIENT_SECRET\n");
    return 2;
  }

  /* Create the provider and wait (up to 10 s) for the first flag state. */
  confidence_provider_options opts = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  opts.client_secret = secret;
  opts.cdn_base_url = getenv("CONFIDENCE_CDN_URL");         /* NULL: Confidence's CDN */
  opts.flag_log_grpc_url = getenv("CONFIDENCE_FLAG_LOG_URL"); /* NULL: Confidence's edge */
  confidence_provider *provider = NULL;
  if (confidence_provider_new(&opts, &provider) != 0) {
    fprintf(stderr, "bad options: %s\n", confidence_last_error_message());
    return 1;
  }
  if (confidence_provider_start(provider, 10000) != 0)
    fprintf(stderr, "not ready yet (%s); evaluations return defaults\n", confidence_last_error_message());

  /* Evaluation context: a targeting key plus attributes for targeting. */
  confidence_value *context = confidence_value_new_struct();
  confidence_value_struct_set(context, "targeting_key", confidence_value_new_string("user-123"));
  confidence_value_struct_set(context, "country", confidence_value_new_string("US"));
  confidence_value_struct_set(context, "plan", confidence_value_new_string("premium"));

  /* Evaluate a flag: the default comes back on any problem; details say why. */
  confidence_details *details = confidence_details_new();
  int enabled = confidence_provider_get_bool(provider, flag_key, context, 0, details);
  printf("Flag value: %s (reason %s, variant '%s'", enabled ? "true" : "false",
         confidence_eval_reason_name(confidence_details_reason(details)), confidence_details_variant(details));
  if (confidence_details_error_code(details))
    printf(", error %s: %s", confidence_eval_error_code_name(confidence_details_error_code(details)),
           confidence_details_error_message(details));
  printf(")\n");

  /* Shut down when the application exits: flushes exposure logs. */
  confidence_details_free(details);
  confidence_value_free(context);
  int rc = confidence_provider_shutdown(provider, 10000);
  confidence_provider_free(provider);
  return rc == 0 ? 0 : 1;
}
