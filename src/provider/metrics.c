/* confidence_provider_metrics: Prometheus / OpenMetrics text from the
 * per-thread resolve counters (summed over the slots), the provider's
 * stats and the event counters. The histogram, resolve-rate and memory
 * families are written as Confidence's resolver writes them
 * (RESOLVER_SPEC §4.9); the rest follow Prometheus naming. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "confidence/metrics.h"
#include "confidence/tracking.h"
#include "error.h"
#include "provider_internal.h"
#include "util.h"
#include "wbuf.h"

static const size_t OPTIONS_SIZES[CONFIDENCE_METRICS_OPTIONS_VERSION] = {sizeof(confidence_metrics_options)};

static const char *const REASON_NAMES[CF_METRIC_REASONS] = {
    "RESOLVE_REASON_UNSPECIFIED", "RESOLVE_REASON_MATCH", "RESOLVE_REASON_NO_SEGMENT_MATCH",
    "RESOLVE_REASON_NO_TREATMENT_MATCH", "RESOLVE_REASON_FLAG_ARCHIVED", "RESOLVE_REASON_TARGETING_KEY_ERROR",
    "RESOLVE_REASON_ERROR", "RESOLVE_REASON_UNRECOGNIZED_TARGETING_RULE",
    "RESOLVE_REASON_MATERIALIZATION_NOT_SUPPORTED", "RESOLVE_REASON_TYPE_MISMATCH", "RESOLVE_REASON_FLAG_NOT_FOUND"};

typedef struct out {
  cf_wbuf b;
  bool om;         /* OpenMetrics */
  const char *id;  /* resolver_id */
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...)
{
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n > 0)
    cf_wbuf_put_raw(&o->b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Rust's {:.6e}: "1.136464e0", "5.000000e-1" (no '+', no exponent padding). */
static void rust_exp(double v, char out_s[48])
{
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%.6e", v);
  char *e = strchr(tmp, 'e');
  if (!e) {
    snprintf(out_s, 48, "%s", tmp);
    return;
  }
  *e = '\0';
  snprintf(out_s, 48, "%se%d", tmp, atoi(e + 1));
}

static const char *suffix(const out *o) { return o->om ? ".0" : ""; }

static void put_histogram(out *o, const cf_metric_totals *t, uint32_t bpd)
{
  if (t->latency_count == 0)
    return;
  const char *m = "confidence_resolve_latency_microseconds";
  put(o, "# HELP %s Latency of flag resolve operations in microseconds.\n# TYPE %s histogram\n", m, m);
  const uint32_t native = CF_LATENCY_BUCKETS_PER_DECADE;
  bpd = bpd == 0 ? native : bpd > native ? native : bpd;
  uint32_t stride = (native + bpd - 1) / bpd;
  uint64_t cum = 0;
  for (uint32_t i = 0, next = stride - 1; i < CF_LATENCY_BUCKETS; i++) {
    cum += t->buckets[i];
    if (i != next)
      continue;
    next += stride;
    if (cum == 0)
      continue;
    char le[48];
    rust_exp(cf_latency_bucket_upper(i), le);
    put(o, "%s_bucket{resolver_id=\"%s\",le=\"%s\"} %llu%s\n", m, o->id, le, (unsigned long long)cum, suffix(o));
  }
  put(o, "%s_bucket{resolver_id=\"%s\",le=\"+Inf\"} %llu%s\n", m, o->id, (unsigned long long)t->latency_count,
      suffix(o));
  put(o, "%s_sum{resolver_id=\"%s\"} %llu%s\n", m, o->id, (unsigned long long)t->latency_sum, suffix(o));
  put(o, "%s_count{resolver_id=\"%s\"} %llu%s\n", m, o->id, (unsigned long long)t->latency_count, suffix(o));
}

static void put_resolves(out *o, const cf_metric_totals *t)
{
  bool any = false;
  for (int i = 0; i < CF_METRIC_REASONS; i++)
    any = any || t->reasons[i];
  if (!any)
    return;
  const char *family = o->om ? "confidence_resolves" : "confidence_resolves_total";
  put(o, "# HELP %s Total number of flag resolve operations.\n# TYPE %s counter\n", family, family);
  for (int i = 0; i < CF_METRIC_REASONS; i++)
    if (t->reasons[i])
      put(o, "confidence_resolves_total{resolver_id=\"%s\",reason=\"%s\"} %llu%s\n", o->id, REASON_NAMES[i],
          (unsigned long long)t->reasons[i], suffix(o));
}

/* One counter family `name` (sample name_total) with one sample. */
static void put_counter(out *o, const char *name, const char *help, uint64_t v)
{
  put(o, "# HELP %s%s %s\n# TYPE %s%s counter\n", name, o->om ? "" : "_total", help, name, o->om ? "" : "_total");
  put(o, "%s_total{resolver_id=\"%s\"} %llu%s\n", name, o->id, (unsigned long long)v, suffix(o));
}

static void put_gauge(out *o, const char *name, const char *help, double v)
{
  put(o, "# HELP %s %s\n# TYPE %s gauge\n%s{resolver_id=\"%s\"} %.17g\n", name, help, name, name, o->id, v);
}

static void put_exposures(out *o, const confidence_provider_stats *s)
{
  put_counter(o, "confidence_evaluations", "Flag evaluations (getter calls with a flag key).", s->evaluations);
  put_gauge(o, "confidence_exposures_queued", "Exposures waiting to be sent.", (double)s->exposures_queued);
  put_counter(o, "confidence_exposures_sent", "Exposures delivered to Confidence.", s->exposures_sent);
  put_counter(o, "confidence_exposures_deduplicated", "Exposures not sent again (apply dedup).",
              s->exposures_deduplicated);
  put_counter(o, "confidence_exposures_dropped", "Exposures that will never be sent (queue full, rejected, lost).",
              s->exposures_dropped);
  put_counter(o, "confidence_exposures_rejected", "Exposures in batches the server refused as invalid.",
              s->exposures_rejected);
  put_counter(o, "confidence_exposures_lost_at_shutdown", "Exposures still queued when shutdown ended.",
              s->exposures_lost_at_shutdown);
  put_counter(o, "confidence_resolve_counts_dropped", "Resolve counters lost to a full ring.",
              s->resolve_counts_dropped);
  put_counter(o, "confidence_flag_log_send_failures", "Flag log sends that failed.", s->log_send_failures);
}

static void put_events(out *o, const confidence_event_stats *e)
{
  put_counter(o, "confidence_events_tracked", "Track calls.", e->tracked);
  put_gauge(o, "confidence_events_queued", "Track events waiting to be sent.", (double)e->queued);
  put_counter(o, "confidence_events_sent", "Track events delivered and accepted.", e->sent);
  put_counter(o, "confidence_events_rejected", "Track events the events service refused.", e->rejected);
  put_counter(o, "confidence_events_dropped", "Track events lost to a full queue.", e->dropped);
  put_counter(o, "confidence_events_invalid", "Track calls that made no event.", e->invalid);
  put_counter(o, "confidence_event_send_failures", "PublishEvents calls that failed.", e->send_failures);
}

static void put_state(out *o, confidence_provider *p, const confidence_provider_stats *s)
{
  static const char *const status_names[] = {"NOT_READY", "READY", "ERROR", "STALE", "FATAL"};
  int status = confidence_provider_status(p);
  put(o, "# HELP confidence_provider_status The provider's status (1 for the current one).\n"
         "# TYPE confidence_provider_status gauge\n");
  for (int i = 0; i < 5; i++)
    put(o, "confidence_provider_status{resolver_id=\"%s\",status=\"%s\"} %d\n", o->id, status_names[i], i == status);
  put_counter(o, "confidence_state_updates", "Flag states installed.", s->state_updates);
  put_counter(o, "confidence_state_fetch_failures", "CDN state fetches that failed.", s->state_fetch_failures);
  confidence_state *st = confidence_provider_state(p);
  if (!st)
    return;
  pthread_mutex_lock(&p->mu);
  int64_t last_ok = p->last_sync_ok_ms;
  pthread_mutex_unlock(&p->mu);
  size_t bytes = confidence_state_memory_bytes(st);
  confidence_state_unref(st);
  put_gauge(o, "confidence_state_age_seconds", "Seconds since the state was last installed or confirmed by the CDN.",
            (double)(cf_clock_ms() - last_ok) / 1000.0);
  put_gauge(o, "confidence_state_size_bytes", "Memory held by the current flag state.", (double)bytes);
  if (bytes) { /* Confidence's own family: the resolver's memory */
    put(o, "# HELP confidence_memory_bytes Current memory usage of the resolver in bytes.\n"
           "# TYPE confidence_memory_bytes gauge\n");
    put(o, "confidence_memory_bytes{resolver_id=\"%s\"} %zu%s\n", o->id, bytes, suffix(o));
  }
}

/* A label value as the exposition formats escape it (\\, \", \n),
 * truncated to fit. */
static void escape_label(const char *in, char *out_s, size_t cap)
{
  size_t n = 0;
  for (; *in && n + 3 < cap; in++) {
    if (*in == '\\' || *in == '"' || *in == '\n')
      out_s[n++] = '\\';
    out_s[n++] = *in == '\n' ? 'n' : *in;
  }
  out_s[n] = '\0';
}

int confidence_provider_metrics(confidence_provider *p, const confidence_metrics_options *user_opts, char **out_text)
{
  if (!out_text)
    return cf_error(CONFIDENCE_EINVAL, "out must not be NULL");
  *out_text = NULL;
  if (!p)
    return cf_error(CONFIDENCE_EINVAL, "provider is NULL");
  confidence_metrics_options opts = {CONFIDENCE_METRICS_OPTIONS_VERSION};
  int rc = user_opts ? cf_copy_versioned(&opts, sizeof opts, user_opts, user_opts->version, OPTIONS_SIZES,
                                         CONFIDENCE_METRICS_OPTIONS_VERSION, "confidence_metrics_options")
                     : 0;
  if (rc)
    return rc;
  char id[200];
  if (opts.instance)
    escape_label(opts.instance, id, sizeof id);
  else
    snprintf(id, sizeof id, "%u", p->instance);
  out o = {{0}, opts.openmetrics != 0, id};
  cf_metric_totals t;
  cf_slots_sum_metrics(p, &t);
  confidence_provider_stats s = CONFIDENCE_PROVIDER_STATS_INIT;
  confidence_event_stats e = CONFIDENCE_EVENT_STATS_INIT;
  confidence_provider_read_stats(p, &s);
  confidence_provider_read_event_stats(p, &e);
  put_histogram(&o, &t, opts.buckets_per_decade);
  put_resolves(&o, &t);
  put_exposures(&o, &s);
  put_events(&o, &e);
  put_state(&o, p, &s);
  if (o.om)
    put(&o, "# EOF\n");
  cf_wbuf_put_raw(&o.b, "", 1); /* the terminating NUL */
  if (o.b.err) {
    free(o.b.p);
    return cf_error(CONFIDENCE_ENOMEM, "out of memory");
  }
  *out_text = (char *)o.b.p;
  return 0;
}
