/* The provider's side of tracking: its event queue and the events
 * service URL, the track call and its counters, and shipping on the
 * sender thread (event_log.c holds the queue, event_wire.c the encoding). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "error.h"
#include "event_log.h"
#include "provider_internal.h"
#include "util.h"

#define DEFAULT_EVENTS_GRPC "https://edge-grpc.spotify.com"
#define DEFAULT_MAX_QUEUED_EVENTS 100000

static const size_t TRACK_DETAILS_SIZES[CONFIDENCE_TRACK_DETAILS_VERSION] = {sizeof(confidence_track_details)};
static const size_t EVENT_STATS_SIZES[CONFIDENCE_EVENT_STATS_VERSION] = {sizeof(confidence_event_stats)};

int cf_provider_tracking_init(confidence_provider *p, const confidence_provider_options *o)
{
  const char *url = o->events_grpc_url && *o->events_grpc_url ? o->events_grpc_url : DEFAULT_EVENTS_GRPC;
  p->events_url = strdup(url);
  size_t n = p->events_url ? strlen(p->events_url) : 0;
  while (n > 0 && p->events_url[n - 1] == '/')
    p->events_url[--n] = '\0';
  p->events = cf_event_log_new(o->max_queued_events ? o->max_queued_events : DEFAULT_MAX_QUEUED_EVENTS);
  return p->events_url && p->events ? 0 : CONFIDENCE_ENOMEM;
}

void cf_provider_tracking_free(confidence_provider *p)
{
  cf_event_log_free(p->events);
  p->events = NULL;
  free(p->events_url);
  p->events_url = NULL;
}

void confidence_provider_track(confidence_provider *p, const char *event_name, const confidence_value *context,
                               const confidence_track_details *details)
{
  if (!p || !p->events)
    return;
  confidence_track_details d = {CONFIDENCE_TRACK_DETAILS_VERSION};
  cf_event_log *log = p->events;
  /* cf_copy_versioned would leave a message in this thread's error slot:
   * a track call reports nothing, so check the version first. */
  if (details && (details->version < 1 || details->version > CONFIDENCE_TRACK_DETAILS_VERSION)) {
    cf_event_log_count(log, false);
    return;
  }
  if (details)
    cf_copy_versioned(&d, sizeof d, details, details->version, TRACK_DETAILS_SIZES, CONFIDENCE_TRACK_DETAILS_VERSION,
                      "confidence_track_details");
  cf_wbuf buf;
  if (cf_event_encode(event_name, context, d.has_value ? &d.value : NULL, d.data, cf_clock_wall_ns(), &buf) != 0) {
    cf_event_log_count(log, false);
    return;
  }
  cf_event_log_push(log, &buf);
}

int confidence_provider_read_event_stats(const confidence_provider *p, confidence_event_stats *out)
{
  if (!out)
    return cf_error(CONFIDENCE_EINVAL, "out must not be NULL");
  unsigned version = out->version;
  int rc = cf_check_version(version, CONFIDENCE_EVENT_STATS_VERSION, "confidence_event_stats");
  if (rc)
    return rc;
  if (!p || !p->events)
    return cf_error(CONFIDENCE_EINVAL, "provider is NULL");
  confidence_event_stats s = {CONFIDENCE_EVENT_STATS_VERSION};
  cf_event_log_stats(p->events, &s);
  memcpy(out, &s, EVENT_STATS_SIZES[version - 1]);
  out->version = version;
  return 0;
}

int cf_provider_ship_events(confidence_provider *p, uint32_t timeout_ms, const cf_retry_policy *retry)
{
  cf_event_sink sink = {p->transport, p->events_url, p->secret, timeout_ms, retry};
  int rc = cf_event_log_ship(p->events, &sink);
  if (rc)
    cf_provider_log(p, CONFIDENCE_LOG_WARN, "PublishEvents failed; the batch stays queued");
  return rc;
}
