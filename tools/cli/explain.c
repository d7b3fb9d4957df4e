/* `confidence explain`: resolves one flag with the resolver's trace hook on
 * and prints each step that decided the answer, as text or (--json) as one
 * JSON document. Reads resolver internals (src/), so it links the static
 * library. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "resolve_internal.h"

typedef struct explainer {
  const cf_eval_view *view;
  confidence_value *steps; /* list of step objects */
  bool json;
  FILE *out;
} explainer;

/* ---- formatting helpers --------------------------------------------------- */

typedef struct sbuf {
  char text[4096];
  size_t len;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
  if (b->len >= sizeof b->text - 1)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b->text + b->len, sizeof b->text - b->len, fmt, ap);
  va_end(ap);
  if (n > 0)
    b->len = b->len + (size_t)n < sizeof b->text ? b->len + (size_t)n : sizeof b->text - 1;
}

static void sb_tval(sbuf *b, const cf_tval *v)
{
  char num[CF_NUMBUF];
  switch (v->kind) {
  case CF_TV_BOOL: sb_printf(b, "%s", v->b ? "true" : "false"); break;
  case CF_TV_NUMBER:
    cf_fmt_f64(v->n, num);
    sb_printf(b, "%s", num);
    break;
  case CF_TV_STRING: sb_printf(b, "\"%.*s\"", (int)v->s.len, v->s.s); break;
  case CF_TV_VERSION: sb_printf(b, "version %.*s", (int)v->s.len, v->s.s); break;
  case CF_TV_TIMESTAMP: sb_printf(b, "timestamp %lld.%09d", (long long)v->ts.secs, (int)v->ts.nanos); break;
  case CF_TV_LIST:
    sb_printf(b, "[");
    for (uint32_t i = 0; i < v->n_items; i++) {
      if (i)
        sb_printf(b, ", ");
      sb_tval(b, &v->items[i]);
    }
    sb_printf(b, "]");
    break;
  default: sb_printf(b, "<unset>"); break;
  }
}

static void sb_op(sbuf *b, const cf_op *op)
{
  switch (op->kind) {
  case CF_OP_EQ:
    sb_printf(b, "eq ");
    if (op->eq)
      sb_tval(b, op->eq);
    else
      sb_printf(b, "(no value: unrecognized)");
    if (op->eq && op->eq->kind == CF_TV_UNSET)
      sb_printf(b, " (is null)");
    break;
  case CF_OP_SET:
    sb_printf(b, "in {");
    for (uint32_t i = 0; i < op->n_set; i++) {
      if (i)
        sb_printf(b, ", ");
      sb_tval(b, &op->set[i]);
    }
    sb_printf(b, "}");
    break;
  case CF_OP_RANGE:
    if (!op->start && !op->end) {
      sb_printf(b, "range with no bounds (matches nothing)");
      break;
    }
    sb_printf(b, "range %s", op->start ? (op->start_inclusive ? "[" : "(") : "(-inf");
    if (op->start)
      sb_tval(b, op->start);
    sb_printf(b, ", ");
    if (op->end)
      sb_tval(b, op->end);
    sb_printf(b, "%s", op->end ? (op->end_inclusive ? "]" : ")") : "+inf)");
    break;
  case CF_OP_ANY:
  case CF_OP_ALL:
    sb_printf(b, "%s(", op->kind == CF_OP_ANY ? "any" : "all");
    if (op->inner)
      sb_op(b, op->inner);
    else
      sb_printf(b, "no rule: unrecognized");
    sb_printf(b, ")");
    break;
  case CF_OP_STARTS_WITH: sb_printf(b, "starts_with \"%s\"", op->text.s); break;
  case CF_OP_ENDS_WITH: sb_printf(b, "ends_with \"%s\"", op->text.s); break;
  case CF_OP_CONTAINS: sb_printf(b, "contains \"%s\"", op->text.s); break;
  default: sb_printf(b, "(no rule: unrecognized)"); break;
  }
}

static void sb_path(sbuf *b, const cf_crit *cr)
{
  for (uint32_t i = 0; i < cr->n_path; i++)
    sb_printf(b, "%s%s", i ? "." : "", cr->path[i].s);
}

static void sb_value(sbuf *b, const confidence_value *v)
{
  if (!v) {
    sb_printf(b, "(absent)");
    return;
  }
  char *j = confidence_value_to_json(v);
  sb_printf(b, "%s", j ? j : "?");
  confidence_string_free(j);
}

static void sb_ranges(sbuf *b, const cf_assignment *as)
{
  for (uint32_t i = 0; i < as->n_ranges; i++)
    sb_printf(b, "%s[%d, %d)", i ? " " : "", (int)as->ranges[i].lower, (int)as->ranges[i].upper);
}

static const char *assignment_text(const cf_assignment *as, char *buf, size_t cap)
{
  switch (as->kind) {
  case CF_ASSIGN_VARIANT: snprintf(buf, cap, "variant %s", as->variant_name.s); break;
  case CF_ASSIGN_FALLTHROUGH: snprintf(buf, cap, "fallthrough"); break;
  case CF_ASSIGN_CLIENT_DEFAULT: snprintf(buf, cap, "client default"); break;
  default: snprintf(buf, cap, "unset"); break;
  }
  return buf;
}

static const char *tri(int r)
{
  switch (r) {
  case CF_TRUE: return "match";
  case CF_FALSE: return "no match";
  case CF_UNKNOWN: return "unknown (materialization pending)";
  case CF_ERR_UNRECOGNIZED: return "unrecognized rule";
  case CF_ERR_MAT_UNSUPPORTED: return "materialization not supported";
  default: return "error: the whole resolve fails";
  }
}

/* Where an effective-context value came from. */
static const char *source_of(const explainer *x, const cf_crit *cr, const confidence_value *v)
{
  if (!v)
    return "absent";
  if (!x->view->managed)
    return "request";
  return cf_context_path(x->view->request, cr->path, cr->n_path) == v ? "request" : "managed context";
}

/* ---- events ------------------------------------------------------------- */

static confidence_value *step_new(explainer *x, const char *kind, int depth)
{
  confidence_value *s = confidence_value_new_struct();
  confidence_value_struct_set(s, "step", confidence_value_new_string(kind));
  confidence_value_struct_set(s, "depth", confidence_value_new_number(depth));
  confidence_value_list_append(x->steps, s);
  return s;
}

static void set_str(confidence_value *s, const char *k, const char *v)
{
  confidence_value_struct_set(s, k, confidence_value_new_string(v ? v : ""));
}

static void set_val(confidence_value *s, const char *k, const confidence_value *v)
{
  confidence_value_struct_set(s, k, v ? confidence_value_copy(v) : confidence_value_new_null());
}

static void emit(explainer *x, int indent, const sbuf *b)
{
  if (!x->json)
    fprintf(x->out, "%*s%s\n", indent * 2, "", b->text);
}

static void on_event(const cf_trace_event *e, void *user)
{
  explainer *x = user;
  sbuf b = {.len = 0};
  b.text[0] = '\0';
  char abuf[160];
  switch ((cf_trace_kind)e->kind) {
  case CF_TRACE_FLAG: {
    sb_printf(&b, "flag %s: %u rule(s)%s", e->flag->name.s, e->flag->n_rules, e->flag->state == 2 ? ", ARCHIVED" : "");
    emit(x, 0, &b);
    break;
  }
  case CF_TRACE_RULE_SKIP: {
    sb_printf(&b, "rule %s: skipped, %s", e->rule->name.s, e->note);
    emit(x, 1, &b);
    confidence_value *s = step_new(x, "rule_skipped", 0);
    set_str(s, "rule", e->rule->name.s);
    set_str(s, "why", e->note);
    break;
  }
  case CF_TRACE_RULE: {
    const cf_rule *r = e->rule;
    sb_printf(&b, "rule %s (segment %s)", r->name.s, r->segment_name.s);
    emit(x, 1, &b);
    b.len = 0;
    sb_printf(&b, "environment: %s", r->n_envs ? "allowed for the credential" : "any (the rule names none)");
    emit(x, 2, &b);
    b.len = 0;
    sb_printf(&b, "targeting key from %s: ", r->selector.len ? r->selector.s : "targeting_key (default)");
    sb_value(&b, e->value);
    sb_printf(&b, e->result == 1 ? " -> unit \"%s\"" : e->result == 2 ? " -> invalid%s" : " -> absent%s",
              e->result == 1 ? e->unit->text : "");
    emit(x, 2, &b);
    confidence_value *s = step_new(x, "rule", 0);
    set_str(s, "rule", r->name.s);
    set_str(s, "segment", r->segment_name.s);
    confidence_value_struct_set(s, "environments_checked", confidence_value_new_bool(r->n_envs > 0));
    set_str(s, "targeting_key_selector", r->selector.len ? r->selector.s : "targeting_key");
    set_val(s, "targeting_key_value", e->value);
    set_str(s, "targeting_key", e->result == 1 ? "valid" : e->result == 2 ? "invalid" : "absent");
    if (e->result == 1)
      set_str(s, "unit", e->unit->text);
    break;
  }
  case CF_TRACE_MAT_READ: {
    sb_printf(&b, "materialization read %s for unit \"%s\": %s", e->note, e->unit->text,
              e->result == CF_TRUE ? "unit is in it" : tri(e->result));
    emit(x, 2, &b);
    confidence_value *s = step_new(x, "materialization_read", 0);
    set_str(s, "materialization", e->note);
    set_str(s, "unit", e->unit->text);
    set_str(s, "result", tri(e->result));
    break;
  }
  case CF_TRACE_CRITERION: {
    const cf_crit *cr = e->crit;
    sb_printf(&b, "criterion ");
    sb_path(&b, cr);
    sb_printf(&b, " ");
    sb_op(&b, &cr->op);
    sb_printf(&b, ": context ");
    sb_value(&b, e->value);
    const char *src = source_of(x, cr, e->value);
    if (e->value)
      sb_printf(&b, " (from the %s)", src);
    char coerced[512];
    const confidence_value *v = e->value;
    confidence_value *clist = confidence_value_new_list();
    if (v && v->type == CONFIDENCE_VALUE_LIST) {
      sb_printf(&b, ", elements as");
      for (size_t i = 0; i < v->u.list.n; i++) {
        cf_coerced_text(cr, v->u.list.items[i], coerced, sizeof coerced);
        sb_printf(&b, "%s %s", i ? "," : "", coerced);
        confidence_value_list_append(clist, confidence_value_new_string(coerced));
      }
    } else {
      cf_coerced_text(cr, v, coerced, sizeof coerced);
      sb_printf(&b, ", as %s", coerced);
      confidence_value_list_append(clist, confidence_value_new_string(coerced));
    }
    sb_printf(&b, " -> %s", tri(e->result));
    emit(x, 2 + e->depth, &b);
    confidence_value *s = step_new(x, "criterion", e->depth);
    sbuf a = {.len = 0}, o = {.len = 0};
    sb_path(&a, cr);
    sb_op(&o, &cr->op);
    set_str(s, "attribute", a.text);
    set_str(s, "rule", o.text);
    set_val(s, "value", e->value);
    set_str(s, "source", src);
    confidence_value_struct_set(s, "coerced", clist);
    set_str(s, "result", tri(e->result));
    break;
  }
  case CF_TRACE_MATSEG: {
    sb_printf(&b, "materialized segment %s%s: %s", e->crit->matseg.s, e->crit->bloom ? " (bloom filter)" : "",
              tri(e->result));
    emit(x, 2 + e->depth, &b);
    confidence_value *s = step_new(x, "materialized_segment", e->depth);
    set_str(s, "materialization", e->crit->matseg.s);
    set_str(s, "result", tri(e->result));
    break;
  }
  case CF_TRACE_SEGMENT: {
    const cf_segment *seg = e->segment;
    sb_printf(&b, "segment %s: targeting %s", seg->name.s, seg->expr ? tri(e->result) : "none (matches)");
    if (e->note)
      sb_printf(&b, " [%s]", e->note);
    confidence_value *s = step_new(x, "segment", e->depth);
    set_str(s, "segment", seg->name.s);
    set_str(s, "targeting", seg->expr ? tri(e->result) : "none");
    if (e->result == CF_TRUE) {
      if (!seg->bits)
        sb_printf(&b, "; no bitset: everyone allocated");
      else if (e->bit >= 0)
        sb_printf(&b, "; allocation bit %lld of 1000000 is %s", (long long)e->bit, e->bit_ok ? "set" : "clear");
      else
        sb_printf(&b, "; no unit: bitset %s", e->bit_ok ? "full, allocated" : "not full, not allocated");
      if (seg->bits)
        confidence_value_struct_set(s, "allocation_bit", confidence_value_new_number((double)e->bit));
      confidence_value_struct_set(s, "allocated", confidence_value_new_bool(e->bit_ok));
    }
    emit(x, 2 + e->depth, &b);
    break;
  }
  case CF_TRACE_RULE_END: {
    sb_printf(&b, "-> %s", e->note);
    emit(x, 2, &b);
    confidence_value *s = step_new(x, "rule_end", 0);
    set_str(s, "rule", e->rule->name.s);
    set_str(s, "outcome", e->note);
    break;
  }
  case CF_TRACE_BUCKET: {
    const cf_rule *r = e->rule;
    sb_printf(&b, "bucket %lld of %d (hash of \"%s%s\")", (long long)e->bucket, (int)r->bucket_count,
              r->bucket_key.s, e->unit->text);
    emit(x, 2, &b);
    confidence_value *s = step_new(x, "bucket", 0);
    set_str(s, "rule", r->name.s);
    confidence_value_struct_set(s, "bucket", confidence_value_new_number((double)e->bucket));
    confidence_value_struct_set(s, "bucket_count", confidence_value_new_number(r->bucket_count));
    confidence_value *ranges = confidence_value_new_list();
    for (uint32_t i = 0; i < r->n_assignments; i++) {
      const cf_assignment *as = &r->assignments[i];
      b.len = 0;
      sb_printf(&b, "%s %s ", as == e->assignment ? "*" : " ", assignment_text(as, abuf, sizeof abuf));
      sb_ranges(&b, as);
      if (as == e->assignment)
        sb_printf(&b, "  <- bucket %lld falls here", (long long)e->bucket);
      emit(x, 3, &b);
      confidence_value *rv = confidence_value_new_struct();
      set_str(rv, "assignment", assignment_text(as, abuf, sizeof abuf));
      confidence_value *lst = confidence_value_new_list();
      for (uint32_t k = 0; k < as->n_ranges; k++) {
        confidence_value *pair = confidence_value_new_list();
        confidence_value_list_append(pair, confidence_value_new_number(as->ranges[k].lower));
        confidence_value_list_append(pair, confidence_value_new_number(as->ranges[k].upper));
        confidence_value_list_append(lst, pair);
      }
      confidence_value_struct_set(rv, "ranges", lst);
      confidence_value_struct_set(rv, "selected", confidence_value_new_bool(as == e->assignment));
      confidence_value_list_append(ranges, rv);
    }
    confidence_value_struct_set(s, "assignments", ranges);
    break;
  }
  case CF_TRACE_STICKY: {
    if (e->assignment)
      sb_printf(&b, "sticky assignment from materialization %s: %s", e->rule->read_mat.s,
                assignment_text(e->assignment, abuf, sizeof abuf));
    else
      sb_printf(&b, "no usable sticky assignment in materialization %s", e->rule->read_mat.s);
    emit(x, 2, &b);
    confidence_value *s = step_new(x, "sticky", 0);
    set_str(s, "materialization", e->rule->read_mat.s);
    set_str(s, "assignment", e->assignment ? assignment_text(e->assignment, abuf, sizeof abuf) : "");
    break;
  }
  case CF_TRACE_ASSIGN: {
    const cf_assignment *as = e->assignment;
    sb_printf(&b, "-> %s%s", assignment_text(as, abuf, sizeof abuf),
              as->kind == CF_ASSIGN_FALLTHROUGH ? ": recorded, next rule" : "");
    emit(x, 2, &b);
    confidence_value *s = step_new(x, "assignment", 0);
    set_str(s, "rule", e->rule->name.s);
    set_str(s, "assignment", assignment_text(as, abuf, sizeof abuf));
    set_str(s, "assignment_id", as->id.s);
    break;
  }
  }
}

/* ---- entry point ------------------------------------------------------------ */

int cli_explain(const confidence_state *st, const char *secret, const char *flag, const confidence_value *ctx,
                bool json, FILE *out)
{
  char name[1024];
  snprintf(name, sizeof name, "%s%s", strncmp(flag, "flags/", 6) ? "flags/" : "", flag);
  const char *flags[] = {name};
  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = secret;
  req.flags = flags;
  req.flag_count = 1;
  req.context = ctx;
  const cf_credential *cred = cf_strmap_get(&st->secrets, secret, strlen(secret));
  cf_eval_view view = {.request = ctx, .managed = cred ? cred->client->managed : NULL};
  explainer x = {.view = &view, .steps = confidence_value_new_list(), .json = json, .out = out};
  confidence_resolve_result *res = confidence_resolve_result_new();
  if (!res || !x.steps) {
    fprintf(stderr, "confidence: out of memory\n");
    return 1;
  }
  if (!json) {
    fprintf(out, "client %s, credential %s\n", cred ? cred->client->name.s : "(none: unknown secret)",
            cred ? cred->name.s : "-");
    if (view.managed) {
      char *m = confidence_value_to_json(view.managed);
      size_t len = m ? strlen(m) : 0;
      fprintf(out, "managed context (unflattened; wins over the request): %.*s%s\n", len > 600 ? 600 : (int)len,
              m ? m : "?", len > 600 ? "..." : "");
      confidence_string_free(m);
    }
  }
  int rc = cf_resolve_traced(st, &req, res, on_event, &x);
  const confidence_resolved_flag *f = rc ? NULL : confidence_resolve_result_flag_at(res, 0);
  const char *reason = f ? confidence_resolve_reason_name(confidence_resolved_flag_reason(f)) : "";
  if (!json) {
    if (rc) {
      fprintf(out, "resolve failed: %s\n", confidence_resolve_result_error(res));
    } else if (!f) {
      fprintf(out, "flag %s is not in the state or not enabled for this client: nothing resolved\n", name);
    } else {
      for (size_t i = 0; i < confidence_resolved_flag_fallthrough_count(f); i++) {
        confidence_fallthrough ft;
        ft = *confidence_resolved_flag_fallthrough_at(f, i); /* i < count: never NULL */
        fprintf(out, "fallthrough: rule %s (assignment %s)\n", ft.rule, ft.assignment_id);
      }
      char *v = confidence_value_to_json(confidence_resolved_flag_value(f));
      fprintf(out, "result: %s, variant %s, rule %s, value %s, should_apply %s\n", reason,
              *confidence_resolved_flag_variant(f) ? confidence_resolved_flag_variant(f) : "(none)",
              *confidence_resolved_flag_rule(f) ? confidence_resolved_flag_rule(f) : "(none)", v ? v : "null",
              confidence_resolved_flag_should_apply(f) ? "true" : "false");
      confidence_string_free(v);
    }
  } else {
    confidence_value *doc = confidence_value_new_struct();
    set_str(doc, "flag", name);
    set_str(doc, "client", cred ? cred->client->name.s : "");
    set_str(doc, "credential", cred ? cred->name.s : "");
    set_val(doc, "managed_context", view.managed);
    confidence_value_struct_set(doc, "steps", x.steps);
    x.steps = NULL;
    confidence_value *r = confidence_value_new_struct();
    if (f) {
      set_str(r, "reason", reason);
      set_str(r, "variant", confidence_resolved_flag_variant(f));
      set_str(r, "rule", confidence_resolved_flag_rule(f));
      set_val(r, "value", confidence_resolved_flag_value(f));
      confidence_value_struct_set(r, "should_apply", confidence_value_new_bool(confidence_resolved_flag_should_apply(f)));
      confidence_value *fts = confidence_value_new_list();
      for (size_t i = 0; i < confidence_resolved_flag_fallthrough_count(f); i++) {
        confidence_fallthrough ft;
        ft = *confidence_resolved_flag_fallthrough_at(f, i); /* i < count: never NULL */
        confidence_value_list_append(fts, confidence_value_new_string(ft.rule));
      }
      confidence_value_struct_set(r, "fallthroughs", fts);
    }
    confidence_value_struct_set(doc, "result", f ? r : (confidence_value_free(r), confidence_value_new_null()));
    if (rc)
      set_str(doc, "error", confidence_resolve_result_error(res));
    else
      confidence_value_struct_set(doc, "error", confidence_value_new_null());
    char *text = confidence_value_to_json(doc);
    fprintf(out, "%s\n", text ? text : "{}");
    confidence_string_free(text);
    confidence_value_free(doc);
  }
  confidence_value_free(x.steps);
  confidence_resolve_result_free(res);
  return rc ? 1 : 0;
}
