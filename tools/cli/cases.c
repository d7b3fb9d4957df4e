#define _POSIX_C_SOURCE 200809L
/* Parsing of case lines and rendering of result lines, through the public
 * value API only. */
#include "cases.h"

#include <stdlib.h>
#include <string.h>

static const char *str_field(const confidence_value *obj, const char *key, bool *ok)
{
  const confidence_value *v = confidence_value_struct_get(obj, key);
  if (!v || confidence_value_type_of(v) != CONFIDENCE_VALUE_STRING) {
    *ok = false;
    return "";
  }
  return confidence_value_string(v, NULL);
}

void cli_case_parse(const char *line, size_t len, cli_case *c)
{
  memset(c, 0, sizeof *c);
  if (confidence_value_from_json(line, len, &c->root)) {
    snprintf(c->error, sizeof c->error, "invalid case JSON: %s", confidence_last_error_message());
    return;
  }
  if (confidence_value_type_of(c->root) != CONFIDENCE_VALUE_STRUCT) {
    snprintf(c->error, sizeof c->error, "invalid case: not a JSON object");
    return;
  }
  const confidence_value *secret = confidence_value_struct_get(c->root, "client_secret");
  if (confidence_value_type_of(secret) != CONFIDENCE_VALUE_STRING) {
    snprintf(c->error, sizeof c->error, "invalid case: client_secret must be a string");
    return;
  }
  c->secret = confidence_value_string(secret, NULL);
  const confidence_value *flags = confidence_value_struct_get(c->root, "flags");
  if (flags && confidence_value_type_of(flags) != CONFIDENCE_VALUE_LIST) {
    snprintf(c->error, sizeof c->error, "invalid case: flags must be a list of strings");
    return;
  }
  c->n_flags = confidence_value_list_size(flags);
  c->flags = calloc(c->n_flags + 1, sizeof *c->flags);
  for (size_t i = 0; c->flags && i < c->n_flags; i++) {
    const confidence_value *f = confidence_value_list_at(flags, i);
    if (confidence_value_type_of(f) != CONFIDENCE_VALUE_STRING) {
      snprintf(c->error, sizeof c->error, "invalid case: flags must be a list of strings");
      return;
    }
    c->flags[i] = confidence_value_string(f, NULL);
  }
  c->context = confidence_value_struct_get(c->root, "context");
  if (c->context && confidence_value_type_of(c->context) == CONFIDENCE_VALUE_NULL)
    c->context = NULL;
  if (c->context && confidence_value_type_of(c->context) != CONFIDENCE_VALUE_STRUCT) {
    snprintf(c->error, sizeof c->error, "invalid case: context must be an object");
    return;
  }
  c->apply = confidence_value_bool(confidence_value_struct_get(c->root, "apply"));
  const confidence_value *mats = confidence_value_struct_get(c->root, "materializations");
  if (!mats)
    return;
  if (confidence_value_type_of(mats) != CONFIDENCE_VALUE_LIST) {
    snprintf(c->error, sizeof c->error, "invalid case: materializations must be a list");
    return;
  }
  c->has_materializations = true;
  c->n_mats = confidence_value_list_size(mats);
  c->mats = calloc(c->n_mats + 1, sizeof *c->mats);
  for (size_t i = 0; c->mats && i < c->n_mats; i++) {
    const confidence_value *m = confidence_value_list_at(mats, i);
    bool ok = true;
    c->mats[i].unit = str_field(m, "unit", &ok);
    confidence_value_string(confidence_value_struct_get(m, "unit"), &c->mats[i].unit_len);
    c->mats[i].materialization = str_field(m, "materialization", &ok);
    c->mats[i].rule = str_field(m, "rule", &ok);
    c->mats[i].variant = str_field(m, "variant", &ok);
    if (!ok) {
      snprintf(c->error, sizeof c->error, "invalid case: materialization %zu needs string unit, "
               "materialization, rule and variant", i);
      return;
    }
  }
  if (!c->flags || !c->mats)
    snprintf(c->error, sizeof c->error, "out of memory");
}

void cli_case_release(cli_case *c)
{
  confidence_value_free(c->root);
  free(c->flags);
  free(c->mats);
  memset(c, 0, sizeof *c);
}

void cli_case_request(const cli_case *c, confidence_resolve_request *req)
{
  confidence_resolve_request init = CONFIDENCE_RESOLVE_REQUEST_INIT;
  *req = init;
  req->client_secret = c->secret;
  req->flags = c->flags;
  req->flag_count = c->n_flags;
  req->context = c->context;
  if (c->has_materializations) {
    req->materialization_mode = CONFIDENCE_MATERIALIZATIONS_STATIC;
    req->materializations = c->mats;
    req->materialization_count = c->n_mats;
  }
}

long cli_cases_load(const char *path, cli_case **out)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "confidence: cannot open %s\n", path);
    return -1;
  }
  size_t n = 0, cap = 0;
  cli_case *cases = NULL;
  char *line = NULL;
  size_t line_cap = 0;
  ssize_t len;
  while ((len = getline(&line, &line_cap, f)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      len--;
    if (len == 0)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      cli_case *nc = realloc(cases, cap * sizeof *cases);
      if (!nc) {
        fprintf(stderr, "confidence: out of memory\n");
        break;
      }
      cases = nc;
    }
    cli_case_parse(line, (size_t)len, &cases[n++]);
  }
  free(line);
  fclose(f);
  *out = cases;
  return (long)n;
}

static int cmp_flags(const void *a, const void *b)
{
  return strcmp(confidence_resolved_flag_name(*(const confidence_resolved_flag *const *)a),
                confidence_resolved_flag_name(*(const confidence_resolved_flag *const *)b));
}

char *cli_result_json(const confidence_resolve_result *res, const char *error)
{
  confidence_value *root = confidence_value_new_struct();
  confidence_value *list = confidence_value_new_list();
  size_t n = error ? 0 : confidence_resolve_result_flag_count(res);
  const confidence_resolved_flag **sorted = calloc(n + 1, sizeof *sorted);
  for (size_t i = 0; sorted && i < n; i++)
    sorted[i] = confidence_resolve_result_flag_at(res, i);
  if (sorted)
    qsort(sorted, n, sizeof *sorted, cmp_flags);
  for (size_t i = 0; sorted && i < n; i++) {
    const confidence_resolved_flag *f = sorted[i];
    confidence_value *o = confidence_value_new_struct();
    const confidence_value *value = confidence_resolved_flag_value(f);
    confidence_value_struct_set(o, "flag", confidence_value_new_string(confidence_resolved_flag_name(f)));
    confidence_value_struct_set(o, "variant", confidence_value_new_string(confidence_resolved_flag_variant(f)));
    confidence_value_struct_set(
        o, "reason", confidence_value_new_string(confidence_resolve_reason_name(confidence_resolved_flag_reason(f))));
    confidence_value_struct_set(o, "value", value ? confidence_value_copy(value) : confidence_value_new_null());
    confidence_value_struct_set(o, "should_apply", confidence_value_new_bool(confidence_resolved_flag_should_apply(f)));
    confidence_value_list_append(list, o);
  }
  free(sorted);
  confidence_value_struct_set(root, "resolved", list);
  confidence_value_struct_set(root, "error", error ? confidence_value_new_string(error) : confidence_value_new_null());
  char *json = confidence_value_to_json(root);
  confidence_value_free(root);
  return json;
}
