/* Flag logging: encodes exposures as FlagAssigned events into a bounded
 * queue, aggregates resolve counters, context schemas and telemetry per
 * flush window (RESOLVER_SPEC §4.2-4.5), and tracks each batch's outcome.
 * Batches are assembled in flag_log_batch.c, apply dedup is apply_dedup.c. */
#include "flag_log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flag_log_internal.h"
#include "strmap.h"
#include "util.h"
#include "proto/confidence/flags/resolver/v1/internal_api.pb-c.h"

typedef Confidence__Flags__Resolver__V1__FlagAssigned PbFlagAssigned;
typedef Confidence__Flags__Resolver__V1__FlagAssigned__AppliedFlag PbApplied;

static char *dup_str(const char *s, size_t len)
{
  char *p = malloc(len + 1);
  if (p) {
    memcpy(p, s, len);
    p[len] = '\0';
  }
  return p;
}

/* Finds or appends `key` in a counter array and adds one. */
static bool bump(cf_name_count **arr, size_t *n, const char *key, size_t key_len)
{
  for (size_t i = 0; i < *n; i++)
    if (strlen((*arr)[i].key) == key_len && memcmp((*arr)[i].key, key, key_len) == 0) {
      (*arr)[i].count++;
      return true;
    }
  cf_name_count *na = realloc(*arr, (*n + 1) * sizeof **arr);
  if (!na)
    return false;
  *arr = na;
  char *k = dup_str(key, key_len);
  if (!k)
    return false;
  na[(*n)++] = (cf_name_count){k, 1};
  return true;
}

static uint64_t next_random(cf_flag_log *log)
{
  /* xorshift64*: resolve ids and reservoir sampling need no crypto. */
  uint64_t x = log->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  log->rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

cf_flag_log *cf_flag_log_new(uint32_t max_events)
{
  cf_flag_log *log = calloc(1, sizeof *log);
  if (!log)
    return NULL;
  log->max_events = max_events ? max_events : 1;
  log->ring = calloc(log->max_events, sizeof *log->ring);
  if (!log->ring) {
    free(log);
    return NULL;
  }
  pthread_mutex_init(&log->mu, NULL);
  log->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)log;
  return log;
}

void cf_resolve_info_clear(cf_resolve_info *ri)
{
  for (size_t i = 0; i < ri->n_flags; i++) {
    cf_flag_info *f = &ri->flags[i];
    for (size_t j = 0; j < f->n_variants; j++)
      free(f->variants[j].key);
    for (size_t j = 0; j < f->n_rules; j++) {
      for (size_t k = 0; k < f->rules[j].n_assignments; k++)
        free(f->rules[j].assignments[k].key);
      free(f->rules[j].assignments);
      free(f->rules[j].rule);
    }
    free(f->variants);
    free(f->rules);
    free(f->flag);
  }
  free(ri->flags);
  ri->flags = NULL;
  ri->n_flags = ri->flags_cap = 0;
  free(ri->flag_slots);
  ri->flag_slots = NULL;
  ri->flag_slots_cap = 0;
  for (size_t i = 0; i < ri->n_clients; i++) {
    for (size_t j = 0; j < ri->clients[i].n_schemas; j++)
      cf_schema_free(ri->clients[i].schemas[j]);
    free(ri->clients[i].credential);
  }
  free(ri->clients);
  ri->clients = NULL;
  ri->n_clients = 0;
}

void cf_flag_log_free(cf_flag_log *log)
{
  if (!log)
    return;
  for (size_t i = 0; i < log->count; i++)
    free(log->ring[(log->head + i) % log->max_events].bytes);
  free(log->ring);
  free(log->retry.bytes);
  cf_resolve_info_clear(&log->ri);
  cf_dedup_free(&log->dedup);
  pthread_mutex_destroy(&log->mu);
  free(log);
}

/* ---- FlagAssigned encoding (§4.2) ------------------------------------------ */

static int default_reason(int reason)
{
  switch (reason) {
  case CONFIDENCE_RESOLVE_REASON_NO_SEGMENT_MATCH: return 1;
  case CONFIDENCE_RESOLVE_REASON_NO_TREATMENT_MATCH: return 2;
  case CONFIDENCE_RESOLVE_REASON_FLAG_ARCHIVED: return 3;
  default: return 0;
  }
}

static void make_resolve_id(cf_flag_log *log, char out[33])
{
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  for (int i = 0; i < 32; i++)
    out[i] = alphabet[next_random(log) % 62];
  out[32] = '\0';
}

static bool encode_event(cf_flag_log *log, const cf_exposure *e, cf_log_event *out)
{
  char resolve_id[33];
  make_resolve_id(log, resolve_id);
  Confidence__Flags__Resolver__V1__Sdk sdk = cf_flag_log_sdk();
  Confidence__Flags__Resolver__V1__ClientInfo client = CONFIDENCE__FLAGS__RESOLVER__V1__CLIENT_INFO__INIT;
  client.client = (char *)e->cred->client->name.s;
  client.client_credential = (char *)e->cred->name.s;
  client.sdk = &sdk;

  PbApplied applied = CONFIDENCE__FLAGS__RESOLVER__V1__FLAG_ASSIGNED__APPLIED_FLAG__INIT;
  PbApplied *applied_list[1] = {&applied};
  Confidence__Flags__Resolver__V1__FlagAssigned__AssignmentInfo info =
      CONFIDENCE__FLAGS__RESOLVER__V1__FLAG_ASSIGNED__ASSIGNMENT_INFO__INIT;
  Confidence__Flags__Resolver__V1__FlagAssigned__DefaultAssignment def =
      CONFIDENCE__FLAGS__RESOLVER__V1__FLAG_ASSIGNED__DEFAULT_ASSIGNMENT__INIT;
  Google__Protobuf__Timestamp when = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  Confidence__Flags__Resolver__V1__FallthroughAssignment fts[16];
  Confidence__Flags__Resolver__V1__FallthroughAssignment *ft_ptrs[16];
  char key[CF_MAX_KEY + 1];

  PbFlagAssigned fa = CONFIDENCE__FLAGS__RESOLVER__V1__FLAG_ASSIGNED__INIT;
  fa.resolve_id = resolve_id;
  fa.client_info = &client;
  if (e->flag && e->should_apply) {
    memcpy(key, e->key, e->key_len + 1);
    applied.flag = (char *)e->flag->name.s;
    applied.targeting_key = key;
    applied.targeting_key_selector = (char *)(e->rule ? e->rule->selector.s : "");
    if (e->variant) {
      applied.assignment_case = CONFIDENCE__FLAGS__RESOLVER__V1__FLAG_ASSIGNED__APPLIED_FLAG__ASSIGNMENT_ASSIGNMENT_INFO;
      info.segment = (char *)(e->segment ? e->segment->name.s : "");
      info.variant = (char *)e->variant->name.s;
      applied.assignment_info = &info;
    } else {
      applied.assignment_case = CONFIDENCE__FLAGS__RESOLVER__V1__FLAG_ASSIGNED__APPLIED_FLAG__ASSIGNMENT_DEFAULT_ASSIGNMENT;
      def.reason = default_reason(e->reason);
      applied.default_assignment = &def;
    }
    applied.assignment_id = (char *)e->assignment_id.s;
    applied.rule = (char *)(e->rule ? e->rule->name.s : "");
    size_t n_ft = e->n_fts < 16 ? e->n_fts : 16; /* more than 16 fallthrough rules is not a real flag */
    for (size_t i = 0; i < n_ft; i++) {
      Confidence__Flags__Resolver__V1__FallthroughAssignment init = CONFIDENCE__FLAGS__RESOLVER__V1__FALLTHROUGH_ASSIGNMENT__INIT;
      fts[i] = init;
      fts[i].rule = (char *)e->fts[i].rule->name.s;
      fts[i].assignment_id = (char *)e->fts[i].assignment_id.s;
      fts[i].targeting_key = (char *)e->fts[i].key;
      fts[i].targeting_key_selector = (char *)e->fts[i].rule->selector.s;
      ft_ptrs[i] = &fts[i];
    }
    applied.n_fallthrough_assignments = n_ft;
    applied.fallthrough_assignments = ft_ptrs;
    when.seconds = e->time_ns / 1000000000;
    when.nanos = (int32_t)(e->time_ns % 1000000000);
    applied.apply_time = &when;
    fa.n_flags = 1;
    fa.flags = applied_list;
  }
  size_t len = confidence__flags__resolver__v1__flag_assigned__get_packed_size(&fa);
  out->bytes = malloc(len ? len : 1);
  if (!out->bytes)
    return false;
  out->len = confidence__flags__resolver__v1__flag_assigned__pack(&fa, out->bytes);
  out->applied = (uint32_t)fa.n_flags;
  return true;
}

/* ---- resolve info (§4.3) ------------------------------------------------------ */

/* Puts flags[i] into the index (which has room). */
static void index_put(uint32_t *slots, size_t cap, const char *name, size_t len, uint32_t i)
{
  size_t h = (size_t)cf_hash_bytes(name, len) & (cap - 1);
  while (slots[h])
    h = (h + 1) & (cap - 1);
  slots[h] = i + 1;
}

/* Keeps the index at most half full; false when out of memory. */
static bool index_grow(cf_flag_log *log)
{
  if ((log->ri.n_flags + 1) * 2 <= log->ri.flag_slots_cap)
    return true;
  size_t cap = log->ri.flag_slots_cap ? log->ri.flag_slots_cap * 2 : 64;
  uint32_t *slots = calloc(cap, sizeof *slots);
  if (!slots)
    return false;
  for (size_t i = 0; i < log->ri.n_flags; i++)
    index_put(slots, cap, log->ri.flags[i].flag, strlen(log->ri.flags[i].flag), (uint32_t)i);
  free(log->ri.flag_slots);
  log->ri.flag_slots = slots;
  log->ri.flag_slots_cap = cap;
  return true;
}

/* The counters of flag `f` in this window: a hash lookup, so the cost of a
 * record does not grow with the number of distinct flags. */
static cf_flag_info *flag_entry(cf_flag_log *log, const cf_flag *f)
{
  size_t cap = log->ri.flag_slots_cap;
  for (size_t h = cap ? (size_t)cf_hash_bytes(f->name.s, f->name.len) & (cap - 1) : 0; cap && log->ri.flag_slots[h];
       h = (h + 1) & (cap - 1)) {
    cf_flag_info *fi = &log->ri.flags[log->ri.flag_slots[h] - 1];
    if (strcmp(fi->flag, f->name.s) == 0)
      return fi;
  }
  if (!index_grow(log))
    return NULL;
  if (cf_vec_reserve((void **)&log->ri.flags, &log->ri.flags_cap, log->ri.n_flags + 1, sizeof *log->ri.flags))
    return NULL;
  cf_flag_info *nf = &log->ri.flags[log->ri.n_flags];
  memset(nf, 0, sizeof *nf);
  if (!(nf->flag = dup_str(f->name.s, f->name.len)))
    return NULL;
  index_put(log->ri.flag_slots, log->ri.flag_slots_cap, f->name.s, f->name.len, (uint32_t)log->ri.n_flags);
  log->ri.n_flags++;
  return nf;
}

static void bump_rule(cf_flag_info *fi, const cf_rule *rule, cf_str assignment_id)
{
  cf_rule_info *ri = NULL;
  for (size_t i = 0; i < fi->n_rules && !ri; i++)
    if (strcmp(fi->rules[i].rule, rule->name.s) == 0)
      ri = &fi->rules[i];
  if (!ri) {
    cf_rule_info *nr = realloc(fi->rules, (fi->n_rules + 1) * sizeof *nr);
    if (!nr)
      return;
    fi->rules = nr;
    ri = &nr[fi->n_rules];
    memset(ri, 0, sizeof *ri);
    if (!(ri->rule = dup_str(rule->name.s, rule->name.len)))
      return;
    fi->n_rules++;
  }
  ri->count++;
  bump(&ri->assignments, &ri->n_assignments, assignment_id.s, assignment_id.len);
}

static bool schema_equal(const cf_schema *a, const cf_schema *b)
{
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++)
    if (a->fields[i].kind != b->fields[i].kind || a->fields[i].semantic != b->fields[i].semantic ||
        strcmp(a->fields[i].path, b->fields[i].path) != 0)
      return false;
  return true;
}

/* Bounded set of distinct schemas per credential with reservoir sampling. */
static void add_schema(cf_flag_log *log, const cf_credential *cred, cf_schema *s)
{
  cf_client_info *ci = NULL;
  for (size_t i = 0; i < log->ri.n_clients && !ci; i++)
    if (strcmp(log->ri.clients[i].credential, cred->name.s) == 0)
      ci = &log->ri.clients[i];
  if (!ci) {
    cf_client_info *nc = realloc(log->ri.clients, (log->ri.n_clients + 1) * sizeof *nc);
    if (!nc) {
      cf_schema_free(s);
      return;
    }
    log->ri.clients = nc;
    ci = &nc[log->ri.n_clients];
    memset(ci, 0, sizeof *ci);
    if (!(ci->credential = dup_str(cred->name.s, cred->name.len))) {
      cf_schema_free(s);
      return;
    }
    log->ri.n_clients++;
  }
  for (size_t i = 0; i < ci->n_schemas; i++)
    if (schema_equal(ci->schemas[i], s)) {
      cf_schema_free(s);
      return;
    }
  if (ci->distinct_seen++ < CF_FLAG_LOG_MAX_SCHEMAS) {
    ci->schemas[ci->n_schemas++] = s;
    return;
  }
  uint64_t j = next_random(log) % (CF_FLAG_LOG_MAX_SCHEMAS + 1);
  if (j == CF_FLAG_LOG_MAX_SCHEMAS) {
    cf_schema_free(s);
  } else {
    cf_schema_free(ci->schemas[j]);
    ci->schemas[j] = s;
  }
}


void cf_flag_log_add(cf_flag_log *log, cf_exposure *e)
{
  pthread_mutex_lock(&log->mu);
  int tr = e->telemetry_reason >= 0 && e->telemetry_reason < CF_METRIC_REASONS ? e->telemetry_reason : 0;
  log->reasons[tr]++;
  if (e->latency_us != UINT32_MAX) {
    log->buckets[cf_latency_bucket(e->latency_us)]++;
    log->lat_sum += e->latency_us;
    log->lat_count++;
  }
  if (e->resolved && e->flag) {
    cf_flag_info *fi = flag_entry(log, e->flag);
    if (fi) {
      for (uint32_t i = 0; i < e->n_fts; i++)
        bump_rule(fi, e->fts[i].rule, e->fts[i].assignment_id);
      if (e->rule) {
        const char *v = e->variant ? e->variant->name.s : "";
        bump(&fi->variants, &fi->n_variants, v, strlen(v));
        bump_rule(fi, e->rule, e->assignment_id);
      } else {
        bump(&fi->variants, &fi->n_variants, "", 0);
      }
    }
  }
  if (e->schema && e->cred) {
    add_schema(log, e->cred, e->schema);
    e->schema = NULL;
  }
  if (e->apply && e->cred) {
    if (log->dedup_on && e->flag && e->should_apply && cf_dedup_seen(&log->dedup, e)) {
      log->deduplicated++;
    } else if (log->count + log->retry_events + log->inflight_events >= log->max_events) {
      log->dropped++;
    } else {
      cf_log_event ev;
      if (encode_event(log, e, &ev))
        log->ring[(log->head + log->count++) % log->max_events] = ev;
      else
        log->dropped++;
    }
  }
  pthread_mutex_unlock(&log->mu);
  free(e->fts);
  e->fts = NULL;
  cf_schema_free(e->schema);
  e->schema = NULL;
}

void cf_flag_log_count_dropped(cf_flag_log *log, uint64_t n)
{
  pthread_mutex_lock(&log->mu);
  log->dropped += n;
  pthread_mutex_unlock(&log->mu);
}

void cf_flag_log_set_memory(cf_flag_log *log, uint64_t bytes)
{
  pthread_mutex_lock(&log->mu);
  log->memory_bytes = bytes;
  pthread_mutex_unlock(&log->mu);
}

void cf_flag_log_batch_done(cf_flag_log *log, cf_batch *b, cf_batch_outcome outcome)
{
  pthread_mutex_lock(&log->mu);
  log->inflight_events = 0;
  if (log->closed) { /* a send shutdown gave up on: its events are counted lost */
    free(b->bytes);
  } else if (outcome == CF_BATCH_DELIVERED || outcome == CF_BATCH_REJECTED) {
    if (outcome == CF_BATCH_DELIVERED)
      log->sent += b->n_events;
    else /* never retried: the same bytes would be refused again */
      log->rejected += b->n_events;
    free(b->bytes);
  } else {
    free(log->retry.bytes); /* cannot happen: one batch in flight at a time */
    log->retry = *b;
    log->retry_events = b->n_events;
    log->retry_uncertain = outcome == CF_BATCH_UNCERTAIN;
  }
  memset(b, 0, sizeof *b);
  pthread_mutex_unlock(&log->mu);
}

void cf_flag_log_count_resent(cf_flag_log *log, uint64_t n)
{
  pthread_mutex_lock(&log->mu);
  log->resent += n;
  pthread_mutex_unlock(&log->mu);
}

/* Frees the queued events and a batch waiting for its resend; returns how
 * many events that was. log->mu held. */
static uint64_t drop_queue(cf_flag_log *log)
{
  uint64_t n = log->count + log->retry_events;
  for (size_t i = 0; i < log->count; i++)
    free(log->ring[(log->head + i) % log->max_events].bytes);
  log->head = log->count = 0;
  free(log->retry.bytes);
  memset(&log->retry, 0, sizeof log->retry);
  log->retry_events = 0;
  log->retry_uncertain = false;
  return n;
}

uint64_t cf_flag_log_discard(cf_flag_log *log)
{
  pthread_mutex_lock(&log->mu);
  uint64_t n = drop_queue(log) + log->inflight_events;
  log->inflight_events = 0;
  log->closed = true;
  log->lost += n;
  pthread_mutex_unlock(&log->mu);
  return n;
}

void cf_flag_log_set_dedup(cf_flag_log *log, bool on)
{
  pthread_mutex_lock(&log->mu);
  log->dedup_on = on;
  pthread_mutex_unlock(&log->mu);
}

void cf_flag_log_lock(cf_flag_log *log) { pthread_mutex_lock(&log->mu); }
void cf_flag_log_unlock(cf_flag_log *log) { pthread_mutex_unlock(&log->mu); }

void cf_flag_log_after_fork_child(cf_flag_log *log)
{
  pthread_mutex_init(&log->mu, NULL); /* held by the forking thread: start afresh */
  drop_queue(log);                    /* the parent delivers what it queued */
  log->inflight_events = 0;
  cf_resolve_info_clear(&log->ri);     /* and the counters of its window */
  cf_flag_log_telemetry_exported(log); /* and its telemetry */
  log->sent = log->dropped = log->deduplicated = log->rejected = log->lost = log->resent = 0;
  log->rng ^= (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL; /* resolve ids differ from the parent's */
}

void cf_flag_log_stats_get(cf_flag_log *log, cf_flag_log_stats *out)
{
  pthread_mutex_lock(&log->mu);
  out->queued = log->count + log->retry_events + log->inflight_events;
  out->sent = log->sent;
  out->dropped = log->dropped;
  out->deduplicated = log->deduplicated;
  out->rejected = log->rejected;
  out->lost = log->lost;
  out->resent = log->resent;
  pthread_mutex_unlock(&log->mu);
}

