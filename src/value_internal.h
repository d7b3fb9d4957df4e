/* Layout of confidence_value, shared by the value, JSON, state and resolver
 * modules. Values inside a compiled state live in its arena. */
#ifndef CF_VALUE_INTERNAL_H
#define CF_VALUE_INTERNAL_H

#include <stdbool.h>

#include "arena.h"
#include "confidence/value.h"

typedef struct cf_field {
  char *key;
  size_t key_len;
  confidence_value *value;
} cf_field;

struct confidence_value {
  unsigned char type; /* confidence_value_type */
  union {
    bool b;
    double n;
    struct {
      char *ptr; /* always NUL-terminated */
      size_t len;
    } s;
    struct {
      confidence_value **items;
      size_t n, cap;
    } list;
    struct {
      cf_field *fields;
      size_t n, cap;
    } obj;
  } u;
};

/* Struct lookup by byte key; NULL if absent. */
const confidence_value *cf_value_get(const confidence_value *obj, const char *key, size_t key_len);

/* Arena-built values for compiled states (never freed individually). */
confidence_value *cf_value_arena_new(cf_arena *a, confidence_value_type type);

#endif
