/* All-flags evaluation: one resolve of every flag of the client against
 * the state the calling thread protects, each flag recorded like a getter
 * evaluation (counters, metrics, optional exposure), returned as a value
 * tree in the resolve API's shape and as its JSON. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "confidence/all_flags.h"
#include "error.h"
#include "provider_internal.h"

/* One resolvedFlags entry (as the resolve API writes it); NULL when out
 * of memory. */
static confidence_value *flag_entry(const confidence_resolved_flag *f)
{
  confidence_value *e = confidence_value_new_struct();
  if (!e)
    return NULL;
  const confidence_value *value = confidence_resolved_flag_value(f);
  int reason = confidence_resolved_flag_reason(f);
  bool ok = confidence_value_struct_set(e, "flag", confidence_value_new_string(confidence_resolved_flag_name(f))) == 0;
  ok = confidence_value_struct_set(e, "variant", confidence_value_new_string(confidence_resolved_flag_variant(f))) == 0 && ok;
  if (value)
    ok = confidence_value_struct_set(e, "value", confidence_value_copy(value)) == 0 && ok;
  ok = confidence_value_struct_set(e, "reason", confidence_value_new_string(confidence_resolve_reason_name(reason))) == 0 && ok;
  ok = confidence_value_struct_set(e, "shouldApply", confidence_value_new_bool(confidence_resolved_flag_should_apply(f))) == 0 && ok;
  if (!ok) {
    confidence_value_free(e);
    return NULL;
  }
  return e;
}

/* Resolves every flag into slot->res and builds the list; records each
 * flag. The caller holds the hazard for `st`. */
static int resolve_all(confidence_provider *p, cf_slot *slot, const confidence_state *st, const confidence_value *ctx,
                       bool apply, confidence_value *list)
{
  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = p->secret;
  req.context = ctx; /* flag_count 0: every flag of the client */
  int64_t started = cf_clock_mono_ns();
  /* With a store, flags that need materializations read it, as getters do. */
  char store_msg[CF_STORE_MSG];
  int rc = p->store ? cf_provider_store_resolve(p, st, &req, slot->res, store_msg) : confidence_resolve(st, &req, slot->res);
  if (rc == CF_STORE_FAILED)
    return cf_error(CONFIDENCE_ERESOLVE, "%s", store_msg);
  if (rc)
    return cf_error(rc, "%s", confidence_resolve_result_error(slot->res));
  size_t count = confidence_resolve_result_flag_count(slot->res);
  uint64_t n = atomic_load_explicit(&slot->evaluations, memory_order_relaxed);
  atomic_store_explicit(&slot->evaluations, n + count, memory_order_relaxed); /* each flag is an evaluation */
  for (size_t i = 0; i < count; i++) {
    const confidence_resolved_flag *f = confidence_resolve_result_flag_at(slot->res, i);
    if (rc == 0 && confidence_value_list_append(list, flag_entry(f)) != 0)
      rc = cf_error(CONFIDENCE_ENOMEM, "out of memory");
    /* the resolve's latency, shared by its flags, on the sampled ones */
    cf_provider_record_flag(p, slot, f, ctx, apply, (n + i) % 16 == 0 ? started : 0, n + i);
  }
  return rc;
}

static int evaluate_protected(confidence_provider *p, cf_slot *slot, const confidence_value *context, bool apply,
                              confidence_value *list)
{
  cf_slot_turn turn;
  confidence_state *st = cf_slot_protect(p, slot, true, &turn);
  int rc;
  if (turn.oom) {
    rc = cf_error(CONFIDENCE_ENOMEM, "out of memory");
  } else if (!st) {
    rc = cf_error(CONFIDENCE_EINVAL, "the provider has no flag state (%s)",
                  atomic_load(&p->status) == CONFIDENCE_STATUS_FATAL ? "FATAL" : "NOT_READY");
  } else {
    const confidence_value *ctx;
    bool skip_apply;
    void *view;
    rc = cf_provider_eval_context(context, &ctx, &skip_apply, &view);
    if (rc)
      rc = cf_error(rc, "the context must be a struct of valid UTF-8");
    else
      rc = resolve_all(p, slot, st, ctx, apply && !skip_apply, list);
    cf_provider_free_context_view(view);
  }
  cf_slot_unprotect(slot, &turn);
  return rc;
}

int confidence_provider_evaluate_all(confidence_provider *p, const confidence_value *context, int apply,
                                     confidence_value **out_tree, char **out_json)
{
  if (out_tree)
    *out_tree = NULL;
  if (out_json)
    *out_json = NULL;
  cf_slot *slot = p ? cf_provider_slot(p) : NULL;
  if (!slot)
    return cf_error(p ? CONFIDENCE_ENOMEM : CONFIDENCE_EINVAL, p ? "out of memory" : "provider is NULL");
  confidence_value *tree = confidence_value_new_struct(), *list = confidence_value_new_list();
  if (!tree || !list || confidence_value_struct_set(tree, "resolvedFlags", list) != 0) {
    confidence_value_free(tree);
    return cf_error(CONFIDENCE_ENOMEM, "out of memory");
  }
  int rc = evaluate_protected(p, slot, context, apply != 0, list);
  char *json = rc == 0 && out_json ? confidence_value_to_json(tree) : NULL;
  if (rc == 0 && out_json && !json)
    rc = cf_error(CONFIDENCE_ENOMEM, "out of memory");
  if (rc) {
    confidence_value_free(tree);
    return rc;
  }
  if (out_json)
    *out_json = json;
  if (out_tree)
    *out_tree = tree;
  else
    confidence_value_free(tree);
  return 0;
}
