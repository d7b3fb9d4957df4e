/* Chunked bump allocator; chunks grow geometrically, large requests get a
 * chunk of their own. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct cf_arena_chunk {
  cf_arena_chunk *next;
  size_t used, cap;
  _Alignas(8) unsigned char data[];
};

void *cf_arena_alloc_raw(cf_arena *a, size_t size)
{
  if (size > SIZE_MAX - 16)
    return NULL;
  size = (size + 7) & ~(size_t)7;
  cf_arena_chunk *c = a->head;
  if (!c || c->cap - c->used < size) {
    size_t cap = c ? c->cap * 2 : 16384;
    if (cap > (size_t)1 << 22)
      cap = (size_t)1 << 22;
    if (cap < size)
      cap = size;
    c = malloc(sizeof *c + cap);
    if (!c)
      return NULL;
    c->used = 0;
    c->cap = cap;
    /* A dedicated big chunk goes behind the current one so the current
     * chunk keeps serving small requests. */
    if (a->head && size > a->head->cap / 2) {
      c->next = a->head->next;
      a->head->next = c;
    } else {
      c->next = a->head;
      a->head = c;
    }
    a->total += sizeof *c + cap;
  }
  void *p = c->data + c->used;
  c->used += size;
  return p;
}

void *cf_arena_alloc(cf_arena *a, size_t size)
{
  void *p = cf_arena_alloc_raw(a, size);
  if (p)
    memset(p, 0, size);
  return p;
}

void *cf_arena_calloc(cf_arena *a, size_t n, size_t size)
{
  if (size && n > SIZE_MAX / size)
    return NULL;
  return cf_arena_alloc(a, n * size);
}

char *cf_arena_strndup(cf_arena *a, const char *s, size_t len)
{
  char *p = cf_arena_alloc(a, len + 1);
  if (p && len)
    memcpy(p, s, len);
  return p;
}

void cf_arena_reset(cf_arena *a, size_t keep_max)
{
  /* The newest ordinary chunk is the largest: it may stay, the rest go. */
  cf_arena_chunk *keep = a->head && a->head->cap <= keep_max ? a->head : NULL;
  cf_arena_chunk *c = keep ? keep->next : a->head;
  while (c) {
    cf_arena_chunk *n = c->next;
    free(c);
    c = n;
  }
  a->head = keep;
  a->total = 0;
  if (keep) {
    keep->next = NULL;
    keep->used = 0;
    a->total = sizeof *keep + keep->cap;
  }
}

void cf_arena_release(cf_arena *a) { cf_arena_reset(a, 0); /* no chunk is that small */ }
