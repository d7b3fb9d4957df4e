/* Track events: the Confidence event a track call builds, the
 * bounded lock-free queue it waits in, and the PublishEventsRequest
 * batches the sender thread publishes. Field numbers are those of
 * confidence.events.v1 (types.proto / api.proto). */
#ifndef CF_EVENT_LOG_H
#define CF_EVENT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "confidence/tracking.h"
#include "net.h"
#include "wbuf.h"

/* Deepest value nesting an event payload may hold (the backend's protobuf
 * decoders stop at 100 message levels; each value level costs three). */
#define CF_EVENT_MAX_DEPTH 32
/* Largest encoded event; a batch holds up to CF_EVENT_BATCH_BYTES. */
#define CF_EVENT_MAX_BYTES ((size_t)1 << 20)
#define CF_EVENT_BATCH_BYTES ((size_t)2 << 20)

enum cf_event_field { /* confidence.events.v1.Event */
  CF_EVENT_FIELD_DEFINITION = 1,
  CF_EVENT_FIELD_PAYLOAD = 2,
  CF_EVENT_FIELD_TIME = 3
};
enum cf_publish_field { /* confidence.events.v1.PublishEventsRequest */
  CF_PUBLISH_FIELD_CLIENT_SECRET = 1,
  CF_PUBLISH_FIELD_EVENTS = 2,
  CF_PUBLISH_FIELD_SEND_TIME = 3,
  CF_PUBLISH_FIELD_SDK = 4
};
enum cf_publish_response_field { CF_PUBLISH_RESPONSE_FIELD_ERRORS = 1 };

/* Encodes the Event of one track call into *out (out->p malloc'd):
 * definition "eventDefinitions/<name>", payload = data's fields, then
 * "context" and "value" overriding them, event time `time_ns` (wall
 * clock). Returns 0, CONFIDENCE_EINVAL (non-struct context or data,
 * invalid UTF-8), CONFIDENCE_ELIMIT (too deep or too large) or
 * CONFIDENCE_ENOMEM. */
int cf_event_encode(const char *name, const confidence_value *context, const double *value,
                    const confidence_value *data, int64_t time_ns, cf_wbuf *out);

typedef struct cf_event_log cf_event_log;

cf_event_log *cf_event_log_new(uint32_t max_queued);
void cf_event_log_free(cf_event_log *log);

/* Queues an encoded event (takes buf->p). Never blocks. */
void cf_event_log_push(cf_event_log *log, cf_wbuf *buf);
/* Counts a track call that produced no event (`dropped`: it was valid). */
void cf_event_log_count(cf_event_log *log, bool dropped);

/* Where and how a batch goes. */
typedef struct cf_event_sink {
  const confidence_transport *transport;
  const char *url; /* gRPC base URL */
  const char *secret;
  uint32_t timeout_ms;
  const cf_retry_policy *retry;
} cf_event_sink;

/* Publishes queued events in batches until the queue is empty or a call
 * fails (the batch stays queued, in order). Returns 0 or
 * CONFIDENCE_ENETWORK. Serialised internally. */
int cf_event_log_ship(cf_event_log *log, const cf_event_sink *sink);

/* True when half the bound is held (queue_policy.h): time to send early.
 * Lock-free, unlike _stats, which waits for a send in flight. */
bool cf_event_log_half_full(cf_event_log *log);
void cf_event_log_stats(cf_event_log *log, confidence_event_stats *out);

#endif
