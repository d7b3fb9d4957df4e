// A C++ client of the public API: every _INIT macro, the umbrella header
// and a resolve through the core, so the headers stay usable from C++.
#include <confidence/confidence.h>
#include <confidence/sys/transport.h>

#include <cstdio>
#include <cstring>

int main(int argc, char **argv)
{
  confidence_state_options so = CONFIDENCE_STATE_OPTIONS_INIT;
  confidence_resolve_request rq = CONFIDENCE_RESOLVE_REQUEST_INIT;
  confidence_provider_options po = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  confidence_provider_stats ps = CONFIDENCE_PROVIDER_STATS_INIT;
  if (so.version != CONFIDENCE_STATE_OPTIONS_VERSION || rq.version != CONFIDENCE_RESOLVE_REQUEST_VERSION ||
      po.version != CONFIDENCE_PROVIDER_OPTIONS_VERSION || ps.version != CONFIDENCE_PROVIDER_STATS_VERSION) {
    std::puts("FAIL: INIT macros");
    return 1;
  }
  if (argc < 3)
    return 0;
  so.account_id = argv[2];
  confidence_state *st = nullptr;
  if (confidence_state_load_file(argv[1], &so, &st) != CONFIDENCE_OK) {
    std::printf("FAIL: %s\n", confidence_last_error_message());
    return 1;
  }
  confidence_resolve_result *res = confidence_resolve_result_new();
  rq.client_secret = "no-such-secret";
  int rc = confidence_resolve(st, &rq, res);
  confidence_resolve_result_free(res);
  confidence_state_unref(st);
  if (rc != CONFIDENCE_ESECRET) {
    std::printf("FAIL: resolve gave %s\n", confidence_strerror(rc));
    return 1;
  }
  std::puts("ok");
  return 0;
}
