/* Evaluation-context schemas for resolve analytics (RESOLVER_SPEC §4.4). */
#ifndef CF_CONTEXT_SCHEMA_H
#define CF_CONTEXT_SCHEMA_H

#include <stddef.h>

#include "confidence/value.h"

/* The context schema of one evaluation (§4.4), sorted by path. Owned. */
typedef struct cf_schema_field {
  char *path;
  int kind;     /* 1 NULL, 2 NUMBER, 3 STRING, 4 BOOL */
  int semantic; /* 0 none, 1 country, 4 version, 5 date, 6 timestamp */
} cf_schema_field;

typedef struct cf_schema {
  cf_schema_field *fields;
  size_t n;
} cf_schema;

/* Schema of a context (§4.4); NULL when out of memory. */
cf_schema *cf_schema_derive(const confidence_value *ctx);
void cf_schema_free(cf_schema *s);

#endif
