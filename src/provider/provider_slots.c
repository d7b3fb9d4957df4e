/* Per-thread slots of the evaluating threads and the hazard-pointer
 * protocol around the provider's current state:
 *  - a slot holds its thread's hazard pointer, exposure ring and resolve
 *    result; slots stay linked while the provider lives, a new thread
 *    takes over the slot of an exited one, and a slot left free with a
 *    drained ring gives its ring and result back (a small husk remains);
 *  - a replaced state is retired, and freed only once no hazard holds it
 *    and one more full drain of the rings has consumed every exposure
 *    record pointing into it. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "provider_internal.h"

static void slot_release(void *arg)
{
  cf_slot *slot = arg;
  atomic_store(&slot->in_use, 0); /* the drainer still empties its ring */
}

int cf_slots_init(confidence_provider *p)
{
  if (pthread_key_create(&p->slot_key, slot_release) != 0)
    return CONFIDENCE_ENOMEM;
  pthread_mutex_init(&p->slots_mu, NULL);
  pthread_mutex_init(&p->drain_mu, NULL);
  return 0;
}

#define RING_BYTES (CF_SLOT_RING * sizeof(cf_exposure))

static void slot_disarm(cf_slot *slot)
{
  atomic_store(&slot->armed, 0);
  if (slot->ring)
    munmap(slot->ring, RING_BYTES);
  confidence_resolve_result_free(slot->res);
  slot->ring = NULL;
  slot->res = NULL;
}

/* Gives a slot its ring and resolve result (a slot whose thread exited
 * lost them once its ring drained). False when out of memory. */
static bool slot_arm(cf_slot *slot)
{
  if (slot->ring)
    return true;
  /* Its own mapping: pages are touched only as records are written, and
   * all of it goes back to the system when the slot is disarmed (a malloc
   * arena would keep it, and calloc would touch every page). */
  void *ring = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  slot->ring = ring == MAP_FAILED ? NULL : ring;
  slot->res = confidence_resolve_result_new();
  if (slot->ring && slot->res) {
    atomic_store(&slot->armed, 1);
    return true;
  }
  slot_disarm(slot);
  return false;
}

/* The record at `tail` to read next, moving `tail` on to the next lap's
 * start where the producer left the ring early; NULL when none is left
 * before `head`. The consumer's side of ring_push. */
static cf_exposure *slot_next_record(cf_slot *s, uint64_t *tail, uint64_t head)
{
  if (*tail < head && *tail == atomic_load_explicit(&s->skip_from, memory_order_relaxed))
    *tail = cf_slot_next_lap_start(*tail);
  return *tail < head ? &s->ring[*tail % CF_SLOT_RING] : NULL;
}

/* Records nobody will send: frees their parts and empties the ring. */
static void slot_discard_records(cf_slot *s)
{
  uint64_t tail = atomic_load(&s->tail), head = atomic_load(&s->head);
  for (cf_exposure *e; s->ring && (e = slot_next_record(s, &tail, head)) != NULL; tail++) {
    free(e->fts);
    cf_schema_free(e->schema);
  }
  atomic_store(&s->tail, head);
}

/* A free slot (its thread exited), or a new one linked into the list;
 * NULL when out of memory. p->slots_mu held. A slot whose ring still holds
 * the exited thread's records is reused as is: the new thread becomes the
 * ring's one producer (slots_mu orders the handover) and the drainer reads
 * on in order, so the number of slots follows the number of live threads. */
static cf_slot *slot_take(confidence_provider *p)
{
  for (cf_slot *s = atomic_load(&p->slots); s; s = s->next)
    if (!atomic_load(&s->in_use)) {
      atomic_store(&s->in_use, 1);
      return s;
    }
  cf_slot *slot = aligned_alloc(64, (sizeof *slot + 63) / 64 * 64);
  if (!slot)
    return NULL;
  memset(slot, 0, sizeof *slot);
  atomic_store(&slot->skip_from, UINT64_MAX);
  atomic_store(&slot->in_use, 1);
  slot->next = atomic_load(&p->slots);
  atomic_store(&p->slots, slot);
  return slot;
}

cf_slot *cf_provider_slot(confidence_provider *p)
{
  cf_slot *slot = pthread_getspecific(p->slot_key);
  if (slot)
    return slot;
  pthread_mutex_lock(&p->slots_mu);
  slot = slot_take(p);
  if (slot && !slot_arm(slot)) {
    atomic_store(&slot->in_use, 0); /* stays linked, unarmed, for later */
    slot = NULL;
  }
  pthread_mutex_unlock(&p->slots_mu);
  if (slot)
    pthread_setspecific(p->slot_key, slot);
  return slot;
}

confidence_state *cf_slot_protect(confidence_provider *p, cf_slot *slot, bool resolves, cf_slot_turn *turn)
{
  *turn = (cf_slot_turn){0};
  if (slot->depth++ > 0) { /* inside another evaluation: its hazard stands */
    if (resolves) {
      confidence_resolve_result *own = confidence_resolve_result_new();
      if (!own) {
        turn->oom = true;
        return NULL;
      }
      turn->outer_res = slot->res;
      slot->res = own;
    }
    return atomic_load_explicit(&slot->hazard, memory_order_relaxed);
  }
  confidence_state *st;
  do { /* publish, then confirm the state is still current */
    st = atomic_load_explicit(&p->current, memory_order_acquire);
    atomic_store(&slot->hazard, st);
  } while (st != atomic_load(&p->current));
  return st;
}

void cf_slot_unprotect(cf_slot *slot, cf_slot_turn *turn)
{
  if (turn->outer_res) {
    confidence_resolve_result_free(slot->res);
    slot->res = turn->outer_res;
  }
  if (--slot->depth == 0)
    atomic_store_explicit(&slot->hazard, NULL, memory_order_release);
}

bool cf_slots_hold(confidence_provider *p, const confidence_state *st)
{
  for (cf_slot *s = atomic_load(&p->slots); s; s = s->next)
    if (atomic_load(&s->hazard) == st)
      return true;
  return false;
}

/* Returns the memory of a slot whose thread exited, once its ring is
 * empty: short-lived threads leave a small husk, not a ring. drain_mu held. */
static void slot_reclaim(confidence_provider *p, cf_slot *s)
{
  pthread_mutex_lock(&p->slots_mu);
  if (!atomic_load(&s->in_use) && atomic_load(&s->head) == atomic_load(&s->tail))
    slot_disarm(s);
  pthread_mutex_unlock(&p->slots_mu);
}

uint64_t cf_slots_drain(confidence_provider *p)
{
  uint64_t most = 0;
  pthread_mutex_lock(&p->drain_mu); /* each ring has one consumer at a time */
  for (cf_slot *s = atomic_load(&p->slots); s; s = s->next) {
    uint64_t tail = atomic_load_explicit(&s->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&s->head, memory_order_acquire);
    /* The space is handed back as it is consumed, not at the end: a long
     * pass (thousands of records, the drainer short of CPU) would
     * otherwise leave the producer a full ring until it ends. */
    uint64_t n = 0;
    for (cf_exposure *e; (e = slot_next_record(s, &tail, head)) != NULL; n++) {
      cf_flag_log_add(p->flag_log, e);
      if (++tail % 256 == 0)
        atomic_store_explicit(&s->tail, tail, memory_order_release);
    }
    atomic_store_explicit(&s->tail, tail, memory_order_release);
    if (n > most)
      most = n;
    uint64_t dropped = atomic_exchange(&s->dropped, 0);
    if (dropped)
      cf_flag_log_count_dropped(p->flag_log, dropped);
    if (atomic_load(&s->armed) && !atomic_load(&s->in_use))
      slot_reclaim(p, s);
  }
  pthread_mutex_unlock(&p->drain_mu);
  return most;
}

void cf_slots_read_counters(confidence_provider *p, uint64_t *evaluations, uint64_t *ring_drops,
                            uint64_t *counts_dropped)
{
  *evaluations = *ring_drops = *counts_dropped = 0;
  for (cf_slot *s = atomic_load(&p->slots); s; s = s->next) {
    *evaluations += atomic_load_explicit(&s->evaluations, memory_order_relaxed);
    *ring_drops += atomic_load_explicit(&s->dropped, memory_order_relaxed);
    *counts_dropped += atomic_load_explicit(&s->counts_dropped, memory_order_relaxed);
  }
}

/* ---- per-thread metrics (slot_metrics.h) -------------------------------------- */

void cf_slot_metrics_count(cf_slot_metrics *m, int reason, uint32_t latency_us)
{
  /* Confidence's telemetry folds unknown reasons into UNSPECIFIED. */
  cf_metric_bump(&m->reasons[reason >= 0 && reason < CF_METRIC_REASONS ? reason : 0], 1);
  if (latency_us == UINT32_MAX)
    return;
  cf_metric_bump(&m->buckets[cf_latency_bucket(latency_us)], 1);
  cf_metric_bump(&m->latency_sum, latency_us);
  cf_metric_bump(&m->latency_count, 1);
}

void cf_slots_sum_metrics(confidence_provider *p, cf_metric_totals *t)
{
  memset(t, 0, sizeof *t);
  for (cf_slot *s = atomic_load(&p->slots); s; s = s->next) {
    const cf_slot_metrics *m = &s->metrics;
    for (int i = 0; i < CF_METRIC_REASONS; i++)
      t->reasons[i] += atomic_load_explicit(&m->reasons[i], memory_order_relaxed);
    for (int i = 0; i < CF_LATENCY_BUCKETS; i++)
      t->buckets[i] += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
    t->latency_sum += atomic_load_explicit(&m->latency_sum, memory_order_relaxed);
    t->latency_count += atomic_load_explicit(&m->latency_count, memory_order_relaxed);
  }
}

/* ---- retired states ------------------------------------------------------------ */

void cf_retire_state(confidence_provider *p, confidence_state *st, bool quiescent)
{
  if (!st)
    return;
  pthread_mutex_lock(&p->mu);
  cf_retired *r = CF_VEC_PUSH(p->retired);
  if (r)
    *r = (cf_retired){st, quiescent};
  pthread_mutex_unlock(&p->mu);
  /* Cannot track it: leaking one state beats freeing it under a reader. */
  if (!r)
    cf_provider_log(p, CONFIDENCE_LOG_ERROR, "out of memory retiring a state; it is kept");
}

void cf_reclaim_states(confidence_provider *p)
{
  pthread_mutex_lock(&p->mu);
  size_t keep = 0;
  for (size_t i = 0; i < p->retired.n; i++) {
    cf_retired r = p->retired.items[i];
    if (r.quiescent) { /* no reader at the last check, and the rings drained since */
      confidence_state_unref(r.state);
      continue;
    }
    r.quiescent = !cf_slots_hold(p, r.state);
    p->retired.items[keep++] = r;
  }
  p->retired.n = keep;
  pthread_mutex_unlock(&p->mu);
}

void cf_slots_free(confidence_provider *p)
{
  pthread_key_delete(p->slot_key);
  for (size_t i = 0; i < p->retired.n; i++)
    confidence_state_unref(p->retired.items[i].state);
  free(p->retired.items);
  cf_slot *s = atomic_load(&p->slots);
  while (s) {
    cf_slot *next = s->next;
    slot_discard_records(s);
    slot_disarm(s);
    free(s);
    s = next;
  }
  pthread_mutex_destroy(&p->slots_mu);
  pthread_mutex_destroy(&p->drain_mu);
}

/* ---- fork ------------------------------------------------------------------------ */

void cf_slots_lock_for_fork(confidence_provider *p)
{
  pthread_mutex_lock(&p->drain_mu);
  pthread_mutex_lock(&p->slots_mu);
}

void cf_slots_unlock_after_fork(confidence_provider *p)
{
  pthread_mutex_unlock(&p->slots_mu);
  pthread_mutex_unlock(&p->drain_mu);
}

void cf_slots_after_fork_child(confidence_provider *p)
{
  pthread_mutex_init(&p->slots_mu, NULL);
  pthread_mutex_init(&p->drain_mu, NULL);
  cf_slot *mine = pthread_getspecific(p->slot_key);
  for (cf_slot *s = atomic_load(&p->slots); s; s = s->next) {
    /* Only the forking thread exists here: the others' hazards and slots
     * are released, and the parent sends what their rings hold. */
    atomic_store(&s->hazard, NULL);
    if (s != mine)
      atomic_store(&s->in_use, 0);
    slot_discard_records(s);
    atomic_store(&s->dropped, 0);
    atomic_store(&s->counts_dropped, 0);
    atomic_store(&s->evaluations, 0);
  }
}
