/* Values in an arena (confidence/value.h): a tree made and dropped
 * together, such as an evaluation context converted for each call, costs
 * bump allocations instead of a malloc and a free per node, key and field
 * array. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "value_internal.h"

/* Memory kept from one tree for the next: contexts take a few hundred
 * bytes, and a rare huge one does not pin megabytes to the thread that
 * converted it. */
#define KEEP_MAX (64 * 1024)

struct confidence_value_arena {
  cf_arena mem;
};

confidence_value_arena *confidence_value_arena_new(void) { return calloc(1, sizeof(confidence_value_arena)); }

void confidence_value_arena_reset(confidence_value_arena *a)
{
  if (a)
    cf_arena_reset(&a->mem, KEEP_MAX);
}

void confidence_value_arena_free(confidence_value_arena *a)
{
  if (!a)
    return;
  cf_arena_release(&a->mem);
  free(a);
}

/* A node of `type` with `extra` bytes after it (a string's bytes), not
 * zeroed beyond the node itself: memory is written before it is read, and
 * a context is built anew for every evaluation. */
static confidence_value *node(confidence_value_arena *a, confidence_value_type type, size_t extra)
{
  if (!a || extra > SIZE_MAX / 2)
    return NULL;
  confidence_value *v = cf_arena_alloc_raw(&a->mem, sizeof *v + extra);
  if (v) {
    *v = (confidence_value){.type = (unsigned char)type, .in_arena = 1};
  }
  return v;
}

confidence_value *confidence_value_arena_null(confidence_value_arena *a) { return node(a, CONFIDENCE_VALUE_NULL, 0); }

confidence_value *confidence_value_arena_bool(confidence_value_arena *a, int b)
{
  confidence_value *v = node(a, CONFIDENCE_VALUE_BOOL, 0);
  if (v)
    v->u.b = b != 0;
  return v;
}

confidence_value *confidence_value_arena_number(confidence_value_arena *a, double n)
{
  confidence_value *v = node(a, CONFIDENCE_VALUE_NUMBER, 0);
  if (v)
    v->u.n = n;
  return v;
}

confidence_value *confidence_value_arena_string_len(confidence_value_arena *a, const char *s, size_t len)
{
  if ((!s && len) || len >= SIZE_MAX / 2) /* len + 1 must not wrap */
    return NULL;
  confidence_value *v = node(a, CONFIDENCE_VALUE_STRING, len + 1);
  if (v) {
    v->u.s.ptr = (char *)(v + 1);
    v->u.s.len = len;
    if (len)
      memcpy(v->u.s.ptr, s, len);
    v->u.s.ptr[len] = '\0';
  }
  return v;
}

confidence_value *confidence_value_arena_list(confidence_value_arena *a) { return node(a, CONFIDENCE_VALUE_LIST, 0); }

confidence_value *confidence_value_arena_struct(confidence_value_arena *a) { return node(a, CONFIDENCE_VALUE_STRUCT, 0); }

/* The checks both setters share; a heap item is freed, as the heap
 * functions free an item they refuse. */
static int refused(confidence_value_arena *a, const confidence_value *c, confidence_value_type type,
                   confidence_value *item)
{
  if (a && c && c->in_arena && c->type == type && item && item != c && item->in_arena)
    return 0;
  if (item != c)
    confidence_value_free(item);
  return CONFIDENCE_EINVAL;
}

int confidence_value_arena_list_append(confidence_value_arena *a, confidence_value *list, confidence_value *item)
{
  int rc = refused(a, list, CONFIDENCE_VALUE_LIST, item);
  if (rc)
    return rc;
  return cf_value_list_push(list, item, &a->mem);
}

int confidence_value_arena_struct_set_len(confidence_value_arena *a, confidence_value *obj, const char *key,
                                          size_t key_len, confidence_value *item)
{
  int rc = refused(a, obj, CONFIDENCE_VALUE_STRUCT, item);
  if (rc || (!key && key_len))
    return rc ? rc : CONFIDENCE_EINVAL;
  return cf_value_struct_put(obj, key, key_len, item, &a->mem);
}
