/* Small helpers every module uses: the one growable array and the one
 * check of a versioned struct's version. */
#ifndef CF_UTIL_H
#define CF_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Grows *items (elements of `elem` bytes, capacity *cap) to hold `need`,
 * doubling from 8. Returns 0 or CONFIDENCE_ENOMEM (the array is kept). */
int cf_vec_grow(void **items, size_t *cap, size_t need, size_t elem);
/* The common case (room left) inline: resolves push on their hot path. */
static inline int cf_vec_reserve(void **items, size_t *cap, size_t need, size_t elem)
{
  return need <= *cap ? 0 : cf_vec_grow(items, cap, need, elem);
}

/* A vector is any struct with `items`, `n` and `cap` members. Appends one
 * uninitialised slot and returns it; NULL when out of memory. */
#define CF_VEC_PUSH(vec) \
  (cf_vec_reserve((void **)&(vec).items, &(vec).cap, (vec).n + 1, sizeof *(vec).items) ? NULL : &(vec).items[(vec).n++])

/* Versioned public structs are accepted for every version from 1 to the
 * one this library was built with (docs/api.md). Returns 0, or
 * CONFIDENCE_EINVAL with a message naming the struct. */
int cf_check_version_fail(unsigned version, unsigned current, const char *struct_name);
static inline int cf_check_version(unsigned version, unsigned current, const char *struct_name)
{
  return version >= 1 && version <= current ? 0 : cf_check_version_fail(version, current, struct_name);
}

/* Copies a caller's versioned struct into the library's current layout:
 * `sizes[v - 1]` is the size of version v (the offset of the first field a
 * later version added); fields the caller's version lacks stay zero (their
 * defaults). Returns 0 or CONFIDENCE_EINVAL (cf_check_version). */
int cf_copy_versioned(void *dst, size_t dst_size, const void *src, unsigned version, const size_t *sizes,
                      unsigned current, const char *struct_name);

#endif
