/* Apply dedup (RESOLVER_SPEC §4.6): the exposure key and the windowed
 * table of keys seen (apply_dedup.h). */
#include "apply_dedup.h"

#include <stdlib.h>
#include <string.h>

#define DEDUP_WINDOW_S 120
#define DEDUP_MAX_KEYS 100000
#define DEDUP_SWEEP_S 10
#define DEDUP_CAP 262144 /* a power of two over 2 x DEDUP_MAX_KEYS */

static uint64_t mix(uint64_t state, uint64_t w)
{
  uint64_t k = w * 0xFF51AFD7ED558CCDULL;
  k ^= k >> 33;
  k *= 0xC4CEB9FE1A85EC53ULL;
  state ^= k;
  return ((state << 27) | (state >> 37)) * 0x100000001B3ULL;
}

/* Eight bytes as a little-endian word: one load instead of eight shifts (the
 * drainer hashes every exposure it sees). */
static uint64_t load_le64(const char *p)
{
  uint64_t w;
  memcpy(&w, p, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  return w;
}

static uint64_t mix_bytes(uint64_t h, const char *s, size_t len)
{
  h = mix(h, len);
  size_t i = 0;
  for (; i + 8 <= len; i += 8)
    h = mix(h, load_le64(s + i));
  if (i < len) {
    uint64_t w = 0;
    for (size_t j = 0; i + j < len; j++)
      w |= (uint64_t)(uint8_t)s[i + j] << (8 * j);
    h = mix(h, w);
  }
  return h;
}

static uint64_t mix_cstr(uint64_t h, const char *s) { return mix_bytes(h, s, strlen(s)); }

/* What makes two applied flags the same exposure. Never 0 (the empty key). */
static uint64_t dedup_key(const cf_exposure *e)
{
  uint64_t h = 0xCBF29CE484222325ULL;
  h = mix_bytes(h, e->flag->name.s, e->flag->name.len);
  h = mix_bytes(h, e->key, e->key_len);
  h = mix_cstr(h, e->rule ? e->rule->selector.s : "");
  h = mix_bytes(h, e->assignment_id.s, e->assignment_id.len);
  h = mix_cstr(h, e->variant ? e->variant->name.s : "");
  h = mix_cstr(h, e->segment ? e->segment->name.s : "");
  h = mix_cstr(h, e->rule ? e->rule->name.s : "");
  uint8_t reason[4] = {(uint8_t)e->reason, (uint8_t)(e->reason >> 8), (uint8_t)(e->reason >> 16),
                       (uint8_t)(e->reason >> 24)};
  h = mix_bytes(h, (const char *)reason, sizeof reason);
  h = mix(h, e->n_fts);
  for (uint32_t i = 0; i < e->n_fts; i++) {
    h = mix_cstr(h, e->fts[i].rule->name.s);
    h = mix_bytes(h, e->fts[i].assignment_id.s, e->fts[i].assignment_id.len);
    h = mix_bytes(h, e->fts[i].key, e->fts[i].key_len);
    h = mix_cstr(h, e->fts[i].rule->selector.s);
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  return h ? h : 1;
}

/* Slot of `key` in the table, or of the empty slot where it would go. */
static size_t dedup_slot(const cf_dedup_table *t, uint64_t key)
{
  size_t i = (size_t)key & (DEDUP_CAP - 1);
  while (t->keys[i] && t->keys[i] != key)
    i = (i + 1) & (DEDUP_CAP - 1);
  return i;
}

/* Rebuilt in place of tombstones. */
void cf_dedup_sweep(cf_dedup_table *t, int64_t now)
{
  if (!t->keys || now - t->last_sweep < DEDUP_SWEEP_S)
    return;
  t->last_sweep = now;
  uint64_t *keys = calloc(DEDUP_CAP, sizeof *keys);
  uint32_t *seen = calloc(DEDUP_CAP, sizeof *seen);
  if (!keys || !seen) { /* keep the old table until memory allows */
    free(keys);
    free(seen);
    return;
  }
  cf_dedup_table fresh = {keys, seen, DEDUP_CAP, 0, t->last_sweep};
  for (size_t i = 0; i < DEDUP_CAP; i++)
    if (t->keys[i] && now - (int64_t)t->seen[i] < DEDUP_WINDOW_S) {
      size_t j = dedup_slot(&fresh, t->keys[i]);
      fresh.keys[j] = t->keys[i];
      fresh.seen[j] = t->seen[i];
      fresh.n++;
    }
  free(t->keys);
  free(t->seen);
  *t = fresh;
}

bool cf_dedup_seen(cf_dedup_table *t, const cf_exposure *e)
{
  if (!t->keys) {
    t->keys = calloc(DEDUP_CAP, sizeof *t->keys);
    t->seen = calloc(DEDUP_CAP, sizeof *t->seen);
    if (!t->keys || !t->seen) {
      free(t->keys);
      free(t->seen);
      t->keys = NULL;
      t->seen = NULL;
      return false; /* no memory to remember: send it */
    }
  }
  int64_t now = e->time_ns / 1000000000;
  if (now < t->last_sweep)
    now = t->last_sweep;
  uint64_t key = dedup_key(e);
  size_t i = dedup_slot(t, key);
  if (t->keys[i])
    return true;
  if (t->n < DEDUP_MAX_KEYS) {
    t->keys[i] = key;
    t->seen[i] = (uint32_t)now;
    t->n++;
  }
  return false;
}

void cf_dedup_free(cf_dedup_table *t)
{
  free(t->keys);
  free(t->seen);
  t->keys = NULL;
  t->seen = NULL;
}
