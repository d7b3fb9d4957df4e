/* Resolves every flag of a client for one user and prints variant and
 * value. Usage: resolve_flags STATE_FILE ACCOUNT_ID CLIENT_SECRET CONTEXT_JSON
 * e.g. resolve_flags build/sample/state.pb demo-shop-account demo-client-secret \
 *        '{"targeting_key":"alice","country":"SE"}' */
#include <confidence/confidence.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
  if (argc != 5) {
    fprintf(stderr, "usage: %s STATE_FILE ACCOUNT_ID CLIENT_SECRET CONTEXT_JSON\n", argv[0]);
    return 2;
  }
  confidence_state_options opts = CONFIDENCE_STATE_OPTIONS_INIT;
  opts.account_id = argv[2];
  confidence_state *state = NULL;
  if (confidence_state_load_file(argv[1], &opts, &state) != 0) {
    fprintf(stderr, "cannot load state: %s\n", confidence_last_error_message());
    return 1;
  }
  confidence_value *context = NULL;
  if (confidence_value_from_json(argv[4], strlen(argv[4]), &context) != 0) {
    fprintf(stderr, "bad context: %s\n", confidence_last_error_message());
    confidence_state_unref(state);
    return 1;
  }

  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = argv[3];
  req.context = context; /* no flags listed: all flags of the client */
  confidence_resolve_result *res = confidence_resolve_result_new();
  int rc = res ? confidence_resolve(state, &req, res) : CONFIDENCE_ENOMEM;
  if (rc != 0) {
    fprintf(stderr, "resolve failed: %s\n", res ? confidence_resolve_result_error(res) : "out of memory");
  } else {
    for (size_t i = 0; i < confidence_resolve_result_flag_count(res); i++) {
      const confidence_resolved_flag *f = confidence_resolve_result_flag_at(res, i);
      char *value = confidence_value_to_json(confidence_resolved_flag_value(f)); /* owned */
      printf("%-28s %-22s %s\n", confidence_resolved_flag_name(f),
             confidence_resolve_reason_name(confidence_resolved_flag_reason(f)) + strlen("RESOLVE_REASON_"),
             value ? value : "");
      confidence_string_free(value);
    }
  }
  confidence_resolve_result_free(res);
  confidence_value_free(context);
  confidence_state_unref(state);
  return rc == 0 ? 0 : 1;
}
