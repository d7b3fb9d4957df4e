/* A JSON-like value tree (null, bool, number, string, list, struct) used for
 * evaluation contexts and flag values. Numbers are doubles, as in
 * google.protobuf.Value. Strings are UTF-8 with an explicit length.
 *
 * Limits: trees built through this API may nest to any depth and structs
 * may hold any number of fields. Free, copy, equal and to_json walk them
 * without recursion; setting, finding and removing struct fields is O(1)
 * amortized past a few fields (hash index), so a struct of n fields is
 * built and read in O(n). Only JSON parsing bounds nesting (2048 levels). */
#ifndef CONFIDENCE_VALUE_H
#define CONFIDENCE_VALUE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum confidence_value_type {
  CONFIDENCE_VALUE_NULL = 0,
  CONFIDENCE_VALUE_BOOL = 1,
  CONFIDENCE_VALUE_NUMBER = 2,
  CONFIDENCE_VALUE_STRING = 3,
  CONFIDENCE_VALUE_LIST = 4,
  CONFIDENCE_VALUE_STRUCT = 5
} confidence_value_type;

typedef struct confidence_value confidence_value;

/* Constructors return an owned value (free with confidence_value_free), or
 * NULL when out of memory. Strings are copied. */
CONFIDENCE_API confidence_value *confidence_value_new_null(void);
CONFIDENCE_API confidence_value *confidence_value_new_bool(int b);
CONFIDENCE_API confidence_value *confidence_value_new_number(double n);
CONFIDENCE_API confidence_value *confidence_value_new_string(const char *s);
CONFIDENCE_API confidence_value *confidence_value_new_string_len(const char *s, size_t len);
CONFIDENCE_API confidence_value *confidence_value_new_list(void);
CONFIDENCE_API confidence_value *confidence_value_new_struct(void);

/* Appends `item` to a list. Takes ownership of `item` in every case (it is
 * freed on failure). Returns 0, CONFIDENCE_EINVAL or CONFIDENCE_ENOMEM. */
CONFIDENCE_API int confidence_value_list_append(confidence_value *list, confidence_value *item);

/* Sets `key` (NUL-terminated, copied; _len: `key_len` bytes that may hold
 * NULs, (NULL, 0) is the empty key) in a struct. A new key goes last; an
 * existing key keeps its place and gets the new value (the old one is
 * freed). Takes ownership of `item` in every case (it is freed on failure).
 * Returns 0, CONFIDENCE_EINVAL (obj not a struct, item NULL or obj itself,
 * key NULL with a length) or CONFIDENCE_ENOMEM. */
CONFIDENCE_API int confidence_value_struct_set(confidence_value *obj, const char *key, confidence_value *item);
CONFIDENCE_API int confidence_value_struct_set_len(confidence_value *obj, const char *key, size_t key_len,
                                                   confidence_value *item);
/* Removes `key` from a struct (later fields move up one place); returns 1
 * if it was there, else 0 (also for NULL or a non-struct). O(n). */
CONFIDENCE_API int confidence_value_struct_remove(confidence_value *obj, const char *key);

/* Frees an owned value and everything below it, at any depth, without
 * allocating. NULL is a no-op. Values borrowed from the library (flag
 * values, results) must not be freed. */
CONFIDENCE_API void confidence_value_free(confidence_value *v);
/* ---- values in an arena ----
 * For a tree made and dropped together, such as an evaluation context
 * built for each call: its nodes, keys and strings are carved from one
 * arena instead of allocated one by one, and all are dropped at once by
 * confidence_value_arena_reset (which keeps up to 64 KiB of the memory for
 * the next tree) or confidence_value_arena_free. Such values are read, copied and
 * resolved like any other, and stay valid until then.
 *
 * The arena owns them: confidence_value_free does nothing to one, and the
 * functions above that change a value refuse them (CONFIDENCE_EINVAL, or 0
 * from struct_remove), as they refuse putting one into a heap value. The
 * _arena_ setters below take items made in the same arena, each placed
 * once (a heap item is refused and freed, as those functions free theirs);
 * a key set again gets the new value. An arena is used by one thread at a
 * time. Constructors return NULL when out of memory or when `a` is NULL;
 * setters return 0, CONFIDENCE_EINVAL or CONFIDENCE_ENOMEM. */
typedef struct confidence_value_arena confidence_value_arena;
CONFIDENCE_API confidence_value_arena *confidence_value_arena_new(void);
CONFIDENCE_API void confidence_value_arena_reset(confidence_value_arena *a);
CONFIDENCE_API void confidence_value_arena_free(confidence_value_arena *a);
CONFIDENCE_API confidence_value *confidence_value_arena_null(confidence_value_arena *a);
CONFIDENCE_API confidence_value *confidence_value_arena_bool(confidence_value_arena *a, int b);
CONFIDENCE_API confidence_value *confidence_value_arena_number(confidence_value_arena *a, double n);
CONFIDENCE_API confidence_value *confidence_value_arena_string_len(confidence_value_arena *a, const char *s, size_t len);
CONFIDENCE_API confidence_value *confidence_value_arena_list(confidence_value_arena *a);
CONFIDENCE_API confidence_value *confidence_value_arena_struct(confidence_value_arena *a);
CONFIDENCE_API int confidence_value_arena_list_append(confidence_value_arena *a, confidence_value *list,
                                                      confidence_value *item);
CONFIDENCE_API int confidence_value_arena_struct_set_len(confidence_value_arena *a, confidence_value *obj,
                                                         const char *key, size_t key_len, confidence_value *item);

/* Deep copy at any depth (field order kept); owned, NULL when `v` is NULL
 * or memory runs out. */
CONFIDENCE_API confidence_value *confidence_value_copy(const confidence_value *v);

/* Readers. They accept NULL and wrong types and then return the zero value
 * (NULL type, 0, "" or NULL pointers). Returned pointers are borrowed from
 * `v` and valid while `v` is. */
CONFIDENCE_API confidence_value_type confidence_value_type_of(const confidence_value *v);
CONFIDENCE_API int confidence_value_bool(const confidence_value *v);
CONFIDENCE_API double confidence_value_number(const confidence_value *v);
CONFIDENCE_API const char *confidence_value_string(const confidence_value *v, size_t *len);
CONFIDENCE_API size_t confidence_value_list_size(const confidence_value *v);
CONFIDENCE_API const confidence_value *confidence_value_list_at(const confidence_value *v, size_t i);
CONFIDENCE_API size_t confidence_value_struct_size(const confidence_value *v);
CONFIDENCE_API const char *confidence_value_struct_key_at(const confidence_value *v, size_t i, size_t *len);
CONFIDENCE_API const confidence_value *confidence_value_struct_value_at(const confidence_value *v, size_t i);
CONFIDENCE_API const confidence_value *confidence_value_struct_get(const confidence_value *v, const char *key);

/* Structural equality at any depth (numbers by ==, struct key order
 * ignored): 1 or 0. Also 0 in the unlikely case that memory for the walk
 * (one small record per level of nesting) runs out. */
CONFIDENCE_API int confidence_value_equal(const confidence_value *a, const confidence_value *b);

/* Parses UTF-8 JSON (all numbers become doubles; a later duplicate key
 * wins, in the first one's place). On success returns 0 and stores an owned
 * value in *out; otherwise *out is NULL (when out is not NULL) and the code,
 * with a message in confidence_last_error_message(), is
 * CONFIDENCE_EINVAL (out NULL, or json NULL with len > 0),
 * CONFIDENCE_EPARSE (not JSON, or not UTF-8), CONFIDENCE_ELIMIT (nested
 * deeper than 2048 levels, the parser's limit) or CONFIDENCE_ENOMEM. */
CONFIDENCE_API int confidence_value_from_json(const char *json, size_t len, confidence_value **out);
/* Compact JSON text of a value at any depth; owned, free with
 * confidence_string_free; NULL when memory runs out (NULL prints "null").
 * Numbers use the shortest round-trip form; NaN and infinities become
 * null. Strings are written as stored (not UTF-8 checked). */
CONFIDENCE_API char *confidence_value_to_json(const confidence_value *v);

#ifdef __cplusplus
}
#endif
#endif
