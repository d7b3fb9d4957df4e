/* State sync: the bootstrap state and the sync thread, which downloads the
 * state from the CDN (with its ETag), loads it off the evaluation path,
 * swaps it in atomically and reports status changes and events. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "error.h"
#include "net.h"
#include "provider_internal.h"
#include "state_internal.h"

/* Without a state every evaluation returns its default, so a provider that
 * is not ready retries soon: after 1 s, then every 2 s (never later than the
 * poll interval), so READY follows a recovered CDN within about 2 s. */
#define NOT_READY_RETRY_MS 1000
#define NOT_READY_RETRY_MAX_MS 2000

/* Names of flags added, removed or changed between two states. A flag
 * changed when its fingerprint (its definition and its segments) did. */
static size_t changed_flags(const confidence_state *old, const confidence_state *new_st, const char ***out)
{
  size_t cap = (old ? old->n_flags : 0) + new_st->n_flags;
  const char **names = calloc(cap + 1, sizeof *names);
  size_t n = 0;
  if (!names) {
    *out = NULL;
    return 0;
  }
  for (uint32_t i = 0; i < new_st->n_flags; i++) {
    const cf_flag *f = &new_st->flags[i];
    const cf_flag *o = old ? cf_strmap_get(&old->flag_index, f->name.s, f->name.len) : NULL;
    if (!o || o->fingerprint != f->fingerprint)
      names[n++] = f->name.s;
  }
  for (uint32_t i = 0; old && i < old->n_flags; i++) {
    const cf_flag *o = &old->flags[i];
    if (!cf_strmap_get(&new_st->flag_index, o->name.s, o->name.len))
      names[n++] = o->name.s;
  }
  *out = names;
  return n;
}

/* Takes the log destinations and account of a newly installed state. */
static void adopt_state_facts(confidence_provider *p, const confidence_state *st)
{
  char *account = strdup(st->account_id.s);
  pthread_mutex_lock(&p->mu);
  p->state_updates++;
  p->last_sync_ok_ms = cf_clock_ms();
  p->n_log_dest = confidence_state_log_destination_count(st);
  for (size_t i = 0; i < p->n_log_dest && i < 2; i++)
    p->log_dest[i] = confidence_state_log_destination_at(st, i);
  if (account) {
    free(p->log_account);
    p->log_account = account;
  }
  pthread_mutex_unlock(&p->mu);
  cf_flag_log_set_memory(p->flag_log, confidence_state_memory_bytes(st));
}

/* Installs a freshly loaded state; the old one is retired, not freed.
 * Under p->mu, so a shutdown that began (stopping) can never see a state
 * come back after it withdrew the current one. */
bool cf_provider_install_state(confidence_provider *p, confidence_state *st, const char *origin)
{
  pthread_mutex_lock(&p->mu);
  bool closed = p->stopping;
  confidence_state *old = closed ? NULL : atomic_exchange(&p->current, st);
  int before = closed ? 0 : atomic_exchange(&p->status, CONFIDENCE_STATUS_READY);
  pthread_mutex_unlock(&p->mu);
  if (closed) {
    confidence_state_unref(st);
    return false;
  }
  const char **changed = NULL;
  size_t n_changed = changed_flags(old, st, &changed);
  cf_retire_state(p, old, false);
  adopt_state_facts(p, st);
  cf_provider_log(p, CONFIDENCE_LOG_INFO, "flag state loaded from %s (%u flags, %zu changed)", origin, st->n_flags,
                  n_changed);
  if (before != CONFIDENCE_STATUS_READY)
    cf_provider_emit(p, CONFIDENCE_EVENT_READY, "flag state loaded", NULL, 0);
  if (old && n_changed)
    cf_provider_emit(p, CONFIDENCE_EVENT_CONFIGURATION_CHANGED, "flag state changed", changed, n_changed);
  free(changed);
  return true;
}

int cf_provider_sync_aborted(void *provider)
{
  confidence_provider *p = provider;
  return atomic_load(&p->abort_sync);
}

static confidence_state_options state_options(const confidence_provider *p)
{
  confidence_state_options o = CONFIDENCE_STATE_OPTIONS_INIT;
  o.account_id = p->account_id;
  o.encryption_key_hex = p->encryption_key;
  o.memory_budget_bytes = p->state_budget;
  return o;
}

static int load_bytes(confidence_provider *p, const void *data, size_t len, confidence_state **out)
{
  confidence_state_options o = state_options(p);
  return confidence_state_load(data, len, &o, out);
}

int cf_provider_bootstrap(confidence_provider *p)
{
  confidence_state *st = NULL;
  int rc = 0;
  if (p->state_bytes) {
    rc = load_bytes(p, p->state_bytes, p->state_len, &st);
  } else if (p->state_file) {
    confidence_state_options o = state_options(p);
    rc = confidence_state_load_file(p->state_file, &o, &st);
  } else {
    return 0;
  }
  /* A state without our client (an empty file, another client's state)
   * would serve nothing but errors: reject it like a malformed one. */
  if (rc == 0 && !cf_strmap_get(&st->secrets, p->secret, strlen(p->secret))) {
    confidence_state_unref(st);
    rc = cf_error(CONFIDENCE_ESECRET, "the bootstrap state has no client for this client secret");
  }
  if (rc) {
    char why[600];
    snprintf(why, sizeof why, "bootstrap state rejected: %s: %s", confidence_strerror(rc),
             confidence_last_error_message());
    cf_provider_log(p, CONFIDENCE_LOG_ERROR, "%s", why);
    if (p->disable_sync) /* nothing else will ever bring a state */
      atomic_store(&p->status, CONFIDENCE_STATUS_FATAL);
    cf_provider_emit(p, CONFIDENCE_EVENT_ERROR, why, NULL, 0);
    return cf_error(rc, "%s", why);
  }
  cf_provider_install_state(p, st, "bootstrap");
  return 0;
}

/* One CDN round: returns true when the provider holds a current state
 * afterwards; otherwise `why` says what went wrong. */
static bool fetch_and_install(confidence_provider *p, char *why, size_t why_size)
{
  char hash[65];
  cf_net_secret_hash(p->secret, hash);
  size_t url_len = strlen(p->cdn_url) + 70;
  char *url = malloc(url_len);
  if (!url) {
    snprintf(why, why_size, "out of memory");
    return false;
  }
  snprintf(url, url_len, "%s/%s%s", p->cdn_url, hash, p->encryption_key ? ".enc" : "");
  pthread_mutex_lock(&p->mu);
  char *etag = p->etag ? strdup(p->etag) : NULL;
  pthread_mutex_unlock(&p->mu);
  cf_fetch f = {0};
  cf_fetch_outcome outcome = cf_net_fetch_state(p->transport, url, etag, p->http_timeout_ms, &f);
  free(url);
  free(etag);
  bool ok = false;
  if (outcome == CF_FETCH_NOT_MODIFIED) {
    ok = atomic_load(&p->current) != NULL;
    if (!ok)
      snprintf(why, why_size, "CDN answered 304 but no state is loaded");
  } else if (outcome == CF_FETCH_NEW) {
    confidence_state *st = NULL;
    ok = load_bytes(p, f.body, f.len, &st) == 0;
    if (ok && !cf_provider_install_state(p, st, "CDN")) {
      snprintf(why, why_size, "shutting down");
      ok = false;
    } else if (ok) {
      pthread_mutex_lock(&p->mu);
      free(p->etag);
      p->etag = f.etag;
      f.etag = NULL;
      pthread_mutex_unlock(&p->mu);
    } else {
      snprintf(why, why_size, "CDN state rejected: %s", confidence_last_error_message());
    }
  } else {
    snprintf(why, why_size, "%s", f.error);
  }
  free(f.body);
  free(f.etag);
  return ok;
}

static void sync_once(confidence_provider *p)
{
  char why[320] = "";
  bool ok = fetch_and_install(p, why, sizeof why);
  pthread_mutex_lock(&p->mu);
  if (ok)
    p->last_sync_ok_ms = cf_clock_ms();
  else
    p->fetch_failures++;
  snprintf(p->last_sync_error, sizeof p->last_sync_error, "%s", ok ? "" : why);
  int64_t last_ok = p->last_sync_ok_ms;
  pthread_mutex_unlock(&p->mu);
  if (ok) {
    int stale = CONFIDENCE_STATUS_STALE;
    if (atomic_compare_exchange_strong(&p->status, &stale, CONFIDENCE_STATUS_READY))
      cf_provider_emit(p, CONFIDENCE_EVENT_READY, "flag state sync recovered", NULL, 0);
    return;
  }
  if (atomic_load(&p->abort_sync))
    return; /* shutdown abandoned the request: not a sync failure */
  cf_provider_log(p, CONFIDENCE_LOG_WARN, "flag state sync failed: %s", why);
  cf_provider_emit(p, CONFIDENCE_EVENT_ERROR, why, NULL, 0);
  int ready = CONFIDENCE_STATUS_READY; /* never over shutdown's NOT_READY */
  if (cf_clock_ms() - last_ok >= (int64_t)p->stale_after_ms &&
      atomic_compare_exchange_strong(&p->status, &ready, CONFIDENCE_STATUS_STALE))
    cf_provider_emit(p, CONFIDENCE_EVENT_STALE, "flag state is stale: syncs keep failing", NULL, 0);
}

void *cf_provider_sync_main(void *arg)
{
  confidence_provider *p = arg;
  cf_net_set_abort(cf_provider_sync_aborted, p);
  uint32_t retry_max = NOT_READY_RETRY_MAX_MS < p->state_poll_ms ? NOT_READY_RETRY_MAX_MS : p->state_poll_ms;
  uint32_t backoff = NOT_READY_RETRY_MS < retry_max ? NOT_READY_RETRY_MS : retry_max;
  pthread_mutex_lock(&p->mu);
  uint32_t first_wait = p->first_sync_wait_ms;
  p->first_sync_wait_ms = 0;
  bool stopped = first_wait && cf_provider_wait_until(p, cf_deadline_in(first_wait));
  pthread_mutex_unlock(&p->mu);
  if (stopped)
    return NULL;
  for (;;) {
    sync_once(p);
    /* Not ready: retry soon, backing off to retry_max. */
    bool ready = atomic_load(&p->current) != NULL;
    uint32_t wait = ready ? p->state_poll_ms : backoff;
    if (!ready)
      backoff = backoff * 2 > retry_max ? retry_max : backoff * 2;
    pthread_mutex_lock(&p->mu);
    bool stop = cf_provider_wait_until(p, cf_deadline_in(wait));
    pthread_mutex_unlock(&p->mu);
    if (stop)
      return NULL;
  }
}
