/* fuzz_context_json: input bytes -> confidence_value_from_json.
 *
 * Whatever parses goes through the value API checks (readers, copy, equal,
 * to_json -> from_json round trip). A JSON object is then used as the
 * evaluation context of a resolve of every flag of the resolver-spec state
 * (secret "test-secret", DISCOVER mode, resumed when it suspends); the same
 * resolve on a fresh result object must give the same outcome. Anything else
 * must be refused with CONFIDENCE_EINVAL.
 *
 * The state is read once from $CONFIDENCE_CONFORMANCE_DIR/resolver-spec or
 * the shared/conformance directory compiled in. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static confidence_state *g_state;
static fz_dict g_dict;
static confidence_resolve_result *g_res;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  g_state = fz_load_spec_state("fuzz_context_json", &g_dict);
  g_res = confidence_resolve_result_new();
  if (!g_res)
    exit(1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  confidence_value *v = NULL;
  int rc = confidence_value_from_json((const char *)data, size, &v);
  if (rc) {
    FZ_CHECK(rc == CONFIDENCE_EPARSE || rc == CONFIDENCE_ELIMIT); /* ELIMIT: deeper than the parser allows */
    FZ_CHECK(v == NULL);
    FZ_CHECK(confidence_last_error_message()[0] != '\0');
    return 0;
  }
  FZ_CHECK(v != NULL);
  fz_value_roundtrip(v);

  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = "test-secret";
  req.context = v;
  req.materialization_mode = CONFIDENCE_MATERIALIZATIONS_DISCOVER;
  unsigned sel = size ? data[size - 1] : 0;
  uint64_t h1 = 0, h2 = 0;
  rc = fz_resolve_checked(g_state, &req, g_res, &g_dict, sel, &h1);
  if (confidence_value_type_of(v) != CONFIDENCE_VALUE_STRUCT) {
    FZ_CHECK(rc == CONFIDENCE_EINVAL);
  } else {
    FZ_CHECK(rc == 0 || rc == CONFIDENCE_ERESOLVE);
    /* Reusing a result must not leak anything into the next resolve. */
    confidence_resolve_result *fresh = confidence_resolve_result_new();
    FZ_CHECK(fresh != NULL);
    int rc2 = fz_resolve_checked(g_state, &req, fresh, &g_dict, sel, &h2);
    FZ_CHECK(rc == rc2 && h1 == h2);
    confidence_resolve_result_free(fresh);
    /* The other modes over the same context. */
    req.materialization_mode = CONFIDENCE_MATERIALIZATIONS_UNSUPPORTED;
    fz_resolve_checked(g_state, &req, g_res, &g_dict, sel, NULL);
    req.client_secret = "minimal-secret";
    req.materialization_mode = CONFIDENCE_MATERIALIZATIONS_STATIC;
    fz_resolve_checked(g_state, &req, g_res, &g_dict, sel, NULL);
  }
  confidence_value_free(v);
  return 0;
}
