/* Every flag for one user in one call, e.g. to bootstrap a client SDK or
 * render a page: the resolve API's JSON, optionally with exposures.
 * Usage: all_flags STATE_FILE ACCOUNT_ID CLIENT_SECRET [TARGETING_KEY]
 * (e.g. build/sample/state.pb demo-shop-account demo-client-secret user-7) */
#include <stdio.h>

#include <confidence/confidence.h>

int main(int argc, char **argv)
{
  if (argc < 4) {
    fprintf(stderr, "usage: all_flags STATE_FILE ACCOUNT_ID CLIENT_SECRET [TARGETING_KEY]\n");
    return 2;
  }
  confidence_provider_options opts = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  opts.state_file = argv[1];
  opts.account_id = argv[2];
  opts.client_secret = argv[3];
  opts.disable_state_sync = 1;
  opts.disable_exposure_collection = 1; /* offline example: nothing to send */
  confidence_provider *provider;
  if (confidence_provider_new(&opts, &provider) != 0 || confidence_provider_start(provider, 5000) != 0) {
    fprintf(stderr, "provider: %s\n", confidence_last_error_message());
    return 1;
  }
  confidence_value *ctx = confidence_value_new_struct();
  confidence_value_struct_set(ctx, "targeting_key", confidence_value_new_string(argc > 4 ? argv[4] : "user-7"));
  confidence_value_struct_set(ctx, "country", confidence_value_new_string("SE"));

  confidence_value *tree; /* the same answer as a value tree, for code */
  char *json;             /* and as JSON, for a page or a client SDK */
  int rc = confidence_provider_evaluate_all(provider, ctx, /* apply = */ 0, &tree, &json);
  if (rc == 0) {
    const confidence_value *flags = confidence_value_struct_get(tree, "resolvedFlags");
    printf("%zu flags\n%s\n", confidence_value_list_size(flags), json);
    confidence_value_free(tree);
    confidence_string_free(json);
  } else {
    fprintf(stderr, "evaluate_all: %s: %s\n", confidence_strerror(rc), confidence_last_error_message());
  }
  confidence_value_free(ctx);
  confidence_provider_free(provider);
  return rc == 0 ? 0 : 1;
}
