/* A JSON-like value tree (null, bool, number, string, list, struct) used for
 * evaluation contexts and flag values. Numbers are doubles, as in
 * google.protobuf.Value. Strings are UTF-8 with an explicit length. */
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

/* Sets `key` (NUL-terminated, copied) in a struct, replacing an existing
 * entry. Takes ownership of `item` in every case. */
CONFIDENCE_API int confidence_value_struct_set(confidence_value *obj, const char *key, confidence_value *item);
CONFIDENCE_API int confidence_value_struct_set_len(confidence_value *obj, const char *key, size_t key_len,
                                                   confidence_value *item);
/* Removes `key` from a struct; returns 1 if it was there, else 0. */
CONFIDENCE_API int confidence_value_struct_remove(confidence_value *obj, const char *key);

/* Frees an owned value and everything below it. NULL is a no-op. Values
 * borrowed from the library (flag values, results) must not be freed. */
CONFIDENCE_API void confidence_value_free(confidence_value *v);
/* Deep copy; owned, NULL when out of memory. */
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

/* Structural equality (numbers by ==, struct key order ignored). */
CONFIDENCE_API int confidence_value_equal(const confidence_value *a, const confidence_value *b);

/* Parses UTF-8 JSON (all numbers become doubles; a later duplicate key
 * wins). On success stores an owned value in *out. Returns CONFIDENCE_EPARSE
 * with a message (confidence_last_error_message) for bad JSON. */
CONFIDENCE_API int confidence_value_from_json(const char *json, size_t len, confidence_value **out);
/* Compact JSON text; owned, free with confidence_string_free. Numbers use
 * the shortest round-trip form; NaN and infinities become null. */
CONFIDENCE_API char *confidence_value_to_json(const confidence_value *v);

#ifdef __cplusplus
}
#endif
#endif
