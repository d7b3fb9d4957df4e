/* Byte-string keyed hash map (open addressing) whose storage lives in an
 * arena; built once while compiling a state, then only read. */
#ifndef CF_STRMAP_H
#define CF_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

typedef struct cf_str {
  const char *s; /* NUL-terminated */
  uint32_t len;
} cf_str;

typedef struct cf_strmap_slot {
  uint64_t hash;
  cf_str key; /* key.s == NULL: empty slot */
  void *value;
} cf_strmap_slot;

typedef struct cf_strmap {
  cf_strmap_slot *slots;
  size_t mask, count;
} cf_strmap;

uint64_t cf_hash_bytes(const char *s, size_t len);
/* Sized for `expected` entries; false when out of memory. */
bool cf_strmap_init(cf_strmap *m, cf_arena *a, size_t expected);
/* Inserts or replaces. The key must outlive the map (arena string). */
void cf_strmap_put(cf_strmap *m, cf_str key, void *value);
void *cf_strmap_get(const cf_strmap *m, const char *s, size_t len);

static inline bool cf_str_eq(cf_str a, const char *s, size_t len)
{
  return a.len == len && (len == 0 || __builtin_memcmp(a.s, s, len) == 0);
}

#endif
