/* The resolve entry points: secret lookup, flag selection, the per-flag
 * rule loop of spec 3.3 (targeting keys, sticky reads, bucketing,
 * fallthroughs, materialization writes). The result object's accessors
 * are in resolve_result.c. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "proto/confidence/flags/admin/v1/resolver.pb-c.h"
#include "resolve_internal.h"
#include "util.h"

#define MAX_FLAGS_PER_RESOLVE 1000

/* Flag outcome besides an assigned result. */
enum { FLAG_DONE = 0, FLAG_MISSING = 1 };

/* ---- targeting key (spec 3.4) --------------------------------------------- */

enum { KEY_ABSENT, KEY_VALUE, KEY_INVALID };

static int targeting_key(const cf_eval *ev, const cf_rule *rule, cf_unit *unit, const confidence_value **seen)
{
  const confidence_value *v = cf_eval_path(ev, rule->key_path, rule->n_key_path);
  *seen = v;
  unit->present = false;
  unit->len = 0;
  if (!v || v->type == CONFIDENCE_VALUE_NULL)
    return KEY_ABSENT;
  if (v->type == CONFIDENCE_VALUE_STRING) {
    if (v->u.s.len > CF_MAX_KEY)
      return KEY_INVALID;
    memcpy(unit->text, v->u.s.ptr, v->u.s.len);
    unit->len = (uint32_t)v->u.s.len;
  } else if (v->type == CONFIDENCE_VALUE_NUMBER && isfinite(v->u.n) && v->u.n == trunc(v->u.n)) {
    /* Integral numbers are keyed by their "%.0f" text (1e21 has 22 digits). */
    char buf[CF_NUMBUF];
    int n = snprintf(buf, sizeof buf, "%.0f", v->u.n);
    if (n < 0 || n > CF_MAX_KEY)
      return KEY_INVALID;
    memcpy(unit->text, buf, (size_t)n);
    unit->len = (uint32_t)n;
  } else {
    return KEY_INVALID;
  }
  unit->text[unit->len] = '\0';
  unit->present = true;
  return KEY_VALUE;
}

/* ---- result building ------------------------------------------------------- */

static confidence_resolved_flag *begin_flag(cf_eval *ev, const cf_flag *f)
{
  confidence_resolve_result *res = ev->res;
  confidence_resolved_flag *a = CF_VEC_PUSH(res->flags);
  if (!a)
    return NULL;
  memset(a, 0, sizeof *a);
  a->owner = res;
  a->flag = f;
  a->reason = CONFIDENCE_RESOLVE_REASON_NO_SEGMENT_MATCH;
  a->assignment_id = (cf_str){"", 0};
  a->ft_start = (uint32_t)res->fallthroughs.n;
  return a;
}

static void set_key(confidence_resolved_flag *a, const cf_unit *unit)
{
  a->key_len = unit->present ? unit->len : 0;
  memcpy(a->key, unit->text, a->key_len);
  a->key[a->key_len] = '\0';
}

static int match(confidence_resolved_flag *a, const cf_rule *rule, const cf_variant *v, bool client_default,
                 cf_str assignment_id, const cf_unit *unit)
{
  a->reason = CONFIDENCE_RESOLVE_REASON_MATCH;
  a->rule = rule;
  a->segment = rule->segment;
  a->variant = v;
  a->client_default = client_default;
  a->assignment_id = assignment_id;
  set_key(a, unit);
  return FLAG_DONE;
}

/* error(A, reason): assignment cleared, fallthroughs kept. */
static int fail_flag(confidence_resolved_flag *a, int reason)
{
  a->reason = reason;
  a->rule = NULL;
  a->segment = NULL;
  a->variant = NULL;
  a->client_default = false;
  a->assignment_id = (cf_str){"", 0};
  a->key_len = 0;
  a->key[0] = '\0';
  return FLAG_DONE;
}

static int add_write(cf_eval *ev, const cf_unit *unit, cf_str mat, const cf_rule *rule, cf_str variant)
{
  if (ev->mode == CONFIDENCE_MATERIALIZATIONS_UNSUPPORTED)
    return CF_ERR_MAT_UNSUPPORTED;
  confidence_resolve_result *res = ev->res;
  for (size_t i = 0; i < res->writes.n; i++) {
    const cf_mat_entry *w = &res->writes.items[i];
    if (w->unit_len == unit->len && memcmp(w->unit, unit->text, unit->len) == 0 &&
        cf_str_eq(w->materialization, mat.s, mat.len) && cf_str_eq(w->rule, rule->name.s, rule->name.len))
      return cf_fatal(ev, "internal error: duplicate materialization write for rule %s", rule->name.s);
  }
  cf_mat_entry *w = CF_VEC_PUSH(res->writes);
  if (!w)
    return cf_fatal(ev, "out of memory");
  memcpy(w->unit, unit->text, unit->len + 1);
  w->unit_len = unit->len;
  w->materialization = mat;
  w->rule = rule->name;
  w->variant = variant;
  return 0;
}

/* ---- sticky assignment selection (spec 3.2) --------------------------------- */

static bool bucket_in(const cf_assignment *a, int32_t b)
{
  for (uint32_t i = 0; i < a->n_ranges; i++)
    if (a->ranges[i].lower <= b && b < a->ranges[i].upper)
      return true;
  return false;
}

static int32_t variant_bucket(const cf_rule *rule, const cf_unit *unit)
{
  /* bucket_count is an i32 the reference widens to u64 (negative = huge). */
  uint64_t n = (uint64_t)(int64_t)rule->bucket_count;
  return (int32_t)(uint32_t)cf_unit_bucket(&rule->bucket_key, unit, n);
}

static const cf_assignment *select_sticky(const cf_eval *ev, const cf_rule *rule, const cf_unit *unit)
{
  if (ev->mode != CONFIDENCE_MATERIALIZATIONS_STATIC)
    return NULL;
  const confidence_materialization_record *rec = NULL;
  for (size_t i = 0; i < ev->n_records && !rec; i++) {
    const confidence_materialization_record *r = &ev->records[i];
    if (r->unit && r->materialization && r->rule && cf_record_unit_is(r, unit) &&
        strcmp(r->materialization, rule->read_mat.s) == 0 &&
        strcmp(r->rule, rule->name.s) == 0)
      rec = r;
  }
  if (!rec || !rec->variant || !*rec->variant)
    return NULL;
  const cf_assignment *first = NULL;
  size_t count = 0;
  for (uint32_t i = 0; i < rule->n_assignments; i++) {
    const cf_assignment *a = &rule->assignments[i];
    if (a->kind == CF_ASSIGN_VARIANT && strcmp(a->variant_name.s, rec->variant) == 0 && count++ == 0)
      first = a;
  }
  if (count <= 1)
    return first;
  if (!rule->bucket_key_ok || rule->bucket_count == 0)
    return NULL;
  int32_t b = variant_bucket(rule, unit);
  for (uint32_t i = 0; i < rule->n_assignments; i++) {
    const cf_assignment *a = &rule->assignments[i];
    if (a->kind == CF_ASSIGN_VARIANT && strcmp(a->variant_name.s, rec->variant) == 0 && bucket_in(a, b))
      return a;
  }
  return NULL;
}

/* ---- per-flag resolution (spec 3.3) --------------------------------------- */

static bool env_allowed(const cf_eval *ev, const cf_rule *rule)
{
  if (rule->n_envs == 0)
    return true;
  for (uint32_t i = 0; i < rule->n_envs; i++)
    for (uint32_t j = 0; j < ev->cred->n_envs; j++)
      if (cf_str_eq(rule->envs[i], ev->cred->envs[j].s, ev->cred->envs[j].len))
        return true;
  return false;
}

static int push_fallthrough(cf_eval *ev, confidence_resolved_flag *a, const cf_rule *rule, cf_str id,
                            const cf_unit *unit)
{
  cf_ft_entry *ft = CF_VEC_PUSH(ev->res->fallthroughs);
  if (!ft)
    return cf_fatal(ev, "out of memory");
  ft->rule = rule;
  ft->assignment_id = id;
  ft->key_len = unit->present ? unit->len : 0;
  memcpy(ft->key, unit->text, ft->key_len);
  ft->key[ft->key_len] = '\0';
  a->ft_count++;
  return 0;
}

/* Returns FLAG_DONE / FLAG_MISSING or a negative error; `a` is updated. */
static int resolve_rules(cf_eval *ev, const cf_flag *f, confidence_resolved_flag *a)
{
  CF_TRACE(ev, .kind = CF_TRACE_FLAG);
  if (f->state == CONFIDENCE__FLAGS__ADMIN__V1__FLAG__STATE__ARCHIVED)
    return fail_flag(a, CONFIDENCE_RESOLVE_REASON_FLAG_ARCHIVED);
  bool missing = false;
  for (uint32_t ri = 0; ri < f->n_rules; ri++) {
    const cf_rule *rule = &f->rules[ri];
    if (!rule->enabled || !env_allowed(ev, rule) || !rule->segment) {
      CF_TRACE(ev, .kind = CF_TRACE_RULE_SKIP, .rule = rule,
               .note = !rule->enabled            ? "disabled"
                       : !env_allowed(ev, rule) ? "environment: none of the rule's environments is the credential's"
                                                : "segment not in the state");
      continue;
    }
    const cf_segment *seg = rule->segment;
    cf_unit unit;
    const confidence_value *key_value;
    int k = targeting_key(ev, rule, &unit, &key_value);
    CF_TRACE(ev, .kind = CF_TRACE_RULE, .rule = rule, .unit = &unit, .value = key_value, .result = k);
    if (k == KEY_ABSENT && rule->selector.len) {
      CF_TRACE(ev, .kind = CF_TRACE_RULE_END, .rule = rule, .note = "skipped: the selector's attribute is absent");
      continue;
    }
    if (k == KEY_INVALID && !(rule->selector.len == 0 && rule->has_spec && rule->full_single)) {
      CF_TRACE(ev, .kind = CF_TRACE_RULE_END, .rule = rule, .note = "targeting key invalid: TARGETING_KEY_ERROR");
      return fail_flag(a, CONFIDENCE_RESOLVE_REASON_TARGETING_KEY_ERROR);
    }
    unit.present = k == KEY_VALUE;
    if (!rule->has_spec) {
      CF_TRACE(ev, .kind = CF_TRACE_RULE_END, .rule = rule, .note = "skipped: no assignment spec");
      continue;
    }

    int matched = CF_FALSE;
    if (rule->has_mat && rule->read_mat.len) {
      if (!unit.present)
        continue;
      int t = cf_mat_rule(ev, rule->read_mat, &unit, rule->name);
      CF_TRACE(ev, .kind = CF_TRACE_MAT_READ, .rule = rule, .unit = &unit, .note = rule->read_mat.s, .result = t);
      if (t < 0)
        return t;
      if (t == CF_FALSE) {
        if (rule->must_match)
          continue;
      } else if (t == CF_TRUE) {
        if (rule->can_ignore) {
          matched = CF_TRUE;
        } else {
          matched = cf_targeting_match(ev, seg, &unit);
          if (matched == CF_ERR_UNRECOGNIZED)
            continue;
          if (matched < 0)
            return matched;
        }
        if (matched == CF_TRUE) {
          const cf_assignment *s = select_sticky(ev, rule, &unit);
          CF_TRACE(ev, .kind = CF_TRACE_STICKY, .rule = rule, .unit = &unit, .assignment = s);
          if (s) {
            if (!s->variant)
              return cf_fatal(ev, "internal error: variant %s not found in flag %s", s->variant_name.s, f->name.s);
            return match(a, rule, s->variant, false, s->id, &unit);
          }
        }
      } else {
        missing = true;
      }
    }
    if (matched != CF_TRUE) {
      matched = cf_segment_match(ev, seg, &unit);
      if (matched == CF_ERR_UNRECOGNIZED)
        continue;
      if (matched < 0)
        return matched;
    }
    if (matched == CF_UNKNOWN)
      missing = true;
    if (matched != CF_TRUE || missing) {
      CF_TRACE(ev, .kind = CF_TRACE_RULE_END, .rule = rule, .result = matched,
               .note = matched == CF_TRUE ? "matched, but an earlier rule waits for a materialization"
                       : matched == CF_UNKNOWN ? "waiting for a materialization"
                                               : "segment did not match");
      continue;
    }

    const cf_assignment *as = NULL;
    if (rule->full_single) {
      as = &rule->assignments[0];
    } else if (unit.present) {
      if (rule->bucket_count == 0)
        return cf_fatal(ev, "internal error: bucket count 0 in rule %s", rule->name.s);
      if (!rule->bucket_key_ok)
        return cf_fatal(ev, "internal error: segment name %s has no id", rule->segment_name.s);
      int32_t b = variant_bucket(rule, &unit);
      for (uint32_t i = 0; i < rule->n_assignments && !as; i++)
        if (bucket_in(&rule->assignments[i], b))
          as = &rule->assignments[i];
      CF_TRACE(ev, .kind = CF_TRACE_BUCKET, .rule = rule, .unit = &unit, .bucket = b, .assignment = as);
    } else {
      CF_TRACE(ev, .kind = CF_TRACE_RULE_END, .rule = rule, .result = matched,
               .note = "no targeting key to bucket: skipped");
      continue;
    }
    if (!as || as->kind == CF_ASSIGN_UNSET) {
      CF_TRACE(ev, .kind = CF_TRACE_RULE_END, .rule = rule, .result = matched,
               .note = as ? "the assignment is unset: skipped" : "no assignment holds the bucket: skipped");
      continue;
    }
    CF_TRACE(ev, .kind = CF_TRACE_ASSIGN, .rule = rule, .unit = &unit, .assignment = as);
    if (unit.present && rule->has_mat) {
      int w = add_write(ev, &unit, rule->write_mat, rule, as->kind == CF_ASSIGN_VARIANT ? as->variant_name : (cf_str){"", 0});
      if (w < 0)
        return w;
    }
    switch (as->kind) {
    case CF_ASSIGN_FALLTHROUGH: {
      int r = push_fallthrough(ev, a, rule, as->id, &unit);
      if (r < 0)
        return r;
      continue;
    }
    case CF_ASSIGN_CLIENT_DEFAULT:
      return match(a, rule, NULL, true, as->id, &unit);
    default:
      if (!as->variant)
        return cf_fatal(ev, "internal error: variant %s not found in flag %s", as->variant_name.s, f->name.s);
      return match(a, rule, as->variant, false, as->id, &unit);
    }
  }
  return missing ? FLAG_MISSING : FLAG_DONE;
}

/* Resolves one flag into the result, honouring the MISSING and
 * MATERIALIZATION_NOT_SUPPORTED outcomes. Returns 0 or CF_ERR_FATAL. */
static int resolve_one(cf_eval *ev, const cf_flag *f)
{
  confidence_resolve_result *res = ev->res;
  size_t ft_mark = res->fallthroughs.n, write_mark = res->writes.n;
  confidence_resolved_flag *a = begin_flag(ev, f);
  if (!a)
    return cf_fatal(ev, "out of memory");
  ev->segment_evals = 0;
  ev->flag = f;
  int r = resolve_rules(ev, f, a);
  if (r == CF_ERR_MAT_UNSUPPORTED || r == CF_ERR_UNRECOGNIZED) {
    res->fallthroughs.n = ft_mark; /* a fresh result: fallthroughs dropped */
    a->ft_count = 0;
    fail_flag(a, r == CF_ERR_MAT_UNSUPPORTED ? CONFIDENCE_RESOLVE_REASON_MATERIALIZATION_NOT_SUPPORTED
                                             : CONFIDENCE_RESOLVE_REASON_UNRECOGNIZED_TARGETING_RULE);
    return 0;
  }
  if (r < 0)
    return r;
  if (r == FLAG_MISSING) {
    /* Left for the resume round; its writes are redone then (this avoids
     * the reference's duplicate-write failure on resume). */
    res->flags.n--;
    res->fallthroughs.n = ft_mark;
    res->writes.n = write_mark;
    const cf_flag **p = CF_VEC_PUSH(res->pending);
    if (!p)
      return cf_fatal(ev, "out of memory");
    *p = f;
  }
  return 0;
}

/* ---- entry points ------------------------------------------------------------ */

static bool flag_enabled(const cf_client *c, const cf_flag *f)
{
  return (c->enabled[f->index / 8] >> (f->index % 8)) & 1;
}

static int fail_call(confidence_resolve_result *res, int code)
{
  res->flags.n = 0;
  res->fallthroughs.n = 0;
  res->reads.n = 0;
  res->writes.n = 0;
  res->pending.n = 0;
  res->suspended = false;
  return cf_error(code, "%s", res->error);
}

/* fail_call with a new message. */
static int fail_callf(confidence_resolve_result *res, int code, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static int fail_callf(confidence_resolve_result *res, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(res->error, sizeof res->error, fmt, ap);
  va_end(ap);
  return fail_call(res, code);
}

static int run(cf_eval *ev, const cf_flag *const *todo, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (resolve_one(ev, todo[i]) < 0)
      return ev->fatal_code ? ev->fatal_code : CONFIDENCE_ERESOLVE;
  return 0;
}

static int start(cf_eval *ev, const confidence_state *st, const confidence_resolve_request *req,
                 confidence_resolve_result *res)
{
  if (!res)
    return cf_error(CONFIDENCE_EINVAL, "result must not be NULL");
  res->flags.n = res->fallthroughs.n = res->reads.n = res->writes.n = res->todo.n = 0;
  res->suspended = false;
  res->error[0] = '\0';
  res->cred = NULL;
  memset(ev, 0, offsetof(cf_eval, path));
  ev->res = res;
  if (!st || !req)
    return fail_callf(res, CONFIDENCE_EINVAL, "Resolver state not set");
  if (cf_check_version(req->version, CONFIDENCE_RESOLVE_REQUEST_VERSION, "confidence_resolve_request"))
    return fail_callf(res, CONFIDENCE_EINVAL, "%s", confidence_last_error_message());
  if (req->context && req->context->type != CONFIDENCE_VALUE_STRUCT)
    return fail_callf(res, CONFIDENCE_EINVAL, "evaluation context must be a struct");
  const char *secret = req->client_secret ? req->client_secret : "";
  const cf_credential *cred = cf_strmap_get(&st->secrets, secret, strlen(secret));
  if (!cred) {
    char masked[16];
    cf_mask_secret(secret, masked);
    return fail_callf(res, CONFIDENCE_ESECRET, "client secret not found: requested=%s", masked);
  }
  if (cred->client->managed_too_deep) {
    return fail_callf(res, CONFIDENCE_ELIMIT, "managed context of client %s has a key of more than %d segments",
                      cred->client->name.s, CF_MAX_MANAGED_SEGMENTS);
  }
  res->cred = cred;
  ev->st = st;
  ev->cred = cred;
  ev->context = req->context;
  ev->managed = cred->client->managed;
  ev->mode = req->materialization_mode;
  if (ev->mode == CONFIDENCE_MATERIALIZATIONS_STATIC) {
    ev->records = req->materializations;
    ev->n_records = req->materializations ? req->materialization_count : 0;
  } else if (ev->mode != CONFIDENCE_MATERIALIZATIONS_UNSUPPORTED && ev->mode != CONFIDENCE_MATERIALIZATIONS_DISCOVER) {
    return fail_callf(res, CONFIDENCE_EINVAL, "unknown materialization mode %d", ev->mode);
  }
  return 0;
}

int confidence_resolve(const confidence_state *st, const confidence_resolve_request *req,
                       confidence_resolve_result *res)
{
  return cf_resolve_traced(st, req, res, NULL, NULL);
}

int cf_resolve_traced(const confidence_state *st, const confidence_resolve_request *req, confidence_resolve_result *res,
                      cf_trace_fn trace, void *user)
{
  cf_eval ev;
  int rc = start(&ev, st, req, res);
  if (rc)
    return rc;
  ev.trace = trace;
  ev.trace_user = user;
  res->pending.n = 0;
  const cf_client *client = ev.cred->client;
  const cf_flag *const *todo = client->flags;
  size_t n = client->n_flags;
  if (req->flag_count) {
    if (!req->flags)
      return fail_callf(res, CONFIDENCE_EINVAL, "flag_count is set but flags is NULL");
    for (size_t i = 0; i < req->flag_count; i++) {
      const char *name = req->flags[i];
      const cf_flag *f = name ? cf_strmap_get(&st->flag_index, name, strlen(name)) : NULL;
      if (!f || !flag_enabled(client, f))
        continue;
      bool dup = false;
      for (size_t j = 0; j < res->todo.n && !dup; j++)
        dup = res->todo.items[j] == f;
      if (dup)
        continue;
      const cf_flag **slot = CF_VEC_PUSH(res->todo);
      if (!slot)
        return fail_callf(res, CONFIDENCE_ENOMEM, "out of memory");
      *slot = f;
    }
    todo = res->todo.items;
    n = res->todo.n;
  }
  if (n > MAX_FLAGS_PER_RESOLVE)
    return fail_callf(res, CONFIDENCE_ETOOMANY,
                      "max %d flags allowed in a single resolve request, this request would return %zu flags.",
                      MAX_FLAGS_PER_RESOLVE, n);
  rc = run(&ev, todo, n);
  if (rc)
    return fail_call(res, rc);
  res->suspended = res->reads.n > 0;
  return 0;
}

int confidence_resolve_resume(const confidence_state *st, const confidence_resolve_request *req,
                              const confidence_materialization_record *records, size_t count,
                              confidence_resolve_result *res)
{
  if (!res || !res->suspended)
    return cf_error(CONFIDENCE_EINVAL, "result is not a suspended resolve");
  if (!req)
    return cf_error(CONFIDENCE_EINVAL, "request must not be NULL");
  /* Keep the first round's flags and writes; re-resolve the pending ones
   * with the records as the complete set. */
  size_t kept_flags = res->flags.n, kept_ft = res->fallthroughs.n, kept_writes = res->writes.n;
  cf_eval ev;
  confidence_resolve_request again = *req;
  again.materialization_mode = CONFIDENCE_MATERIALIZATIONS_STATIC;
  again.materializations = records;
  again.materialization_count = count;
  int rc = start(&ev, st, &again, res);
  if (rc)
    return rc;
  res->flags.n = kept_flags;
  res->fallthroughs.n = kept_ft;
  res->writes.n = kept_writes;
  /* The pending list is consumed while resolving; move it aside. */
  size_t n = res->pending.n;
  res->todo.n = 0;
  if (cf_vec_reserve((void **)&res->todo.items, &res->todo.cap, n, sizeof *res->todo.items))
    return fail_callf(res, CONFIDENCE_ENOMEM, "out of memory");
  if (n) /* a suspended result may have reads but nothing pending (both NULL) */
    memcpy(res->todo.items, res->pending.items, n * sizeof *res->todo.items);
  res->todo.n = n;
  res->pending.n = 0;
  rc = run(&ev, res->todo.items, n);
  if (rc)
    return fail_call(res, rc);
  res->suspended = false;
  return 0;
}
