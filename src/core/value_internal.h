/* Layout of confidence_value, shared by the value, JSON, state and resolver
 * modules. Values inside a compiled state live in its arena. */
#ifndef CF_VALUE_INTERNAL_H
#define CF_VALUE_INTERNAL_H

#include <stdbool.h>
#include <string.h>

#include "arena.h"
#include "confidence/value.h"

typedef struct cf_field {
  char *key;
  size_t key_len;
  confidence_value *value;
} cf_field;

struct confidence_value {
  unsigned char type;     /* confidence_value_type */
  unsigned char in_arena; /* made by a confidence_value_arena, which owns it (value_arena.c) */
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
      /* Hash index over `fields` once a struct grows past a few entries
       * (value.c); NULL means "scan". Values built elsewhere (arena,
       * views) leave it NULL. */
      struct cf_field_index *index;
    } obj;
  } u;
};

/* Lookup in a struct with a hash index (see cf_value_get). */
const confidence_value *cf_value_get_indexed(const confidence_value *obj, const char *key, size_t key_len);

/* Struct lookup by byte key; NULL if absent. O(1) on indexed structs.
 * Inline: the resolver reads every context attribute a rule names through
 * it, and contexts are small structs that are scanned. */
static inline const confidence_value *cf_value_get(const confidence_value *obj, const char *key, size_t key_len)
{
  if (!obj || obj->type != CONFIDENCE_VALUE_STRUCT || (!key && key_len))
    return NULL;
  if (obj->u.obj.index)
    return cf_value_get_indexed(obj, key, key_len);
  const cf_field *fields = obj->u.obj.fields;
  for (size_t i = 0, n = obj->u.obj.n; i < n; i++)
    if (fields[i].key_len == key_len && (key_len == 0 || memcmp(fields[i].key, key, key_len) == 0))
      return fields[i].value;
  return NULL;
}

/* True when ok(s, len) holds for `v` if it is a string and, for a list,
 * for every string among its items at any depth (structs and scalars are
 * skipped). Iterative, so context nesting cannot exhaust the stack; false
 * also when memory for the walk runs out. */
bool cf_value_strings_all(const confidence_value *v, bool (*ok)(const char *s, size_t len));

/* The setters behind the heap and arena API, once their arguments are
 * checked: memory (new keys, grown arrays, the struct's index) comes from
 * `mem`, or the heap when it is NULL. `item` is taken in every case (freed
 * on failure; an arena's needs no freeing). Return 0 or CONFIDENCE_ENOMEM. */
int cf_value_list_push(confidence_value *list, confidence_value *item, cf_arena *mem);
int cf_value_struct_put(confidence_value *obj, const char *key, size_t key_len, confidence_value *item, cf_arena *mem);

/* Arena-built values for compiled states (never freed individually). */
confidence_value *cf_value_arena_new(cf_arena *a, confidence_value_type type);

#endif
