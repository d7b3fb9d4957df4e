/* Linear-probing hash map over byte strings. */
#include "strmap.h"

#include <string.h>

uint64_t cf_hash_bytes(const char *s, size_t len)
{
  /* Eight bytes per step: names and secrets are 20-60 bytes long and are
   * hashed on every resolve. Internal only, so host byte order is fine. */
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)len;
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
    s += 8;
    len -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, s, len);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
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
