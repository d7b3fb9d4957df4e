/* Flag logging: encodes exposures as FlagAssigned events into a bounded
 * queue, aggregates resolve counters and context schemas per flush window,
 * keeps the telemetry histogram, and assembles WriteFlagLogsRequest batches
 * (RESOLVER_SPEC §4.2-4.7). */
#include "flag_log.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "confidence/version.h"
#include "strmap.h"
#include "util.h"
#include "proto/confidence/flags/resolver/v1/internal_api.pb-c.h"
#include "wire.h"

#define BATCH_LIMIT 4194304
#define MAX_SCHEMAS 50
#define LATENCY_BUCKETS 174
#define REASONS 11
#define LN_RATIO 0.12792139405522476

typedef Confidence__Flags__Resolver__V1__FlagAssigned PbFlagAssigned;
typedef Confidence__Flags__Resolver__V1__FlagAssigned__AppliedFlag PbApplied;

/* ---- small owned containers ------------------------------------------------ */

typedef struct counter {
  char *key;
  uint32_t count;
} counter;

typedef struct rule_info {
  char *rule;
  uint32_t count;
  counter *assignments;
  size_t n_assignments;
} rule_info;

typedef struct flag_info {
  char *flag;
  counter *variants;
  size_t n_variants;
  rule_info *rules;
  size_t n_rules;
} flag_info;

typedef struct client_info {
  char *credential;
  cf_schema *schemas[MAX_SCHEMAS];
  size_t n_schemas;
  uint64_t distinct_seen;
} client_info;

typedef struct event {
  uint8_t *bytes; /* one encoded FlagAssigned */
  size_t len;
  uint32_t applied;
} event;

/* Resolve counters and schemas of one flush window (§4.3). */
typedef struct resolve_info {
  flag_info *flags;
  size_t n_flags, flags_cap;
  uint32_t *flag_slots; /* hash index into flags: index + 1, 0 = empty */
  size_t flag_slots_cap;
  client_info *clients;
  size_t n_clients;
} resolve_info;

/* Apply dedup (RESOLVER_SPEC §4.6): keys of exposures seen within the
 * window, with the second they were first seen. Open addressing, key 0 =
 * empty; expired keys leave only at a sweep, which rebuilds the table. */
typedef struct dedup_table {
  uint64_t *keys;
  uint32_t *seen;
  size_t cap, n;
  int64_t last_sweep;
} dedup_table;

struct cf_flag_log {
  pthread_mutex_t mu;
  uint32_t max_events;
  bool dedup_on;
  dedup_table dedup;
  event *ring; /* FIFO of encoded events */
  size_t head, count;
  cf_batch retry; /* a failed batch, resent first */
  size_t retry_events, inflight_events;
  resolve_info ri; /* this window's counters and schemas */
  uint64_t buckets[LATENCY_BUCKETS], lat_sum, lat_count, reasons[REASONS];
  uint64_t prev_buckets[LATENCY_BUCKETS], prev_sum, prev_count, prev_reasons[REASONS];
  uint64_t memory_bytes;
  uint64_t sent, dropped, deduplicated, rejected, lost, resent;
  bool retry_uncertain; /* the batch to resend may have been delivered */
  uint64_t rng;
};

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
static bool bump(counter **arr, size_t *n, const char *key, size_t key_len)
{
  for (size_t i = 0; i < *n; i++)
    if (strlen((*arr)[i].key) == key_len && memcmp((*arr)[i].key, key, key_len) == 0) {
      (*arr)[i].count++;
      return true;
    }
  counter *na = realloc(*arr, (*n + 1) * sizeof **arr);
  if (!na)
    return false;
  *arr = na;
  char *k = dup_str(key, key_len);
  if (!k)
    return false;
  na[(*n)++] = (counter){k, 1};
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

static void clear_resolve_info(resolve_info *ri)
{
  for (size_t i = 0; i < ri->n_flags; i++) {
    flag_info *f = &ri->flags[i];
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
  clear_resolve_info(&log->ri);
  free(log->dedup.keys);
  free(log->dedup.seen);
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

static bool encode_event(cf_flag_log *log, const cf_exposure *e, event *out)
{
  char resolve_id[33];
  make_resolve_id(log, resolve_id);
  Confidence__Flags__Resolver__V1__Sdk sdk = CONFIDENCE__FLAGS__RESOLVER__V1__SDK__INIT;
  sdk.sdk_case = CONFIDENCE__FLAGS__RESOLVER__V1__SDK__SDK_CUSTOM_ID;
  sdk.custom_id = "libconfidence-c";
  sdk.version = CONFIDENCE_VERSION_STRING;
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
static flag_info *flag_entry(cf_flag_log *log, const cf_flag *f)
{
  size_t cap = log->ri.flag_slots_cap;
  for (size_t h = cap ? (size_t)cf_hash_bytes(f->name.s, f->name.len) & (cap - 1) : 0; cap && log->ri.flag_slots[h];
       h = (h + 1) & (cap - 1)) {
    flag_info *fi = &log->ri.flags[log->ri.flag_slots[h] - 1];
    if (strcmp(fi->flag, f->name.s) == 0)
      return fi;
  }
  if (!index_grow(log))
    return NULL;
  if (cf_vec_reserve((void **)&log->ri.flags, &log->ri.flags_cap, log->ri.n_flags + 1, sizeof *log->ri.flags))
    return NULL;
  flag_info *nf = &log->ri.flags[log->ri.n_flags];
  memset(nf, 0, sizeof *nf);
  if (!(nf->flag = dup_str(f->name.s, f->name.len)))
    return NULL;
  index_put(log->ri.flag_slots, log->ri.flag_slots_cap, f->name.s, f->name.len, (uint32_t)log->ri.n_flags);
  log->ri.n_flags++;
  return nf;
}

static void bump_rule(flag_info *fi, const cf_rule *rule, cf_str assignment_id)
{
  rule_info *ri = NULL;
  for (size_t i = 0; i < fi->n_rules && !ri; i++)
    if (strcmp(fi->rules[i].rule, rule->name.s) == 0)
      ri = &fi->rules[i];
  if (!ri) {
    rule_info *nr = realloc(fi->rules, (fi->n_rules + 1) * sizeof *nr);
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
  client_info *ci = NULL;
  for (size_t i = 0; i < log->ri.n_clients && !ci; i++)
    if (strcmp(log->ri.clients[i].credential, cred->name.s) == 0)
      ci = &log->ri.clients[i];
  if (!ci) {
    client_info *nc = realloc(log->ri.clients, (log->ri.n_clients + 1) * sizeof *nc);
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
  if (ci->distinct_seen++ < MAX_SCHEMAS) {
    ci->schemas[ci->n_schemas++] = s;
    return;
  }
  uint64_t j = next_random(log) % (MAX_SCHEMAS + 1);
  if (j == MAX_SCHEMAS) {
    cf_schema_free(s);
  } else {
    cf_schema_free(ci->schemas[j]);
    ci->schemas[j] = s;
  }
}

/* ---- apply dedup (§4.6) ------------------------------------------------------ */

#define DEDUP_WINDOW_S 120
#define DEDUP_MAX_KEYS 100000
#define DEDUP_SWEEP_S 10
#define DEDUP_CAP 262144 /* a power of two over 2 x DEDUP_MAX_KEYS */

static uint64_t mix(uint64_t state, uint64_t w)
{
  uint64_t k = w * 0xFF51AFD7ED558CCDULL;
  k ^= k >> 33;
  k *= 0xC4CEB9FE1A85EC53ULL;
  state ^= k;
  return ((state << 27) | (state >> 37)) * 0x100000001B3ULL;
}

static uint64_t mix_bytes(uint64_t h, const char *s, size_t len)
{
  h = mix(h, len);
  for (size_t i = 0; i < len; i += 8) {
    uint64_t w = 0;
    for (size_t j = 0; j < 8 && i + j < len; j++)
      w |= (uint64_t)(uint8_t)s[i + j] << (8 * j);
    h = mix(h, w);
  }
  return h;
}

static uint64_t mix_cstr(uint64_t h, const char *s) { return mix_bytes(h, s, strlen(s)); }

/* What makes two applied flags the same exposure. Never 0 (the empty key). */
static uint64_t dedup_key(const cf_exposure *e)
{
  uint64_t h = 0xCBF29CE484222325ULL;
  h = mix_bytes(h, e->flag->name.s, e->flag->name.len);
  h = mix_bytes(h, e->key, e->key_len);
  h = mix_cstr(h, e->rule ? e->rule->selector.s : "");
  h = mix_bytes(h, e->assignment_id.s, e->assignment_id.len);
  h = mix_cstr(h, e->variant ? e->variant->name.s : "");
  h = mix_cstr(h, e->segment ? e->segment->name.s : "");
  h = mix_cstr(h, e->rule ? e->rule->name.s : "");
  uint8_t reason[4] = {(uint8_t)e->reason, (uint8_t)(e->reason >> 8), (uint8_t)(e->reason >> 16),
                       (uint8_t)(e->reason >> 24)};
  h = mix_bytes(h, (const char *)reason, sizeof reason);
  h = mix(h, e->n_fts);
  for (uint32_t i = 0; i < e->n_fts; i++) {
    h = mix_cstr(h, e->fts[i].rule->name.s);
    h = mix_bytes(h, e->fts[i].assignment_id.s, e->fts[i].assignment_id.len);
    h = mix_bytes(h, e->fts[i].key, e->fts[i].key_len);
    h = mix_cstr(h, e->fts[i].rule->selector.s);
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  return h ? h : 1;
}

/* Slot of `key` in the table, or of the empty slot where it would go. */
static size_t dedup_slot(const dedup_table *t, uint64_t key)
{
  size_t i = (size_t)key & (DEDUP_CAP - 1);
  while (t->keys[i] && t->keys[i] != key)
    i = (i + 1) & (DEDUP_CAP - 1);
  return i;
}

/* Removes keys at least a window old: rebuilt in place of tombstones. */
static void dedup_sweep(dedup_table *t, int64_t now)
{
  if (!t->keys || now - t->last_sweep < DEDUP_SWEEP_S)
    return;
  t->last_sweep = now;
  uint64_t *keys = calloc(DEDUP_CAP, sizeof *keys);
  uint32_t *seen = calloc(DEDUP_CAP, sizeof *seen);
  if (!keys || !seen) { /* keep the old table until memory allows */
    free(keys);
    free(seen);
    return;
  }
  dedup_table fresh = {keys, seen, DEDUP_CAP, 0, t->last_sweep};
  for (size_t i = 0; i < DEDUP_CAP; i++)
    if (t->keys[i] && now - (int64_t)t->seen[i] < DEDUP_WINDOW_S) {
      size_t j = dedup_slot(&fresh, t->keys[i]);
      fresh.keys[j] = t->keys[i];
      fresh.seen[j] = t->seen[i];
      fresh.n++;
    }
  free(t->keys);
  free(t->seen);
  *t = fresh;
}

/* True when the same exposure was kept within the window (the spec's
 * rule: a full table keeps every newcomer without remembering it). */
static bool dedup_seen(cf_flag_log *log, const cf_exposure *e)
{
  dedup_table *t = &log->dedup;
  if (!t->keys) {
    t->keys = calloc(DEDUP_CAP, sizeof *t->keys);
    t->seen = calloc(DEDUP_CAP, sizeof *t->seen);
    if (!t->keys || !t->seen) {
      free(t->keys);
      free(t->seen);
      t->keys = NULL;
      t->seen = NULL;
      return false; /* no memory to remember: send it */
    }
  }
  int64_t now = e->time_ns / 1000000000;
  if (now < t->last_sweep)
    now = t->last_sweep;
  uint64_t key = dedup_key(e);
  size_t i = dedup_slot(t, key);
  if (t->keys[i])
    return true;
  if (t->n < DEDUP_MAX_KEYS) {
    t->keys[i] = key;
    t->seen[i] = (uint32_t)now;
    t->n++;
  }
  return false;
}

int cf_latency_bucket(uint32_t us)
{
  if (us == 0)
    return 0;
  double b = floor(log((double)us) / LN_RATIO);
  return b > LATENCY_BUCKETS - 1 ? LATENCY_BUCKETS - 1 : (int)b;
}

void cf_flag_log_add(cf_flag_log *log, cf_exposure *e)
{
  pthread_mutex_lock(&log->mu);
  int tr = e->telemetry_reason >= 0 && e->telemetry_reason < REASONS ? e->telemetry_reason : 0;
  log->reasons[tr]++;
  if (e->latency_us != UINT32_MAX) {
    log->buckets[cf_latency_bucket(e->latency_us)]++;
    log->lat_sum += e->latency_us;
    log->lat_count++;
  }
  if (e->resolved && e->flag) {
    flag_info *fi = flag_entry(log, e->flag);
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
    if (log->dedup_on && e->flag && e->should_apply && dedup_seen(log, e)) {
      log->deduplicated++;
    } else if (log->count + log->retry_events + log->inflight_events >= log->max_events) {
      log->dropped++;
    } else {
      event ev;
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

/* ---- batch assembly (§4.7) -------------------------------------------------- */

typedef struct buf {
  uint8_t *p;
  size_t len, cap;
} buf;

static bool buf_put(buf *b, const void *data, size_t n)
{
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
      cap *= 2;
    uint8_t *np = realloc(b->p, cap);
    if (!np)
      return false;
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  return true;
}

static bool buf_field(buf *b, unsigned field, const uint8_t *data, size_t n)
{
  uint8_t hdr[CF_WIRE_MAX_LEN_HEADER];
  size_t h = cf_wire_put_len_header(hdr, field, n);
  return buf_put(b, hdr, h) && buf_put(b, data, n);
}

static size_t varint_len(size_t n)
{
  uint8_t scratch[10];
  return cf_wire_put_varint(scratch, n);
}

/* Packs a message into the batch as `field`. */
static bool put_message(buf *b, unsigned field, const ProtobufCMessage *m)
{
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *tmp = malloc(n ? n : 1);
  if (!tmp)
    return false;
  protobuf_c_message_pack(m, tmp);
  bool ok = buf_field(b, field, tmp, n);
  free(tmp);
  return ok;
}

/* Context schema instance for one cf_schema: the kind map and the
 * semantic-type map, sorted by path (prost map order). */
static bool put_client_info(buf *b, const client_info *ci)
{
  Confidence__Flags__Resolver__V1__ClientResolveInfo info = CONFIDENCE__FLAGS__RESOLVER__V1__CLIENT_RESOLVE_INFO__INIT;
  /* client = the first two '/'-pieces of the credential name. */
  char client[512];
  const char *cred = ci->credential;
  const char *slash1 = strchr(cred, '/');
  const char *slash2 = slash1 ? strchr(slash1 + 1, '/') : NULL;
  size_t clen = slash2 ? (size_t)(slash2 - cred) : strlen(cred);
  if (clen >= sizeof client)
    clen = sizeof client - 1;
  memcpy(client, cred, clen);
  client[clen] = '\0';
  info.client = client;
  info.client_credential = (char *)cred;
  Confidence__Flags__Resolver__V1__ClientResolveInfo__EvaluationContextSchemaInstance inst[MAX_SCHEMAS],
      *inst_ptrs[MAX_SCHEMAS];
  size_t total = 0;
  for (size_t i = 0; i < ci->n_schemas; i++)
    total += ci->schemas[i]->n;
  typedef Confidence__Flags__Resolver__V1__ClientResolveInfo__EvaluationContextSchemaInstance__SchemaEntry KindEntry;
  typedef Confidence__Flags__Resolver__V1__ClientResolveInfo__EvaluationContextSchemaInstance__SemanticTypesEntry SemEntry;
  KindEntry *kinds = calloc(total + 1, sizeof *kinds);
  KindEntry **kind_ptrs = calloc(total + 1, sizeof *kind_ptrs);
  SemEntry *sems = calloc(total + 1, sizeof *sems);
  SemEntry **sem_ptrs = calloc(total + 1, sizeof *sem_ptrs);
  Confidence__Flags__Resolver__V1__ContextFieldSemanticType *types = calloc(total + 1, sizeof *types);
  static Confidence__Flags__Resolver__V1__ContextFieldSemanticType__CountrySemanticType country =
      {PROTOBUF_C_MESSAGE_INIT(&confidence__flags__resolver__v1__context_field_semantic_type__country_semantic_type__descriptor), 1};
  static Confidence__Flags__Resolver__V1__ContextFieldSemanticType__VersionSemanticType version =
      CONFIDENCE__FLAGS__RESOLVER__V1__CONTEXT_FIELD_SEMANTIC_TYPE__VERSION_SEMANTIC_TYPE__INIT;
  static Confidence__Flags__Resolver__V1__ContextFieldSemanticType__DateSemanticType date =
      CONFIDENCE__FLAGS__RESOLVER__V1__CONTEXT_FIELD_SEMANTIC_TYPE__DATE_SEMANTIC_TYPE__INIT;
  static Confidence__Flags__Resolver__V1__ContextFieldSemanticType__TimestampSemanticType timestamp =
      CONFIDENCE__FLAGS__RESOLVER__V1__CONTEXT_FIELD_SEMANTIC_TYPE__TIMESTAMP_SEMANTIC_TYPE__INIT;
  bool ok = kinds && kind_ptrs && sems && sem_ptrs && types;
  size_t k = 0, s = 0;
  for (size_t i = 0; ok && i < ci->n_schemas; i++) {
    Confidence__Flags__Resolver__V1__ClientResolveInfo__EvaluationContextSchemaInstance init =
        CONFIDENCE__FLAGS__RESOLVER__V1__CLIENT_RESOLVE_INFO__EVALUATION_CONTEXT_SCHEMA_INSTANCE__INIT;
    inst[i] = init;
    inst_ptrs[i] = &inst[i];
    inst[i].schema = &kind_ptrs[k];
    inst[i].semantic_types = &sem_ptrs[s];
    for (size_t j = 0; j < ci->schemas[i]->n; j++) {
      const cf_schema_field *f = &ci->schemas[i]->fields[j];
      KindEntry ke = CONFIDENCE__FLAGS__RESOLVER__V1__CLIENT_RESOLVE_INFO__EVALUATION_CONTEXT_SCHEMA_INSTANCE__SCHEMA_ENTRY__INIT;
      ke.key = f->path;
      ke.value = f->kind;
      kinds[k] = ke;
      kind_ptrs[k] = &kinds[k];
      k++;
      inst[i].n_schema++;
      if (!f->semantic)
        continue;
      Confidence__Flags__Resolver__V1__ContextFieldSemanticType ti =
          CONFIDENCE__FLAGS__RESOLVER__V1__CONTEXT_FIELD_SEMANTIC_TYPE__INIT;
      ti.type_case = f->semantic;
      if (f->semantic == CF_SEM_COUNTRY)
        ti.country = &country;
      else if (f->semantic == CF_SEM_VERSION)
        ti.version = &version;
      else if (f->semantic == CF_SEM_DATE)
        ti.date = &date;
      else
        ti.timestamp = &timestamp;
      types[s] = ti;
      SemEntry se = CONFIDENCE__FLAGS__RESOLVER__V1__CLIENT_RESOLVE_INFO__EVALUATION_CONTEXT_SCHEMA_INSTANCE__SEMANTIC_TYPES_ENTRY__INIT;
      se.key = f->path;
      se.value = &types[s];
      sems[s] = se;
      sem_ptrs[s] = &sems[s];
      s++;
      inst[i].n_semantic_types++;
    }
  }
  info.n_schema = ci->n_schemas;
  info.schema = inst_ptrs;
  ok = ok && put_message(b, CF_WRITE_FIELD_CLIENT_RESOLVE_INFO, &info.base);
  free(kinds);
  free(kind_ptrs);
  free(sems);
  free(sem_ptrs);
  free(types);
  return ok;
}

static bool put_flag_info(buf *b, const flag_info *fi)
{
  Confidence__Flags__Resolver__V1__FlagResolveInfo info = CONFIDENCE__FLAGS__RESOLVER__V1__FLAG_RESOLVE_INFO__INIT;
  info.flag = fi->flag;
  typedef Confidence__Flags__Resolver__V1__FlagResolveInfo__VariantResolveInfo VInfo;
  typedef Confidence__Flags__Resolver__V1__FlagResolveInfo__RuleResolveInfo RInfo;
  typedef Confidence__Flags__Resolver__V1__FlagResolveInfo__AssignmentResolveInfo AInfo;
  VInfo *vs = calloc(fi->n_variants + 1, sizeof *vs);
  VInfo **vp = calloc(fi->n_variants + 1, sizeof *vp);
  RInfo *rs = calloc(fi->n_rules + 1, sizeof *rs);
  RInfo **rp = calloc(fi->n_rules + 1, sizeof *rp);
  size_t n_assign = 0;
  for (size_t i = 0; i < fi->n_rules; i++)
    n_assign += fi->rules[i].n_assignments;
  AInfo *as = calloc(n_assign + 1, sizeof *as);
  AInfo **ap = calloc(n_assign + 1, sizeof *ap);
  bool ok = vs && vp && rs && rp && as && ap;
  for (size_t i = 0; ok && i < fi->n_variants; i++) {
    VInfo init = CONFIDENCE__FLAGS__RESOLVER__V1__FLAG_RESOLVE_INFO__VARIANT_RESOLVE_INFO__INIT;
    vs[i] = init;
    vs[i].variant = fi->variants[i].key;
    vs[i].count = fi->variants[i].count;
    vp[i] = &vs[i];
  }
  size_t a = 0;
  for (size_t i = 0; ok && i < fi->n_rules; i++) {
    RInfo init = CONFIDENCE__FLAGS__RESOLVER__V1__FLAG_RESOLVE_INFO__RULE_RESOLVE_INFO__INIT;
    rs[i] = init;
    rs[i].rule = fi->rules[i].rule;
    rs[i].count = fi->rules[i].count;
    rs[i].assignment_resolve_info = &ap[a];
    for (size_t j = 0; j < fi->rules[i].n_assignments; j++) {
      AInfo ai = CONFIDENCE__FLAGS__RESOLVER__V1__FLAG_RESOLVE_INFO__ASSIGNMENT_RESOLVE_INFO__INIT;
      ai.assignment_id = fi->rules[i].assignments[j].key;
      ai.count = fi->rules[i].assignments[j].count;
      as[a] = ai;
      ap[a] = &as[a];
      a++;
      rs[i].n_assignment_resolve_info++;
    }
    rp[i] = &rs[i];
  }
  info.n_variant_resolve_info = fi->n_variants;
  info.variant_resolve_info = vp;
  info.n_rule_resolve_info = fi->n_rules;
  info.rule_resolve_info = rp;
  ok = ok && put_message(b, CF_WRITE_FIELD_FLAG_RESOLVE_INFO, &info.base);
  free(vs);
  free(vp);
  free(rs);
  free(rp);
  free(as);
  free(ap);
  return ok;
}

/* Telemetry deltas since the previous export (§4.5). */
static bool put_telemetry(cf_flag_log *log, buf *b)
{
  Confidence__Flags__Resolver__V1__TelemetryData t = CONFIDENCE__FLAGS__RESOLVER__V1__TELEMETRY_DATA__INIT;
  Confidence__Flags__Resolver__V1__Sdk sdk = CONFIDENCE__FLAGS__RESOLVER__V1__SDK__INIT;
  sdk.sdk_case = CONFIDENCE__FLAGS__RESOLVER__V1__SDK__SDK_CUSTOM_ID;
  sdk.custom_id = "libconfidence-c";
  sdk.version = CONFIDENCE_VERSION_STRING;
  t.sdk = &sdk;
  t.resolver_version = CONFIDENCE_VERSION_STRING;
  t.memory_bytes = log->memory_bytes;

  Confidence__Flags__Resolver__V1__TelemetryData__ResolveLatency lat =
      CONFIDENCE__FLAGS__RESOLVER__V1__TELEMETRY_DATA__RESOLVE_LATENCY__INIT;
  Confidence__Flags__Resolver__V1__TelemetryData__BucketSpan spans[LATENCY_BUCKETS], *span_ptrs[LATENCY_BUCKETS];
  uint32_t deltas[LATENCY_BUCKETS];
  uint32_t count = (uint32_t)(log->lat_count - log->prev_count);
  if (count > 0) {
    lat.sum = (uint32_t)(log->lat_sum - log->prev_sum);
    lat.count = count;
    lat.ln_ratio = LN_RATIO;
    for (int i = 0; i < LATENCY_BUCKETS; i++)
      deltas[i] = (uint32_t)(log->buckets[i] - log->prev_buckets[i]);
    size_t n = 0;
    for (int i = 0; i < LATENCY_BUCKETS;) {
      if (!deltas[i]) {
        i++;
        continue;
      }
      int start = i;
      while (i < LATENCY_BUCKETS && deltas[i])
        i++;
      Confidence__Flags__Resolver__V1__TelemetryData__BucketSpan init =
          CONFIDENCE__FLAGS__RESOLVER__V1__TELEMETRY_DATA__BUCKET_SPAN__INIT;
      spans[n] = init;
      spans[n].offset = start;
      spans[n].counts = &deltas[start];
      spans[n].n_counts = (size_t)(i - start);
      span_ptrs[n] = &spans[n];
      n++;
    }
    lat.n_buckets = n;
    lat.buckets = span_ptrs;
    t.resolve_latency = &lat;
  }
  Confidence__Flags__Resolver__V1__TelemetryData__ResolveRate rates[REASONS], *rate_ptrs[REASONS];
  size_t nr = 0;
  for (int r = 0; r < REASONS; r++) {
    uint32_t d = (uint32_t)(log->reasons[r] - log->prev_reasons[r]);
    if (!d)
      continue;
    Confidence__Flags__Resolver__V1__TelemetryData__ResolveRate init =
        CONFIDENCE__FLAGS__RESOLVER__V1__TELEMETRY_DATA__RESOLVE_RATE__INIT;
    rates[nr] = init;
    rates[nr].count = d;
    rates[nr].reason = (Confidence__Flags__Resolver__V1__ResolveReason)r;
    rate_ptrs[nr] = &rates[nr];
    nr++;
  }
  t.n_resolve_rate = nr;
  t.resolve_rate = rate_ptrs;
  memcpy(log->prev_buckets, log->buckets, sizeof log->buckets);
  memcpy(log->prev_reasons, log->reasons, sizeof log->reasons);
  log->prev_sum = log->lat_sum;
  log->prev_count = log->lat_count;
  return put_message(b, CF_WRITE_FIELD_TELEMETRY_DATA, &t.base);
}

/* Appends the counters and schemas; on failure the batch is left as it
 * was before the message that did not fit. */
static void put_resolve_info(buf *b, const resolve_info *ri)
{
  for (size_t i = 0; i < ri->n_clients; i++) {
    size_t before = b->len;
    if (!put_client_info(b, &ri->clients[i]))
      b->len = before;
  }
  for (size_t i = 0; i < ri->n_flags; i++) {
    size_t before = b->len;
    if (!put_flag_info(b, &ri->flags[i]))
      b->len = before;
  }
}

bool cf_flag_log_take(cf_flag_log *log, cf_batch *out)
{
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&log->mu);
  if (log->dedup_on)
    dedup_sweep(&log->dedup, cf_clock_wall_ns() / 1000000000);
  if (log->retry.bytes) { /* resend the failed batch first, unchanged */
    *out = log->retry;
    memset(&log->retry, 0, sizeof log->retry);
    log->inflight_events = log->retry_events;
    if (log->retry_uncertain) /* it may have arrived: this is a resend */
      log->resent += log->retry_events;
    log->retry_uncertain = false;
    log->retry_events = 0;
    pthread_mutex_unlock(&log->mu);
    return true;
  }
  buf b = {0};
  bool has_content = log->ri.n_flags > 0 || log->ri.n_clients > 0 || log->count > 0;
  bool ok = put_telemetry(log, &b);
  /* Under the lock only the choice of events and their detaching: the
   * copy into the request (up to 4 MiB) happens after, so the drainer,
   * which adds every record under this lock, never waits for it. */
  size_t n = 0, bytes = b.len;
  while (ok && n < log->count) {
    const event *ev = &log->ring[(log->head + n) % log->max_events];
    size_t sz = ev->len + varint_len(ev->len) + 1;
    if (bytes + sz > BATCH_LIMIT && n > 0)
      break;
    bytes += sz;
    n++;
  }
  event *taken = n ? malloc(n * sizeof *taken) : NULL;
  if (!taken)
    n = 0; /* no memory to take them: they stay queued */
  for (size_t i = 0; i < n; i++) {
    taken[i] = log->ring[log->head];
    log->head = (log->head + 1) % log->max_events;
  }
  log->count -= n;
  /* The window's counters are encoded after the lock is released: with
   * thousands of flags that takes a while, and the drainer must not wait. */
  resolve_info ri = log->ri;
  memset(&log->ri, 0, sizeof log->ri);
  log->inflight_events = ok && has_content ? n : 0;
  pthread_mutex_unlock(&log->mu);
  for (size_t i = 0; i < n; i++) {
    ok = ok && buf_field(&b, CF_WRITE_FIELD_FLAG_ASSIGNED, taken[i].bytes, taken[i].len);
    out->n_applied += taken[i].applied;
    free(taken[i].bytes);
  }
  free(taken);
  out->n_events = n;
  put_resolve_info(&b, &ri); /* out of memory loses the counters, not the events */
  clear_resolve_info(&ri);
  if (!ok && n) { /* out of memory building the request: the taken events are lost, counted */
    pthread_mutex_lock(&log->mu);
    log->dropped += n;
    log->inflight_events = 0;
    pthread_mutex_unlock(&log->mu);
  }
  if (!ok || !has_content) {
    /* A telemetry-only batch is not worth a request (as the Python provider). */
    free(b.p);
    memset(out, 0, sizeof *out);
    return false;
  }
  out->bytes = b.p;
  out->len = b.len;
  return true;
}

void cf_flag_log_batch_done(cf_flag_log *log, cf_batch *b, cf_batch_outcome outcome)
{
  pthread_mutex_lock(&log->mu);
  log->inflight_events = 0;
  if (outcome == CF_BATCH_DELIVERED || outcome == CF_BATCH_REJECTED) {
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
  uint64_t n = drop_queue(log);
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
  clear_resolve_info(&log->ri);            /* and the counters of its window */
  memcpy(log->prev_buckets, log->buckets, sizeof log->buckets);
  memcpy(log->prev_reasons, log->reasons, sizeof log->reasons);
  log->prev_sum = log->lat_sum;
  log->prev_count = log->lat_count;
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
