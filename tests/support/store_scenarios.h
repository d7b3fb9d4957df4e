/* End-to-end materialization scenarios every shipped store must pass,
 * on the two states in ../shared/conformance/states: a sticky
 * assignment survives attribute changes and a state update that changes
 * the allocation; materialized-segment inclusion decides targeting; a
 * read-only store works. A test supplies the store through a `store_kind`.
 * The provider gets its states from a fake CDN (a transport serving
 * whatever `cdn_state` holds). */
#ifndef CONFIDENCE_TEST_STORE_SCENARIOS_H
#define CONFIDENCE_TEST_STORE_SCENARIOS_H

#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "confidence/confidence.h"
#include "confidence/sys/transport.h"
#include "proto/confidence/flags/admin/v1/resolver.pb-c.h"

#define STICKY_STATE "resolver_state_with_multiple_sticky_flags.pb"
#define CUSTOM_STATE "resolver_state_with_custom_targeting_flag.pb"
#define CUSTOM_SECRET "Ip7lGcBeGA4Le9MI8md4i5LkUOnLnyFx"
#define CUSTOM_SEGMENT "materializedSegments/nicklas-custom-targeting"
#define ACCOUNT "confidence-demo-june"

typedef struct store_kind {
  const char *name;
  /* Sets o->materialization_store or use_remote_materialization_store
   * (and whatever that needs); read_only: a store without write. */
  void (*configure)(confidence_provider_options *o, int read_only);
  /* Puts (unit, materialization) into the backing store. */
  void (*seed_inclusion)(const char *unit, const char *materialization);
  /* Serves a state (takes bytes); NULL: the fake CDN below. A kind with
   * its own CDN also sets cdn_base_url and transport in configure. */
  void (*serve)(uint8_t *bytes, size_t len);
  int always_writes; /* no read-only variant (Confidence's remote store) */
} store_kind;

/* ---- the fake CDN ---------------------------------------------------------- */

static pthread_mutex_t cdn_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *cdn_state;
static size_t cdn_len;

static int cdn_exchange(const confidence_http_request *req, confidence_http_response *resp, void *user)
{
  (void)user;
  memset(resp, 0, sizeof *resp);
  if (strstr(req->url, "cdn.invalid") == NULL) {
    snprintf(resp->error, sizeof resp->error, "only the fake CDN is here");
    return CONFIDENCE_ENETWORK;
  }
  pthread_mutex_lock(&cdn_mu);
  resp->body = malloc(cdn_len);
  memcpy(resp->body, cdn_state, cdn_len);
  resp->body_len = cdn_len;
  pthread_mutex_unlock(&cdn_mu);
  resp->status = 200;
  return 0;
}

static void cdn_free(confidence_http_response *resp, void *user)
{
  (void)user;
  free(resp->body);
}

static const confidence_transport cdn_transport = {CONFIDENCE_TRANSPORT_VERSION, cdn_exchange, cdn_free, NULL, NULL};

static void fake_cdn_serve(uint8_t *bytes, size_t len) /* takes bytes */
{
  pthread_mutex_lock(&cdn_mu);
  free(cdn_state);
  cdn_state = bytes;
  cdn_len = len;
  pthread_mutex_unlock(&cdn_mu);
}

static uint8_t *read_file(const char *dir, const char *name, size_t *len)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(*len);
  CHECK(fread(b, 1, *len, f) == *len);
  fclose(f);
  return b;
}

static __attribute__((unused)) void fake_cdn_serve_file(const char *dir, const char *name)
{
  size_t len;
  uint8_t *b = read_file(dir, name, &len);
  fake_cdn_serve(b, len);
}

typedef Confidence__Flags__Admin__V1__Flag__Rule__Assignment assignment_msg;
typedef Confidence__Flags__Admin__V1__Flag__Rule__Assignment__VariantAssignment variant_assignment_msg;

/* What rotated_state changed, to put back before freeing. */
typedef struct moved {
  Confidence__Flags__Admin__V1__Flag__Rule__AssignmentSpec *spec;
  assignment_msg **assignments, *list[2], extra;
  variant_assignment_msg extra_variant;
  size_t n_ranges;
} moved;

/* The state after an allocation change: each single-variant rule gets a
 * second variant that takes over all buckets, the first one keeps none.
 * A fresh unit gets the new variant; a sticky one keeps the old (still an
 * assignment of the rule, RESOLVER_SPEC §3.2 select_assignment). */
static uint8_t *rotated_state(const uint8_t *bytes, size_t len, size_t *out_len)
{
  Confidence__Flags__Admin__V1__ResolverState *st = confidence__flags__admin__v1__resolver_state__unpack(NULL, len, bytes);
  CHECK(st != NULL);
  static moved m[64];
  size_t n = 0;
  for (size_t f = 0; f < st->n_flags; f++) {
    Confidence__Flags__Admin__V1__Flag *flag = st->flags[f];
    for (size_t r = 0; r < flag->n_rules && n < 64; r++) {
      moved *mv = &m[n];
      mv->spec = flag->rules[r]->assignment_spec;
      if (!mv->spec || mv->spec->n_assignments != 1 || flag->n_variants < 2 ||
          mv->spec->assignments[0]->assignment_case != CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__ASSIGNMENT__ASSIGNMENT_VARIANT)
        continue;
      assignment_msg *a0 = mv->spec->assignments[0];
      const char *other = strcmp(flag->variants[0]->name, a0->variant->variant) ? flag->variants[0]->name
                                                                                : flag->variants[1]->name;
      assignment_msg init = CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__ASSIGNMENT__INIT;
      variant_assignment_msg vinit = CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__ASSIGNMENT__VARIANT_ASSIGNMENT__INIT;
      mv->extra = init;
      mv->extra_variant = vinit;
      mv->extra_variant.variant = (char *)other;
      mv->extra.assignment_id = (char *)"moved";
      mv->extra.assignment_case = CONFIDENCE__FLAGS__ADMIN__V1__FLAG__RULE__ASSIGNMENT__ASSIGNMENT_VARIANT;
      mv->extra.variant = &mv->extra_variant;
      mv->extra.n_bucket_ranges = a0->n_bucket_ranges;
      mv->extra.bucket_ranges = a0->bucket_ranges;
      mv->n_ranges = a0->n_bucket_ranges;
      a0->n_bucket_ranges = 0;
      mv->list[0] = a0;
      mv->list[1] = &mv->extra;
      mv->assignments = mv->spec->assignments;
      mv->spec->assignments = mv->list;
      mv->spec->n_assignments = 2;
      n++;
    }
  }
  *out_len = confidence__flags__admin__v1__resolver_state__get_packed_size(st);
  uint8_t *out = malloc(*out_len);
  confidence__flags__admin__v1__resolver_state__pack(st, out);
  for (size_t i = 0; i < n; i++) { /* back as unpacked, so it frees cleanly */
    m[i].spec->assignments = m[i].assignments;
    m[i].spec->n_assignments = 1;
    m[i].assignments[0]->n_bucket_ranges = m[i].n_ranges;
  }
  confidence__flags__admin__v1__resolver_state__free_unpacked(st, NULL);
  return out;
}

/* ---- provider helpers ------------------------------------------------------ */

static const store_kind *current_kind;

static void cdn_serve(uint8_t *bytes, size_t len)
{
  if (current_kind && current_kind->serve)
    current_kind->serve(bytes, len);
  else
    fake_cdn_serve(bytes, len);
}

static void cdn_serve_file(const char *dir, const char *name)
{
  size_t len;
  uint8_t *b = read_file(dir, name, &len);
  cdn_serve(b, len);
}

static confidence_provider *start_provider(const store_kind *k, const char *secret, int read_only,
                                           confidence_provider_options *extra)
{
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  if (extra)
    o = *extra;
  o.client_secret = secret;
  o.cdn_base_url = "http://cdn.invalid";
  if (!o.account_id)
    o.account_id = ACCOUNT;
  o.state_poll_interval_ms = 20;
  o.disable_exposure_collection = 1;
  o.transport = &cdn_transport;
  k->configure(&o, read_only);
  confidence_provider *p = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  CHECK(confidence_provider_start(p, 5000) == 0);
  return p;
}

static confidence_value *unit_context(const char *unit, const char *country)
{
  confidence_value *ctx = confidence_value_new_struct();
  confidence_value_struct_set(ctx, "user_id", confidence_value_new_string(unit));
  if (country)
    confidence_value_struct_set(ctx, "country", confidence_value_new_string(country));
  return ctx;
}

/* The variant `unit` gets for `flag` ("" on error; error code in *code). */
static char *variant_of(confidence_provider *p, const char *flag, const char *unit, const char *country, int *code)
{
  confidence_value *ctx = unit_context(unit, country);
  confidence_details *d = confidence_details_new();
  confidence_value_free(confidence_provider_get_object(p, flag, ctx, NULL, d));
  char *v = strdup(confidence_details_variant(d));
  if (code)
    *code = confidence_details_error_code(d);
  confidence_details_free(d);
  confidence_value_free(ctx);
  return v;
}

static void wait_for_update(confidence_provider *p, uint64_t before)
{
  for (int i = 0; i < 500; i++) {
    confidence_provider_stats s = CONFIDENCE_PROVIDER_STATS_INIT;
    confidence_provider_read_stats(p, &s);
    if (s.state_updates > before)
      return;
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL);
  }
  CHECK(!"the state update did not arrive");
}

static uint64_t state_updates(confidence_provider *p)
{
  confidence_provider_stats s = CONFIDENCE_PROVIDER_STATS_INIT;
  confidence_provider_read_stats(p, &s);
  return s.state_updates;
}

/* ---- the scenarios --------------------------------------------------------- */

/* Sticky: assigned once, a unit keeps its variant when its attributes change
 * and when an update moves the allocation; a fresh unit follows the new
 * allocation (so the update really changed something). */
static void scenario_sticky(const store_kind *k, const char *states, const char *unit, const char *fresh)
{
  size_t len, rot_len;
  uint8_t *a = read_file(states, STICKY_STATE, &len);
  uint8_t *b = rotated_state(a, len, &rot_len);
  cdn_serve(a, len);
  confidence_provider *p = start_provider(k, "test-secret", 0, NULL);
  int code = -1;
  char *first = variant_of(p, "sticky-flag-1", unit, "SE", &code);
  CHECK(code == 0 && *first);
  char *fresh_before = variant_of(p, "sticky-flag-1", fresh, NULL, NULL);
  char *again = variant_of(p, "sticky-flag-1", unit, "US", &code);
  CHECK(code == 0);
  CHECK_STR(again, first);
  uint64_t n = state_updates(p);
  cdn_serve(b, rot_len);
  wait_for_update(p, n);
  char *after = variant_of(p, "sticky-flag-1", unit, "SE", &code);
  CHECK(code == 0);
  CHECK_STR(after, first); /* sticky across the new allocation */
  char *fresh_after = variant_of(p, "sticky-flag-1", fresh, NULL, NULL);
  CHECK_STR(fresh_after, fresh_before); /* `fresh` was assigned (and stored) before the update too */
  fprintf(stderr, "[%s] sticky: %s kept %s across the update\n", k->name, unit, first);
  free(first), free(again), free(after), free(fresh_before), free(fresh_after);
  confidence_provider_free(p);
}

/* A unit never seen before the update gets the new allocation: compared
 * with a provider without materializations on the same state. */
static void scenario_new_allocation(const store_kind *k, const char *states, const char *unit)
{
  size_t len, rot_len;
  uint8_t *a = read_file(states, STICKY_STATE, &len);
  uint8_t *b = rotated_state(a, len, &rot_len);
  confidence_state_options so = CONFIDENCE_STATE_OPTIONS_INIT;
  so.account_id = ACCOUNT;
  confidence_state *sa = NULL, *sb = NULL;
  CHECK(confidence_state_load(a, len, &so, &sa) == 0 && confidence_state_load(b, rot_len, &so, &sb) == 0);
  cdn_serve(b, rot_len);
  confidence_provider *p = start_provider(k, "test-secret", 0, NULL);
  char *now = variant_of(p, "sticky-flag-1", unit, NULL, NULL);
  /* what the old state would have said, resolved statically with no record */
  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  const char *flags[] = {"flags/sticky-flag-1"};
  confidence_value *ctx = unit_context(unit, NULL);
  req.client_secret = "test-secret", req.flags = flags, req.flag_count = 1, req.context = ctx;
  req.materialization_mode = CONFIDENCE_MATERIALIZATIONS_STATIC;
  confidence_resolve_result *res = confidence_resolve_result_new();
  CHECK(confidence_resolve(sa, &req, res) == 0);
  char *old = strdup(confidence_resolved_flag_variant(confidence_resolve_result_flag_at(res, 0)));
  CHECK(confidence_resolve(sb, &req, res) == 0);
  CHECK_STR(now, confidence_resolved_flag_variant(confidence_resolve_result_flag_at(res, 0)));
  CHECK(strcmp(old, now) != 0 || !fprintf(stderr, "old %s now %s\n", old, now)); /* the rotation moved this unit */
  free(old), free(now), free(a);
  confidence_resolve_result_free(res);
  confidence_value_free(ctx);
  confidence_state_unref(sa);
  confidence_state_unref(sb);
  confidence_provider_free(p);
}

/* Materialized segment: the first rule targets the segment; inclusion in
 * the store decides whether it matches. */
static void scenario_custom_targeting(const store_kind *k, const char *states, const char *unit)
{
  cdn_serve_file(states, CUSTOM_STATE);
  confidence_provider *p = start_provider(k, CUSTOM_SECRET, 0, NULL);
  int code = -1;
  char *outside = variant_of(p, "custom-targeted-flag", unit, NULL, &code);
  CHECK(code == 0);
  k->seed_inclusion(unit, CUSTOM_SEGMENT);
  char *inside = variant_of(p, "custom-targeted-flag", unit, NULL, &code);
  CHECK(code == 0);
  CHECK(strcmp(inside, outside) != 0);
  CHECK(strstr(inside, "flags/custom-targeted-flag/variants/") == inside);
  fprintf(stderr, "[%s] custom targeting: '%s' outside, '%s' inside\n", k->name, outside, inside);
  free(outside), free(inside);
  confidence_provider_free(p);
}

/* Read-only: answers come from the store, nothing is written, and an
 * unassigned unit still resolves (afresh each time). */
static void scenario_read_only(const store_kind *k, const char *states, const char *unit)
{
  cdn_serve_file(states, STICKY_STATE);
  confidence_provider *p = start_provider(k, "test-secret", 1, NULL);
  int code = -1;
  char *v = variant_of(p, "sticky-flag-3", unit, NULL, &code);
  CHECK(code == 0 && *v);
  confidence_store_stats s = CONFIDENCE_STORE_STATS_INIT;
  CHECK(confidence_provider_read_store_stats(p, &s) == 0);
  CHECK(s.reads == 1 && s.writes == 0);
  free(v);
  confidence_provider_free(p);
}

static void run_scenarios(const store_kind *k, const char *states, const char *tag)
{
  current_kind = k;
  char unit[64], fresh[64], other[64];
  snprintf(unit, sizeof unit, "sticky-%s", tag);
  snprintf(fresh, sizeof fresh, "fresh-%s", tag);
  snprintf(other, sizeof other, "other-%s", tag);
  scenario_sticky(k, states, unit, fresh);
  scenario_new_allocation(k, states, other);
  scenario_custom_targeting(k, states, unit);
  if (!k->always_writes)
    scenario_read_only(k, states, other);
}

#endif
