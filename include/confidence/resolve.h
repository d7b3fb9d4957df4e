/* Resolving flags against a state snapshot, exactly as Confidence's own
 * resolver does. A resolve never allocates once its result object has warmed
 * up, never blocks and never logs. */
#ifndef CONFIDENCE_RESOLVE_H
#define CONFIDENCE_RESOLVE_H

#include "common.h"
#include "state.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* confidence.flags.resolver.v1.ResolveReason */
typedef enum confidence_resolve_reason {
  CONFIDENCE_RESOLVE_REASON_UNSPECIFIED = 0,
  CONFIDENCE_RESOLVE_REASON_MATCH = 1,
  CONFIDENCE_RESOLVE_REASON_NO_SEGMENT_MATCH = 2,
  CONFIDENCE_RESOLVE_REASON_NO_TREATMENT_MATCH = 3,
  CONFIDENCE_RESOLVE_REASON_FLAG_ARCHIVED = 4,
  CONFIDENCE_RESOLVE_REASON_TARGETING_KEY_ERROR = 5,
  CONFIDENCE_RESOLVE_REASON_ERROR = 6,
  CONFIDENCE_RESOLVE_REASON_UNRECOGNIZED_TARGETING_RULE = 7,
  CONFIDENCE_RESOLVE_REASON_MATERIALIZATION_NOT_SUPPORTED = 8
} confidence_resolve_reason;

/* "RESOLVE_REASON_MATCH" etc.; static string, never NULL. */
CONFIDENCE_API const char *confidence_resolve_reason_name(int reason);

typedef enum confidence_materialization_mode {
  /* No store: flags that read or write materializations resolve with
   * MATERIALIZATION_NOT_SUPPORTED. */
  CONFIDENCE_MATERIALIZATIONS_UNSUPPORTED = 0,
  /* `materializations` is the complete set of records for this resolve. */
  CONFIDENCE_MATERIALIZATIONS_STATIC = 1,
  /* Unknown reads suspend the resolve: read the records the result asks
   * for from a store, then call confidence_resolve_resume. */
  CONFIDENCE_MATERIALIZATIONS_DISCOVER = 2
} confidence_materialization_mode;

/* One sticky assignment or segment membership. Strings are borrowed. In a
 * request (materializations, resume records) an array of these has the
 * layout of the request's version; the library hands records out as
 * borrowed pointers, so the struct can grow. An
 * inclusion (materialized segment membership) has rule "" and variant "".
 * Units are targeting keys and may hold NUL bytes: set unit_len then (0
 * means strlen(unit)); records the library hands out always set it. */
typedef struct confidence_materialization_record {
  const char *unit;
  const char *materialization;
  const char *rule;
  const char *variant;
  size_t unit_len;
} confidence_materialization_record;

#define CONFIDENCE_RESOLVE_REQUEST_VERSION 1
typedef struct confidence_resolve_request {
  unsigned version;
  const char *client_secret;
  /* Full flag names ("flags/my-flag"); flag_count 0 resolves every flag of
   * the client. Unknown, archived or foreign flags are omitted. */
  const char *const *flags;
  size_t flag_count;
  /* A struct value, or NULL for an empty context. Borrowed. */
  const confidence_value *context;
  int materialization_mode; /* confidence_materialization_mode */
  const confidence_materialization_record *materializations;
  size_t materialization_count;
} confidence_resolve_request;
#define CONFIDENCE_RESOLVE_REQUEST_INIT {CONFIDENCE_RESOLVE_REQUEST_VERSION}

/* A reusable result buffer: create one per thread and reuse it so resolves
 * do not allocate. Not thread-safe itself. */
typedef struct confidence_resolve_result confidence_resolve_result;
typedef struct confidence_resolved_flag confidence_resolved_flag;

/* Owned; free with confidence_resolve_result_free. NULL when out of memory. */
CONFIDENCE_API confidence_resolve_result *confidence_resolve_result_new(void);
CONFIDENCE_API void confidence_resolve_result_free(confidence_resolve_result *res);

/* Resolves into `res` (its previous content is discarded). Returns 0, or a
 * negative code when the whole call fails (ESECRET, ETOOMANY, ERESOLVE,
 * ELIMIT, EINVAL, ENOMEM) with the message in
 * confidence_resolve_result_error(res). Everything `res` then hands out is
 * borrowed from `res`, `st` and the request's context: valid until `res` is
 * reused or freed, and only while `st` and the context are alive. */
CONFIDENCE_API int confidence_resolve(const confidence_state *st, const confidence_resolve_request *req,
                                      confidence_resolve_result *res);

/* In DISCOVER mode: nonzero when flags wait for materializations. */
CONFIDENCE_API int confidence_resolve_result_suspended(const confidence_resolve_result *res);
CONFIDENCE_API size_t confidence_resolve_result_read_count(const confidence_resolve_result *res);
/* The i-th record to read (rule "" for an inclusion read), borrowed from
 * `res` like everything it hands out; NULL when i is out of range. */
CONFIDENCE_API const confidence_materialization_record *
confidence_resolve_result_read_at(const confidence_resolve_result *res, size_t i);
/* Finishes a suspended resolve with the records read from the store (the
 * complete set for the units asked about). `req` must be the same request.
 * Flags resolved in the first round are kept. */
CONFIDENCE_API int confidence_resolve_resume(const confidence_state *st, const confidence_resolve_request *req,
                                             const confidence_materialization_record *records, size_t count,
                                             confidence_resolve_result *res);

/* Materializations the store should persist after this resolve. */
CONFIDENCE_API size_t confidence_resolve_result_write_count(const confidence_resolve_result *res);
/* The i-th record to write, borrowed from `res`; NULL when out of range. */
CONFIDENCE_API const confidence_materialization_record *
confidence_resolve_result_write_at(const confidence_resolve_result *res, size_t i);

/* Message of the last failed call on `res` ("" if none). Secrets masked. */
CONFIDENCE_API const char *confidence_resolve_result_error(const confidence_resolve_result *res);
/* Client and credential resource names the secret matched ("" before). */
CONFIDENCE_API const char *confidence_resolve_result_client(const confidence_resolve_result *res);
CONFIDENCE_API const char *confidence_resolve_result_credential(const confidence_resolve_result *res);

CONFIDENCE_API size_t confidence_resolve_result_flag_count(const confidence_resolve_result *res);
CONFIDENCE_API const confidence_resolved_flag *confidence_resolve_result_flag_at(const confidence_resolve_result *res,
                                                                                  size_t i);
/* By full name ("flags/x"); NULL if the flag was not resolved. */
CONFIDENCE_API const confidence_resolved_flag *confidence_resolve_result_find(const confidence_resolve_result *res,
                                                                               const char *flag_name);

/* Readers of one resolved flag; strings are never NULL ("" when unset). */
CONFIDENCE_API const char *confidence_resolved_flag_name(const confidence_resolved_flag *f);
CONFIDENCE_API int confidence_resolved_flag_reason(const confidence_resolved_flag *f);
/* Variant resource name; "" for no match and for a client-default match. */
CONFIDENCE_API const char *confidence_resolved_flag_variant(const confidence_resolved_flag *f);
/* Variant value with schema nulls filled in; an empty struct for a client
 * default; NULL when no variant was assigned. */
CONFIDENCE_API const confidence_value *confidence_resolved_flag_value(const confidence_resolved_flag *f);
CONFIDENCE_API int confidence_resolved_flag_should_apply(const confidence_resolved_flag *f);
/* The matched rule (the response's assignment_origin), segment and assignment. */
CONFIDENCE_API const char *confidence_resolved_flag_rule(const confidence_resolved_flag *f);
CONFIDENCE_API const char *confidence_resolved_flag_segment(const confidence_resolved_flag *f);
CONFIDENCE_API const char *confidence_resolved_flag_assignment_id(const confidence_resolved_flag *f);
CONFIDENCE_API const char *confidence_resolved_flag_targeting_key(const confidence_resolved_flag *f);
CONFIDENCE_API const char *confidence_resolved_flag_targeting_key_selector(const confidence_resolved_flag *f);

/* Fallthrough assignments passed on the way (exposure logging needs them). */
typedef struct confidence_fallthrough {
  const char *rule;
  const char *assignment_id;
  const char *targeting_key;
  const char *targeting_key_selector;
} confidence_fallthrough;
CONFIDENCE_API size_t confidence_resolved_flag_fallthrough_count(const confidence_resolved_flag *f);
/* Borrowed from the result that holds `f`; NULL when i is out of range. */
CONFIDENCE_API const confidence_fallthrough *confidence_resolved_flag_fallthrough_at(const confidence_resolved_flag *f,
                                                                                    size_t i);

#ifdef __cplusplus
}
#endif
#endif
