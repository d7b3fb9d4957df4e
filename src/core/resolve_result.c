/* The resolve result object and its read-only accessors: resolved flags,
 * fallthroughs and materialization reads/writes, viewed through the public
 * record structs (include/confidence/resolve.h). */
#include <stdlib.h>
#include <string.h>

#include "resolve_internal.h"

/* A client-default match carries an empty (but present) value. */
static const confidence_value EMPTY_STRUCT = {.type = CONFIDENCE_VALUE_STRUCT};

confidence_resolve_result *confidence_resolve_result_new(void) { return calloc(1, sizeof(confidence_resolve_result)); }

void confidence_resolve_result_free(confidence_resolve_result *res)
{
  if (!res)
    return;
  free(res->flags.items);
  free(res->fallthroughs.items);
  free(res->reads.items);
  free(res->writes.items);
  free(res->todo.items);
  free(res->pending.items);
  free(res);
}

int confidence_resolve_result_suspended(const confidence_resolve_result *res) { return res && res->suspended; }
size_t confidence_resolve_result_read_count(const confidence_resolve_result *res) { return res ? res->reads.n : 0; }
size_t confidence_resolve_result_write_count(const confidence_resolve_result *res) { return res ? res->writes.n : 0; }

/* Records point into their entry, which stays put until the result is
 * reused; the view is (re)filled on each call, so handing it out twice is
 * harmless. The result is logically const: only the view changes. */
static const confidence_materialization_record *record_view(const cf_mat_entry *m)
{
  confidence_materialization_record *out = (confidence_materialization_record *)&m->view;
  out->unit = m->unit;
  out->unit_len = m->unit_len;
  out->materialization = m->materialization.s;
  out->rule = m->rule.s;
  out->variant = m->variant.s;
  return out;
}

const confidence_materialization_record *confidence_resolve_result_read_at(const confidence_resolve_result *res,
                                                                           size_t i)
{
  return res && i < res->reads.n ? record_view(&res->reads.items[i]) : NULL;
}

const confidence_materialization_record *confidence_resolve_result_write_at(const confidence_resolve_result *res,
                                                                            size_t i)
{
  return res && i < res->writes.n ? record_view(&res->writes.items[i]) : NULL;
}

const char *confidence_resolve_result_error(const confidence_resolve_result *res) { return res ? res->error : ""; }

const char *confidence_resolve_result_client(const confidence_resolve_result *res)
{
  return res && res->cred ? res->cred->client->name.s : "";
}

const char *confidence_resolve_result_credential(const confidence_resolve_result *res)
{
  return res && res->cred ? res->cred->name.s : "";
}

size_t confidence_resolve_result_flag_count(const confidence_resolve_result *res) { return res ? res->flags.n : 0; }

const confidence_resolved_flag *confidence_resolve_result_flag_at(const confidence_resolve_result *res, size_t i)
{
  return res && i < res->flags.n ? &res->flags.items[i] : NULL;
}

const confidence_resolved_flag *confidence_resolve_result_find(const confidence_resolve_result *res,
                                                               const char *flag_name)
{
  if (!res || !flag_name)
    return NULL;
  size_t len = strlen(flag_name);
  for (size_t i = 0; i < res->flags.n; i++)
    if (cf_str_eq(res->flags.items[i].flag->name, flag_name, len))
      return &res->flags.items[i];
  return NULL;
}

const char *confidence_resolved_flag_name(const confidence_resolved_flag *f) { return f ? f->flag->name.s : ""; }
int confidence_resolved_flag_reason(const confidence_resolved_flag *f) { return f ? f->reason : 0; }

const char *confidence_resolved_flag_variant(const confidence_resolved_flag *f)
{
  return f && f->variant ? f->variant->name.s : "";
}

const confidence_value *confidence_resolved_flag_value(const confidence_resolved_flag *f)
{
  if (!f || f->reason != CONFIDENCE_RESOLVE_REASON_MATCH)
    return NULL;
  if (f->variant)
    return f->variant->value;
  return f->client_default ? &EMPTY_STRUCT : NULL;
}

int confidence_resolved_flag_should_apply(const confidence_resolved_flag *f)
{
  return f && (f->reason == CONFIDENCE_RESOLVE_REASON_MATCH || f->ft_count > 0);
}

const char *confidence_resolved_flag_rule(const confidence_resolved_flag *f) { return f && f->rule ? f->rule->name.s : ""; }

const char *confidence_resolved_flag_segment(const confidence_resolved_flag *f)
{
  return f && f->segment ? f->segment->name.s : "";
}

const char *confidence_resolved_flag_assignment_id(const confidence_resolved_flag *f)
{
  return f ? f->assignment_id.s : "";
}

const char *confidence_resolved_flag_targeting_key(const confidence_resolved_flag *f) { return f ? f->key : ""; }

const char *confidence_resolved_flag_targeting_key_selector(const confidence_resolved_flag *f)
{
  return f && f->rule ? f->rule->selector.s : "";
}

size_t confidence_resolved_flag_fallthrough_count(const confidence_resolved_flag *f) { return f ? f->ft_count : 0; }

const confidence_fallthrough *confidence_resolved_flag_fallthrough_at(const confidence_resolved_flag *f, size_t i)
{
  if (!f || i >= f->ft_count)
    return NULL;
  const cf_ft_entry *ft = &f->owner->fallthroughs.items[f->ft_start + i];
  confidence_fallthrough *out = (confidence_fallthrough *)&ft->view; /* as record_view */
  out->rule = ft->rule->name.s;
  out->assignment_id = ft->assignment_id.s;
  out->targeting_key = ft->key;
  out->targeting_key_selector = ft->rule->selector.s;
  return out;
}

const char *confidence_resolve_reason_name(int reason)
{
  static const char *const names[] = {
      "RESOLVE_REASON_UNSPECIFIED",         "RESOLVE_REASON_MATCH",
      "RESOLVE_REASON_NO_SEGMENT_MATCH",    "RESOLVE_REASON_NO_TREATMENT_MATCH",
      "RESOLVE_REASON_FLAG_ARCHIVED",       "RESOLVE_REASON_TARGETING_KEY_ERROR",
      "RESOLVE_REASON_ERROR",               "RESOLVE_REASON_UNRECOGNIZED_TARGETING_RULE",
      "RESOLVE_REASON_MATERIALIZATION_NOT_SUPPORTED"};
  return reason >= 0 && reason < (int)(sizeof names / sizeof names[0]) ? names[reason] : "RESOLVE_REASON_UNSPECIFIED";
}
