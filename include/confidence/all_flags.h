/* Every flag of the provider's client for one context, in one call: for
 * server-side rendering and client-SDK bootstrap. */
#ifndef CONFIDENCE_ALL_FLAGS_H
#define CONFIDENCE_ALL_FLAGS_H

#include "common.h"
#include "provider.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Resolves every flag of the client for `context` (a struct or NULL) and
 * returns them in the shape of Confidence's resolve API:
 *   {"resolvedFlags": [{"flag": "flags/x", "variant": "flags/x/variants/on",
 *                       "value": {...}, "reason": "RESOLVE_REASON_MATCH",
 *                       "shouldApply": true}, ...]}
 * ("value" only for RESOLVE_REASON_MATCH: the variant's value, {} for a
 * client default, as confidence_resolved_flag_value; flags in state order).
 * Each flag equals what a getter evaluating it alone reports. With
 * `apply` nonzero every flag sends one exposure (unless the context has
 * "_confidence_skip_apply": true or collection is disabled); with 0, none.
 * Resolve counters and metrics count every flag either way.
 * Either out-param may be NULL; on success each non-NULL one is owned
 * (*out_tree: confidence_value_free; *out_json: confidence_string_free).
 * With a materialization store configured, flags that need one read it
 * in one batched read (and may wait for it, up to its read timeout, as
 * getters do); a store failure fails the call with CONFIDENCE_ERESOLVE
 * and the store's message. Otherwise never blocks, like the getters.
 * Returns 0, CONFIDENCE_EINVAL (NULL p,
 * a context that is not a struct of valid UTF-8, or no state yet:
 * NOT_READY / FATAL), CONFIDENCE_ETOOMANY, CONFIDENCE_ERESOLVE or
 * CONFIDENCE_ENOMEM (message in confidence_last_error_message). */
CONFIDENCE_API int confidence_provider_evaluate_all(confidence_provider *p, const confidence_value *context, int apply,
                                                    confidence_value **out_tree, char **out_json);

#ifdef __cplusplus
}
#endif
#endif
