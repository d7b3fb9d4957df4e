/* The track-event queue: a bounded lock-free multi-producer ring (Vyukov's
 * sequence-numbered cells) that track calls push encoded events into, an
 * admission counter that makes the bound exact (events held, in the ring
 * or in a batch kept after a failed send, never exceed max_queued), and
 * the sender side that joins events into PublishEventsRequest batches. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event_log.h"
#include "queue_policy.h"
#include "sdk_id.h"
#include "util.h"
#include "wire.h"

#define PUBLISH_METHOD "/confidence.events.v1.EventsService/PublishEvents"
enum { SDK_FIELD_CUSTOM_ID = 2, SDK_FIELD_VERSION = 3 };

/* Vyukov's cell sequence, stored less the cell's index (seq - i): a fresh
 * cell then holds 0, so calloc's untouched pages are the initial ring and
 * a queue of 100,000 costs no memory until it is used. */
typedef struct cell {
  _Atomic size_t seq;
  uint8_t *bytes;
  size_t len;
} cell;

typedef struct held_event {
  uint8_t *bytes;
  size_t len;
} held_event;

struct cf_event_log {
  cell *cells;
  size_t mask;
  uint64_t max_queued;
  _Alignas(64) _Atomic size_t enqueue_pos;
  _Alignas(64) _Atomic size_t dequeue_pos;
  _Alignas(64) _Atomic uint64_t held; /* admitted and not yet delivered */
  _Atomic uint64_t tracked, dropped, invalid;
  pthread_mutex_t ship_mu; /* the consumer side; everything below */
  struct {
    held_event *items;
    size_t n, cap;
  } batch; /* taken from the ring, in order, not yet delivered */
  uint64_t sent, rejected, send_failures;
};

/* The sequence of the cell at `pos`, and setting it (see cell). */
static size_t cell_seq(const cf_event_log *log, cell *c, size_t pos)
{
  return atomic_load_explicit(&c->seq, memory_order_acquire) + (pos & log->mask);
}

static void cell_set_seq(const cf_event_log *log, cell *c, size_t pos, size_t seq)
{
  atomic_store_explicit(&c->seq, seq - (pos & log->mask), memory_order_release);
}

cf_event_log *cf_event_log_new(uint32_t max_queued)
{
  cf_event_log *log = calloc(1, sizeof *log);
  size_t cap = 2;
  while (cap < max_queued)
    cap *= 2;
  if (!log || !(log->cells = calloc(cap, sizeof *log->cells))) {
    free(log);
    return NULL;
  }
  log->mask = cap - 1;
  log->max_queued = max_queued;
  pthread_mutex_init(&log->ship_mu, NULL);
  return log;
}

/* The single consumer's pop; false when the ring is empty. */
static bool ring_pop(cf_event_log *log, held_event *out)
{
  size_t pos = atomic_load_explicit(&log->dequeue_pos, memory_order_relaxed);
  cell *c = &log->cells[pos & log->mask];
  if (cell_seq(log, c, pos) != pos + 1)
    return false; /* empty, or its producer has not published it yet */
  out->bytes = c->bytes;
  out->len = c->len;
  atomic_store_explicit(&log->dequeue_pos, pos + 1, memory_order_relaxed);
  cell_set_seq(log, c, pos, pos + log->mask + 1);
  return true;
}

static bool ring_push(cf_event_log *log, uint8_t *bytes, size_t len)
{
  size_t pos = atomic_load_explicit(&log->enqueue_pos, memory_order_relaxed);
  for (;;) {
    cell *c = &log->cells[pos & log->mask];
    size_t seq = cell_seq(log, c, pos);
    intptr_t diff = (intptr_t)seq - (intptr_t)pos;
    if (diff == 0) {
      if (atomic_compare_exchange_weak_explicit(&log->enqueue_pos, &pos, pos + 1, memory_order_relaxed,
                                                memory_order_relaxed)) {
        c->bytes = bytes;
        c->len = len;
        cell_set_seq(log, c, pos, pos + 1);
        return true;
      }
    } else if (diff < 0) {
      return false; /* full (the admission counter makes this unreachable) */
    } else {
      pos = atomic_load_explicit(&log->enqueue_pos, memory_order_relaxed);
    }
  }
}

void cf_event_log_free(cf_event_log *log)
{
  if (!log)
    return;
  held_event e;
  while (ring_pop(log, &e))
    free(e.bytes);
  for (size_t i = 0; i < log->batch.n; i++)
    free(log->batch.items[i].bytes);
  free(log->batch.items);
  free(log->cells);
  pthread_mutex_destroy(&log->ship_mu);
  free(log);
}

void cf_event_log_count(cf_event_log *log, bool dropped)
{
  atomic_fetch_add_explicit(&log->tracked, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(dropped ? &log->dropped : &log->invalid, 1, memory_order_relaxed);
}

void cf_event_log_push(cf_event_log *log, cf_wbuf *buf)
{
  uint8_t *bytes = buf->p;
  buf->p = NULL;
  uint64_t before = atomic_fetch_add_explicit(&log->held, 1, memory_order_relaxed);
  if (before >= log->max_queued || !ring_push(log, bytes, buf->n)) {
    atomic_fetch_sub_explicit(&log->held, 1, memory_order_relaxed);
    free(bytes);
    cf_event_log_count(log, true);
    return;
  }
  atomic_fetch_add_explicit(&log->tracked, 1, memory_order_relaxed);
}

/* Tops the kept batch up from the ring, to CF_EVENT_BATCH_BYTES (an event
 * bigger than that goes alone). ship_mu held. */
static size_t fill_batch(cf_event_log *log)
{
  size_t bytes = 0;
  for (size_t i = 0; i < log->batch.n; i++)
    bytes += log->batch.items[i].len + CF_WIRE_MAX_LEN_HEADER;
  while (bytes < CF_EVENT_BATCH_BYTES) {
    size_t pos = atomic_load_explicit(&log->dequeue_pos, memory_order_relaxed);
    cell *c = &log->cells[pos & log->mask];
    if (cell_seq(log, c, pos) != pos + 1)
      break;
    if (log->batch.n && bytes + c->len + CF_WIRE_MAX_LEN_HEADER > CF_EVENT_BATCH_BYTES)
      break;
    held_event *slot = CF_VEC_PUSH(log->batch);
    if (!slot)
      break;
    if (!ring_pop(log, slot)) { /* cannot happen: the cell was checked, and we are the consumer */
      log->batch.n--;
      break;
    }
    bytes += slot->len + CF_WIRE_MAX_LEN_HEADER;
  }
  return log->batch.n;
}

/* PublishEventsRequest{client_secret, events, send_time, sdk}. */
static void build_request(cf_event_log *log, const char *secret, cf_wbuf *b)
{
  cf_wbuf_put_bytes_field(b, CF_PUBLISH_FIELD_CLIENT_SECRET, secret, strlen(secret));
  for (size_t i = 0; i < log->batch.n; i++)
    cf_wbuf_put_bytes_field(b, CF_PUBLISH_FIELD_EVENTS, log->batch.items[i].bytes, log->batch.items[i].len);
  cf_wbuf_put_timestamp(b, CF_PUBLISH_FIELD_SEND_TIME, cf_clock_wall_ns());
  size_t sdk = cf_wbuf_begin_msg(b, CF_PUBLISH_FIELD_SDK);
  cf_wbuf_put_bytes_field(b, SDK_FIELD_CUSTOM_ID, CF_SDK_CUSTOM_ID, sizeof CF_SDK_CUSTOM_ID - 1);
  cf_wbuf_put_bytes_field(b, SDK_FIELD_VERSION, CF_SDK_VERSION, sizeof CF_SDK_VERSION - 1);
  cf_wbuf_end_msg(b, sdk);
}

/* PublishEventsResponse.errors: how many events the service refused. */
static size_t count_errors(const uint8_t *p, size_t len)
{
  size_t i = 0, n = 0;
  uint64_t tag, l;
  while (i < len && cf_wire_read_varint(p, len, &i, &tag)) {
    if ((tag & 7) != 2 || !cf_wire_read_varint(p, len, &i, &l) || l > len - i)
      break; /* the response has only this one field */
    n += (tag >> 3) == CF_PUBLISH_RESPONSE_FIELD_ERRORS;
    i += l;
  }
  return n;
}

/* One PublishEvents call for the kept batch; true when delivered. */
static bool publish_batch(cf_event_log *log, const cf_event_sink *sink)
{
  cf_wbuf req = {0};
  build_request(log, sink->secret, &req);
  char auth[600];
  snprintf(auth, sizeof auth, "ClientSecret %s", sink->secret);
  cf_grpc_result r = {0};
  bool ok = !req.err && cf_grpc_unary(sink->transport, sink->url, PUBLISH_METHOD, auth, req.p, req.n,
                                      sink->timeout_ms, sink->retry, &r) == 0;
  free(req.p);
  size_t n = log->batch.n, refused = ok ? count_errors(r.body, r.len) : 0;
  free(r.body);
  if (!ok) {
    log->send_failures++;
    return false;
  }
  refused = refused > n ? n : refused;
  log->sent += n - refused;
  log->rejected += refused;
  for (size_t i = 0; i < n; i++)
    free(log->batch.items[i].bytes);
  log->batch.n = 0;
  atomic_fetch_sub_explicit(&log->held, n, memory_order_relaxed);
  return true;
}

int cf_event_log_ship(cf_event_log *log, const cf_event_sink *sink)
{
  int rc = 0;
  pthread_mutex_lock(&log->ship_mu);
  while (rc == 0 && fill_batch(log) > 0)
    rc = publish_batch(log, sink) ? 0 : CONFIDENCE_ENETWORK;
  pthread_mutex_unlock(&log->ship_mu);
  return rc;
}

bool cf_event_log_half_full(cf_event_log *log)
{
  return cf_half_full(atomic_load_explicit(&log->held, memory_order_relaxed), log->max_queued);
}

void cf_event_log_stats(cf_event_log *log, confidence_event_stats *out)
{
  pthread_mutex_lock(&log->ship_mu);
  out->sent = log->sent;
  out->rejected = log->rejected;
  out->send_failures = log->send_failures;
  out->queued = atomic_load(&log->held);
  out->tracked = atomic_load(&log->tracked);
  pthread_mutex_unlock(&log->ship_mu);
  out->dropped = atomic_load(&log->dropped);
  out->invalid = atomic_load(&log->invalid);
}
