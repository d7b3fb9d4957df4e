/* Bump allocator backing a compiled state (everything a snapshot owns is
 * freed at once when its last reference goes) and value arenas
 * (value_arena.c). */
#ifndef CF_ARENA_H
#define CF_ARENA_H

#include <stddef.h>

typedef struct cf_arena_chunk cf_arena_chunk;
typedef struct cf_arena {
  cf_arena_chunk *head;
  size_t total; /* bytes reserved, for memory reporting */
} cf_arena;

/* Zeroed, 8-byte aligned; NULL when out of memory or on size overflow. */
void *cf_arena_alloc(cf_arena *a, size_t size);
/* The same, not zeroed: for callers that write every byte they read. */
void *cf_arena_alloc_raw(cf_arena *a, size_t size);
void *cf_arena_calloc(cf_arena *a, size_t n, size_t size);
/* Copy of s[0..len) plus a NUL. */
char *cf_arena_strndup(cf_arena *a, const char *s, size_t len);
/* Drops everything allocated, keeping the largest chunk for what comes
 * next when it holds at most `keep_max` bytes (an arena refilled per call
 * then allocates nothing once warm, and a rare huge fill is not kept). */
void cf_arena_reset(cf_arena *a, size_t keep_max);
void cf_arena_release(cf_arena *a);

#endif
