/* Evaluation-context schemas for resolve analytics (RESOLVER_SPEC §4.4). */
#ifndef CF_CONTEXT_SCHEMA_H
#define CF_CONTEXT_SCHEMA_H

#include <stddef.h>

#include "confidence/value.h"
#include "proto/confidence/flags/resolver/v1/internal_api.pb-c.h"

/* Field kinds (EvaluationContextSchemaField.Kind) and semantic types (the
 * ContextFieldSemanticType oneof cases), numbered as the log protos do. */
enum {
  CF_KIND_NULL = CONFIDENCE__FLAGS__RESOLVER__V1__EVALUATION_CONTEXT_SCHEMA_FIELD__KIND__NULL_KIND,
  CF_KIND_NUMBER = CONFIDENCE__FLAGS__RESOLVER__V1__EVALUATION_CONTEXT_SCHEMA_FIELD__KIND__NUMBER_KIND,
  CF_KIND_STRING = CONFIDENCE__FLAGS__RESOLVER__V1__EVALUATION_CONTEXT_SCHEMA_FIELD__KIND__STRING_KIND,
  CF_KIND_BOOL = CONFIDENCE__FLAGS__RESOLVER__V1__EVALUATION_CONTEXT_SCHEMA_FIELD__KIND__BOOL_KIND
};
enum {
  CF_SEM_NONE = CONFIDENCE__FLAGS__RESOLVER__V1__CONTEXT_FIELD_SEMANTIC_TYPE__TYPE__NOT_SET,
  CF_SEM_COUNTRY = CONFIDENCE__FLAGS__RESOLVER__V1__CONTEXT_FIELD_SEMANTIC_TYPE__TYPE_COUNTRY,
  CF_SEM_VERSION = CONFIDENCE__FLAGS__RESOLVER__V1__CONTEXT_FIELD_SEMANTIC_TYPE__TYPE_VERSION,
  CF_SEM_DATE = CONFIDENCE__FLAGS__RESOLVER__V1__CONTEXT_FIELD_SEMANTIC_TYPE__TYPE_DATE,
  CF_SEM_TIMESTAMP = CONFIDENCE__FLAGS__RESOLVER__V1__CONTEXT_FIELD_SEMANTIC_TYPE__TYPE_TIMESTAMP
};

/* The context schema of one evaluation (§4.4), sorted by path. Owned. */
typedef struct cf_schema_field {
  char *path;
  int kind;     /* CF_KIND_* */
  int semantic; /* CF_SEM_* */
} cf_schema_field;

typedef struct cf_schema {
  cf_schema_field *fields;
  size_t n;
} cf_schema;

/* Schema of a context (§4.4); NULL when out of memory. */
cf_schema *cf_schema_derive(const confidence_value *ctx);
void cf_schema_free(cf_schema *s);

#endif
