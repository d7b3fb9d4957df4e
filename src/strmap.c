/* Linear-probing hash map with FNV-1a hashing. */
#include "strmap.h"

#include <string.h>

uint64_t cf_hash_bytes(const char *s, size_t len)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 0x100000001b3ULL;
  }
  return h ^ (h >> 29);
}

bool cf_strmap_init(cf_strmap *m, cf_arena *a, size_t expected)
{
  size_t cap = 8;
  while (cap < expected * 2 + 2)
    cap *= 2;
  m->slots = cf_arena_calloc(a, cap, sizeof *m->slots);
  m->mask = cap - 1;
  m->count = 0;
  return m->slots != NULL;
}

void cf_strmap_put(cf_strmap *m, cf_str key, void *value)
{
  uint64_t h = cf_hash_bytes(key.s, key.len);
  for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
    cf_strmap_slot *s = &m->slots[i];
    if (!s->key.s) {
      *s = (cf_strmap_slot){h, key, value};
      m->count++;
      return;
    }
    if (s->hash == h && cf_str_eq(s->key, key.s, key.len)) {
      s->value = value;
      return;
    }
  }
}

void *cf_strmap_get(const cf_strmap *m, const char *s, size_t len)
{
  if (!m->slots)
    return NULL;
  uint64_t h = cf_hash_bytes(s, len);
  for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
    const cf_strmap_slot *sl = &m->slots[i];
    if (!sl->key.s)
      return NULL;
    if (sl->hash == h && cf_str_eq(sl->key, s, len))
      return sl->value;
  }
}
