/* fork() support (docs/threading.md, "fork"): every live provider is in a
 * registry that pthread_atfork handlers walk.
 *  - prepare: takes every lock a child could need (registry, then per
 *    provider drain_mu, slots_mu, the flag log's, the store queue's, mu),
 *    so none is held by a thread that will not exist in the child;
 *  - parent: releases them;
 *  - child: re-creates the locks, forgets the parent's threads, hazards,
 *    queued exposures and counters, and restarts the background threads
 *    of a running provider, so evaluations, sync and delivery go on. What
 *    the parent had queued stays the parent's to send. A child that
 *    inherited a state serves it as is (shared copy-on-write pages) and
 *    polls the CDN first after a jittered poll interval, not at the fork:
 *    a pre-fork server starting many workers sends no burst of requests. */
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "provider_internal.h"

/* Uniform in [3/4, 5/4) of the poll interval, different in each child
 * (its pid and the time seed it): workers forked together spread their
 * polls over half an interval and stay apart afterwards. */
uint32_t cf_fork_first_poll_ms(uint32_t poll_ms, uint64_t seed)
{
  uint64_t z = seed + 0x9e3779b97f4a7c15u; /* splitmix64: one well-mixed draw */
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  z ^= z >> 31;
  uint64_t span = poll_ms / 2u;
  uint64_t wait = poll_ms - poll_ms / 4u + (span ? z % span : 0);
  return wait > UINT32_MAX ? UINT32_MAX : (uint32_t)wait;
}

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static confidence_provider *registry;
static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

static void before_fork(void)
{
  pthread_mutex_lock(&registry_mu);
  for (confidence_provider *p = registry; p; p = p->fork_next) {
    cf_slots_lock_for_fork(p);
    cf_flag_log_lock(p->flag_log);
    cf_store_ctx_lock_for_fork(p->store);
    pthread_mutex_lock(&p->mu);
  }
}

static void after_fork_parent(void)
{
  for (confidence_provider *p = registry; p; p = p->fork_next) {
    pthread_mutex_unlock(&p->mu);
    cf_store_ctx_unlock_after_fork(p->store);
    cf_flag_log_unlock(p->flag_log);
    cf_slots_unlock_after_fork(p);
  }
  pthread_mutex_unlock(&registry_mu);
}

/* The child's copy of one provider, made usable (single-threaded here). */
static void child_provider(confidence_provider *p)
{
  cf_provider_init_locks(p);
  cf_slots_after_fork_child(p);
  cf_flag_log_after_fork_child(p->flag_log);
  cf_store_ctx_after_fork_child(p->store);
  p->flush_done = p->flush_requested; /* nobody here waits for the parent's flushes */
  p->ship_soon = false;
  p->state_updates = p->fetch_failures = p->send_failures = 0;
  if (!p->started || p->stopping) {
    /* Not running, or shut down (or shutting down) in the parent: the
     * threads to join are not ours, and none is restarted. */
    p->threads_joined = true;
    return;
  }
  /* Not ready: the child needs a state, so it asks at once as the parent does. */
  if (atomic_load(&p->current))
    p->first_sync_wait_ms =
        cf_fork_first_poll_ms(p->state_poll_ms, (uint64_t)getpid() << 32 ^ (uint64_t)cf_clock_mono_ns());
  if (cf_provider_start_threads(p) != 0) {
    /* Cannot run threads here: stop for good; getters keep answering
     * from the state, shutdown and free have nothing to join. */
    p->threads_joined = true;
  }
}

static void after_fork_child(void)
{
  pthread_mutex_init(&registry_mu, NULL);
  for (confidence_provider *p = registry; p; p = p->fork_next)
    child_provider(p);
}

static void install_handlers(void) { pthread_atfork(before_fork, after_fork_parent, after_fork_child); }

void cf_fork_register(confidence_provider *p)
{
  pthread_once(&handlers_once, install_handlers);
  pthread_mutex_lock(&registry_mu);
  p->fork_next = registry;
  registry = p;
  pthread_mutex_unlock(&registry_mu);
}

void cf_fork_unregister(confidence_provider *p)
{
  pthread_mutex_lock(&registry_mu);
  for (confidence_provider **at = &registry; *at; at = &(*at)->fork_next)
    if (*at == p) {
      *at = p->fork_next;
      break;
    }
  pthread_mutex_unlock(&registry_mu);
}
