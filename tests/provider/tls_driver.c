/* Test driver for the CA search, run by tests/provider/test_tls.py: one
 * provider with the built-in transport, the CDN at CDN_URL, started with a
 * timeout; the CAs come from the environment the script sets up.
 *   tls_driver CDN_URL SECRET TIMEOUT_MS
 * Prints one line per log message ("log LEVEL MESSAGE") and event ("event
 * TYPE MESSAGE"), then "start RC STATUS MESSAGE"; exits 0 after a clean
 * shutdown whatever the outcome, which the script judges.
 *   tls_driver --direct URL
 * One GET through the public libcurl vtable used on its own (its CAs are
 * decided once per process): prints "direct RC STATUS ERROR". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confidence/confidence.h"
#include "confidence/sys/transport.h"

static int direct(const char *url)
{
  const confidence_transport *t = confidence_transport_curl();
  confidence_http_request req = {0};
  req.method = "GET";
  req.url = url;
  req.timeout_ms = 10000;
  confidence_http_response resp;
  int rc = t->exchange(&req, &resp, t->user_data);
  printf("direct %d %ld %s\n", rc, resp.status, rc ? resp.error : "");
  t->free_response(&resp, t->user_data);
  return 0;
}

static void on_log(int level, const char *message, void *user_data)
{
  (void)user_data;
  printf("log %d %s\n", level, message);
  fflush(stdout);
}

static void on_event(const confidence_event *ev, void *user_data)
{
  (void)user_data;
  printf("event %d %s\n", ev->type, ev->message ? ev->message : "");
  fflush(stdout);
}

int main(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "--direct") == 0)
    return direct(argv[2]);
  if (argc != 4) {
    fprintf(stderr, "usage: tls_driver CDN_URL SECRET TIMEOUT_MS\n");
    return 2;
  }
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  o.client_secret = argv[2];
  o.cdn_base_url = argv[1];
  o.disable_exposure_collection = 1; /* the CDN is what is under test */
  o.log = on_log;
  o.log_level = CONFIDENCE_LOG_DEBUG;
  o.on_event = on_event;
  confidence_provider *p = NULL;
  int rc = confidence_provider_new(&o, &p);
  if (rc) {
    printf("new %d %s\n", rc, confidence_last_error_message());
    return 1;
  }
  rc = confidence_provider_start(p, (uint32_t)strtoul(argv[3], NULL, 10));
  /* the message is read before anything else can replace it */
  printf("start %d %d %s\n", rc, confidence_provider_status(p), rc ? confidence_last_error_message() : "");
  fflush(stdout);
  int down = confidence_provider_shutdown(p, 5000);
  confidence_provider_free(p);
  if (down) {
    printf("shutdown %d\n", down);
    return 1;
  }
  return 0;
}
