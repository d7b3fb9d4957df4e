/* OpenFeature tracking for the provider: a track call becomes one
 * Confidence event (event definition, payload, event time: the same event
 * the official event engine builds), queued without blocking and published
 * in batches with confidence.events.v1.EventsService/PublishEvents on the
 * provider's sender thread. Threading contract: docs/threading.md. */
#ifndef CONFIDENCE_TRACKING_H
#define CONFIDENCE_TRACKING_H

#include "common.h"
#include "provider.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* OpenFeature TrackingEventDetails. Borrowed for the call only. */
#define CONFIDENCE_TRACK_DETAILS_VERSION 1
typedef struct confidence_track_details {
  unsigned version;
  int has_value;                 /* nonzero: `value` is the event's value (0 included) */
  double value;
  const confidence_value *data;  /* a struct of custom attributes, or NULL */
} confidence_track_details;
#define CONFIDENCE_TRACK_DETAILS_INIT {CONFIDENCE_TRACK_DETAILS_VERSION}

/* Tracks `event_name` (bare: "purchase"; the event definition becomes
 * "eventDefinitions/purchase") for `context` (a struct or NULL) with
 * optional `details` (NULL: no value, no data). The payload is the data's
 * fields, then "context" (the context without "_confidence_skip_apply")
 * and "value", each overriding a data field of that name; the event time
 * is now. Tracking is not an exposure: "_confidence_skip_apply" does not
 * suppress the event (the official provider strips the key and tracks).
 * Never blocks, never fails outward: an event that cannot be queued is
 * counted (confidence_provider_read_event_stats). Any thread, any time
 * between confidence_provider_new and _free; events tracked after
 * shutdown stay queued (counted) and are freed with the provider. */
CONFIDENCE_API void confidence_provider_track(confidence_provider *p, const char *event_name,
                                              const confidence_value *context,
                                              const confidence_track_details *details);

/* Event counters. Every track call ends in exactly one of queued, sent,
 * rejected, dropped or invalid:
 *   tracked == queued + sent + rejected + dropped + invalid. */
#define CONFIDENCE_EVENT_STATS_VERSION 1
typedef struct confidence_event_stats {
  unsigned version;     /* set by the caller (CONFIDENCE_EVENT_STATS_INIT) */
  uint64_t tracked;     /* track calls */
  uint64_t queued;      /* waiting to be sent, including a batch in flight or kept after a failure */
  uint64_t sent;        /* delivered and accepted */
  uint64_t rejected;    /* delivered but refused by the service (PublishEventsResponse.errors) */
  uint64_t dropped;     /* the queue was full (max_queued_events) */
  uint64_t invalid;     /* no event: NULL name, non-struct context or data, invalid UTF-8,
                           nesting deeper than 32 levels, or over 1 MiB encoded */
  uint64_t send_failures; /* PublishEvents calls that failed (after retries) */
} confidence_event_stats;
#define CONFIDENCE_EVENT_STATS_INIT {CONFIDENCE_EVENT_STATS_VERSION}

/* Copies the counters into *out, writing only the fields of out->version.
 * Returns 0 or CONFIDENCE_EINVAL (NULL, unknown version). */
CONFIDENCE_API int confidence_provider_read_event_stats(const confidence_provider *p, confidence_event_stats *out);

#ifdef __cplusplus
}
#endif
#endif
