/* WriteFlagLogsRequest batches (RESOLVER_SPEC §4.7): the queued
 * FlagAssigned events (encoded once when queued), the window's resolve
 * info and context schemas, and the telemetry deltas. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "confidence/version.h"
#include "flag_log_internal.h"
#include "wbuf.h"
#include "wire.h"
#include "proto/confidence/flags/resolver/v1/internal_api.pb-c.h"

#define BATCH_LIMIT 4194304

static size_t varint_len(size_t n)
{
  uint8_t scratch[10];
  return cf_wire_put_varint(scratch, n);
}

/* Packs a message into the batch as `field` (straight into the buffer). */
static bool put_message(cf_wbuf *b, uint32_t field, const ProtobufCMessage *m)
{
  size_t n = protobuf_c_message_get_packed_size(m);
  cf_wbuf_put_tag(b, field, CF_WT_LEN);
  cf_wbuf_put_varint(b, n);
  if (cf_wbuf_reserve(b, n)) {
    protobuf_c_message_pack(m, b->p + b->n);
    b->n += n;
  }
  return !b->err;
}

/* Context schema instance for one cf_schema: the kind map and the
 * semantic-type map, sorted by path (prost map order). */
static bool put_client_info(cf_wbuf *b, const cf_client_info *ci)
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
  Confidence__Flags__Resolver__V1__ClientResolveInfo__EvaluationContextSchemaInstance inst[CF_FLAG_LOG_MAX_SCHEMAS],
      *inst_ptrs[CF_FLAG_LOG_MAX_SCHEMAS];
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

static bool put_flag_info(cf_wbuf *b, const cf_flag_info *fi)
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

void cf_flag_log_telemetry_exported(cf_flag_log *log)
{
  memcpy(log->prev_buckets, log->buckets, sizeof log->buckets);
  memcpy(log->prev_reasons, log->reasons, sizeof log->reasons);
  log->prev_sum = log->lat_sum;
  log->prev_count = log->lat_count;
}

/* Telemetry deltas since the previous export (§4.5). */
static bool put_telemetry(cf_flag_log *log, cf_wbuf *b)
{
  Confidence__Flags__Resolver__V1__TelemetryData t = CONFIDENCE__FLAGS__RESOLVER__V1__TELEMETRY_DATA__INIT;
  Confidence__Flags__Resolver__V1__Sdk sdk = cf_flag_log_sdk();
  t.sdk = &sdk;
  t.resolver_version = CONFIDENCE_VERSION_STRING;
  t.memory_bytes = log->memory_bytes;

  Confidence__Flags__Resolver__V1__TelemetryData__ResolveLatency lat =
      CONFIDENCE__FLAGS__RESOLVER__V1__TELEMETRY_DATA__RESOLVE_LATENCY__INIT;
  Confidence__Flags__Resolver__V1__TelemetryData__BucketSpan spans[CF_LATENCY_BUCKETS], *span_ptrs[CF_LATENCY_BUCKETS];
  uint32_t deltas[CF_LATENCY_BUCKETS];
  uint32_t count = (uint32_t)(log->lat_count - log->prev_count);
  if (count > 0) {
    lat.sum = (uint32_t)(log->lat_sum - log->prev_sum);
    lat.count = count;
    lat.ln_ratio = CF_LATENCY_LN_RATIO;
    for (int i = 0; i < CF_LATENCY_BUCKETS; i++)
      deltas[i] = (uint32_t)(log->buckets[i] - log->prev_buckets[i]);
    size_t n = 0;
    for (int i = 0; i < CF_LATENCY_BUCKETS;) {
      if (!deltas[i]) {
        i++;
        continue;
      }
      int start = i;
      while (i < CF_LATENCY_BUCKETS && deltas[i])
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
  Confidence__Flags__Resolver__V1__TelemetryData__ResolveRate rates[CF_METRIC_REASONS], *rate_ptrs[CF_METRIC_REASONS];
  size_t nr = 0;
  for (int r = 0; r < CF_METRIC_REASONS; r++) {
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
  cf_flag_log_telemetry_exported(log);
  return put_message(b, CF_WRITE_FIELD_TELEMETRY_DATA, &t.base);
}

/* Appends the counters and schemas; on failure the batch is left as it
 * was before the message that did not fit. */
static void put_resolve_info(cf_wbuf *b, const cf_resolve_info *ri)
{
  for (size_t i = 0; i < ri->n_clients; i++) {
    size_t before = b->n;
    if (!put_client_info(b, &ri->clients[i]))
      cf_wbuf_rewind(b, before);
  }
  for (size_t i = 0; i < ri->n_flags; i++) {
    size_t before = b->n;
    if (!put_flag_info(b, &ri->flags[i]))
      cf_wbuf_rewind(b, before);
  }
}

bool cf_flag_log_take(cf_flag_log *log, cf_batch *out)
{
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&log->mu);
  if (log->closed) { /* shutdown has counted what was left */
    pthread_mutex_unlock(&log->mu);
    return false;
  }
  if (log->dedup_on)
    cf_dedup_sweep(&log->dedup, cf_clock_wall_ns() / 1000000000);
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
  cf_wbuf b = {0};
  bool has_content = log->ri.n_flags > 0 || log->ri.n_clients > 0 || log->count > 0;
  bool ok = put_telemetry(log, &b);
  /* Under the lock only the choice of events and their detaching: the
   * copy into the request (up to 4 MiB) happens after, so the drainer,
   * which adds every record under this lock, never waits for it. */
  size_t n = 0, bytes = b.n;
  while (ok && n < log->count) {
    const cf_log_event *ev = &log->ring[(log->head + n) % log->max_events];
    size_t sz = ev->len + varint_len(ev->len) + 1;
    if (bytes + sz > BATCH_LIMIT && n > 0)
      break;
    bytes += sz;
    n++;
  }
  cf_log_event *taken = n ? malloc(n * sizeof *taken) : NULL;
  if (!taken)
    n = 0; /* no memory to take them: they stay queued */
  for (size_t i = 0; i < n; i++) {
    taken[i] = log->ring[log->head];
    log->head = (log->head + 1) % log->max_events;
  }
  log->count -= n;
  /* The window's counters are encoded after the lock is released: with
   * thousands of flags that takes a while, and the drainer must not wait. */
  cf_resolve_info ri = log->ri;
  memset(&log->ri, 0, sizeof log->ri);
  log->inflight_events = ok && has_content ? n : 0;
  pthread_mutex_unlock(&log->mu);
  for (size_t i = 0; i < n; i++) {
    cf_wbuf_put_bytes_field(&b, CF_WRITE_FIELD_FLAG_ASSIGNED, taken[i].bytes, taken[i].len);
    out->n_applied += taken[i].applied;
    free(taken[i].bytes);
  }
  free(taken);
  ok = ok && !b.err;
  out->n_events = n;
  if (ok)
    put_resolve_info(&b, &ri); /* out of memory loses the counters, not the events */
  cf_resolve_info_clear(&ri);
  if (!ok && n) { /* out of memory building the request: the taken events are lost, counted */
    pthread_mutex_lock(&log->mu);
    if (!log->closed) /* else shutdown counted them lost already */
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
  out->len = b.n;
  return true;
}

