/* fork() support (docs/threading.md, "fork"): every live provider is in a
 * registry that pthread_atfork handlers walk.
 *  - prepare: takes every lock a child could need (registry, then per
 *    provider drain_mu, slots_mu, the flag log's, the store queue's, mu),
 *    so none is held by a thread that will not exist in the child;
 *  - parent: releases them;
 *  - child: re-creates the locks, forgets the parent's threads, hazards,
 *    queued exposures and counters, and restarts the background threads
 *    of a running provider, so evaluations, sync and delivery go on. What
 *    the parent had queued stays the parent's to send. */
#include <stdlib.h>

#include "provider_internal.h"

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
