/* The public value tree: construction, reading, copying, equality. Every
 * walk over a tree is iterative, so a caller-built value of any depth is
 * freed, copied and compared without exhausting the C stack. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "value_internal.h"

/* ---- struct field index ---------------------------------------------------- */

/* Structs with this many fields get a hash index, so building and reading a
 * struct of n fields is O(n) overall; smaller ones are scanned. */
#define CF_INDEX_MIN 16

/* A slot holds a field position + 1 (0 = empty) and 32 more bits of the
 * key's hash, so probing rarely touches a key that does not match. */
typedef struct cf_index_slot {
  uint32_t pos1, tag;
} cf_index_slot;

struct cf_field_index {
  uint64_t seed;
  size_t mask;          /* slot count - 1; the count is a power of two >= 2 * fields */
  cf_index_slot slot[];
};

/* Seeded per table (heap and image addresses vary per process under ASLR),
 * so crafted context keys cannot aim at one probe chain everywhere. */
static uint64_t key_hash(uint64_t seed, const char *k, size_t len)
{
  uint64_t h = seed ^ ((uint64_t)len * 0x9e3779b97f4a7c15u);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, k + i, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9u;
    h ^= h >> 31;
  }
  uint64_t w = 0;
  if (len > i)
    memcpy(&w, k + i, len - i);
  h = (h ^ w) * 0x94d049bb133111ebu;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9u;
  return h ^ (h >> 32);
}

static void index_insert(struct cf_field_index *ix, const cf_field *fields, size_t pos)
{
  uint64_t hash = key_hash(ix->seed, fields[pos].key, fields[pos].key_len);
  size_t h = (size_t)hash & ix->mask;
  while (ix->slot[h].pos1)
    h = (h + 1) & ix->mask;
  ix->slot[h] = (cf_index_slot){(uint32_t)(pos + 1), (uint32_t)(hash >> 32)};
}

/* Position of `key` in an indexed struct, or SIZE_MAX. */
static size_t index_find(const struct cf_field_index *ix, const cf_field *fields, const char *key, size_t len)
{
  uint64_t hash = key_hash(ix->seed, key, len);
  uint32_t tag = (uint32_t)(hash >> 32);
  for (size_t h = (size_t)hash & ix->mask; ix->slot[h].pos1; h = (h + 1) & ix->mask) {
    if (ix->slot[h].tag != tag)
      continue;
    const cf_field *f = &fields[ix->slot[h].pos1 - 1];
    if (f->key_len == len && (len == 0 || memcmp(f->key, key, len) == 0))
      return ix->slot[h].pos1 - 1;
  }
  return SIZE_MAX;
}

/* (Re)builds the index of a struct with room to grow, in `mem` (the old
 * index stays there until the arena is reset) or on the heap when `mem` is
 * NULL. On allocation failure (or past 2^32 - 1 fields) the struct keeps
 * working unindexed: lookups scan. */
static void index_rebuild(confidence_value *obj, cf_arena *mem)
{
  if (!mem)
    free(obj->u.obj.index);
  obj->u.obj.index = NULL;
  size_t n = obj->u.obj.n;
  if (n < CF_INDEX_MIN || n >= UINT32_MAX)
    return;
  size_t slots = 64;
  while (slots < 4 * n) {
    if (slots > SIZE_MAX / 4 / sizeof(cf_index_slot))
      return;
    slots *= 2;
  }
  static const char anchor;
  size_t size = sizeof(struct cf_field_index) + slots * sizeof(cf_index_slot);
  struct cf_field_index *ix = mem ? cf_arena_alloc(mem, size) : calloc(1, size);
  if (!ix)
    return;
  ix->seed = key_hash((uint64_t)(uintptr_t)&anchor, (const char *)&ix, sizeof ix);
  ix->mask = slots - 1;
  for (size_t i = 0; i < n; i++)
    index_insert(ix, obj->u.obj.fields, i);
  obj->u.obj.index = ix;
}

/* Keeps a struct's hash index in step after a field was added at `pos`. */
static void index_added(confidence_value *obj, size_t pos, cf_arena *mem)
{
  struct cf_field_index *ix = obj->u.obj.index;
  if (ix && 2 * obj->u.obj.n <= ix->mask + 1 && obj->u.obj.n < UINT32_MAX)
    index_insert(ix, obj->u.obj.fields, pos);
  else if (ix || obj->u.obj.n >= CF_INDEX_MIN)
    index_rebuild(obj, mem); /* sized for 4n, so this runs once per doubling */
}

/* Position of `key` in a struct, or SIZE_MAX. */
static size_t field_find(const confidence_value *obj, const char *key, size_t len)
{
  if (obj->u.obj.index)
    return index_find(obj->u.obj.index, obj->u.obj.fields, key, len);
  for (size_t i = 0; i < obj->u.obj.n; i++) {
    const cf_field *f = &obj->u.obj.fields[i];
    if (f->key_len == len && (len == 0 || memcmp(f->key, key, len) == 0))
      return i;
  }
  return SIZE_MAX;
}

/* ---- construction ------------------------------------------------------------ */

static confidence_value *new_value(confidence_value_type type)
{
  confidence_value *v = calloc(1, sizeof *v);
  if (v)
    v->type = (unsigned char)type;
  return v;
}

confidence_value *cf_value_arena_new(cf_arena *a, confidence_value_type type)
{
  confidence_value *v = cf_arena_alloc(a, sizeof *v);
  if (v)
    v->type = (unsigned char)type;
  return v;
}

confidence_value *confidence_value_new_null(void) { return new_value(CONFIDENCE_VALUE_NULL); }

confidence_value *confidence_value_new_bool(int b)
{
  confidence_value *v = new_value(CONFIDENCE_VALUE_BOOL);
  if (v)
    v->u.b = b != 0;
  return v;
}

confidence_value *confidence_value_new_number(double n)
{
  confidence_value *v = new_value(CONFIDENCE_VALUE_NUMBER);
  if (v)
    v->u.n = n;
  return v;
}

confidence_value *confidence_value_new_string_len(const char *s, size_t len)
{
  if ((!s && len) || len > SIZE_MAX - sizeof(confidence_value) - 1)
    return NULL;
  /* One allocation: the bytes live right after the node (contexts are
   * built and freed per evaluation, string by string). */
  confidence_value *v = malloc(sizeof *v + len + 1);
  if (!v)
    return NULL;
  memset(v, 0, sizeof *v);
  v->type = CONFIDENCE_VALUE_STRING;
  v->u.s.ptr = (char *)(v + 1);
  if (len)
    memcpy(v->u.s.ptr, s, len);
  v->u.s.ptr[len] = '\0';
  v->u.s.len = len;
  return v;
}

confidence_value *confidence_value_new_string(const char *s)
{
  return s ? confidence_value_new_string_len(s, strlen(s)) : NULL;
}

confidence_value *confidence_value_new_list(void) { return new_value(CONFIDENCE_VALUE_LIST); }
confidence_value *confidence_value_new_struct(void) { return new_value(CONFIDENCE_VALUE_STRUCT); }

/* Room for one more of `n` items of `size` bytes: on the heap, or in
 * `mem`, where a full array moves to a block twice its size (the old one
 * stays in the arena until it is reset). */
static int room_for_one(cf_arena *mem, void **items, size_t *cap, size_t n, size_t size)
{
  if (!mem)
    return cf_vec_reserve(items, cap, n + 1, size);
  if (n < *cap)
    return 0;
  size_t grown = *cap ? *cap * 2 : 4;
  if (grown > SIZE_MAX / 2 / size)
    return CONFIDENCE_ENOMEM;
  void *p = cf_arena_alloc_raw(mem, grown * size);
  if (!p)
    return CONFIDENCE_ENOMEM;
  if (n)
    memcpy(p, *items, n * size);
  *items = p;
  *cap = grown;
  return 0;
}

int cf_value_list_push(confidence_value *list, confidence_value *item, cf_arena *mem)
{
  if (room_for_one(mem, (void **)&list->u.list.items, &list->u.list.cap, list->u.list.n, sizeof(confidence_value *))) {
    confidence_value_free(item);
    return CONFIDENCE_ENOMEM;
  }
  list->u.list.items[list->u.list.n++] = item;
  return 0;
}

int confidence_value_list_append(confidence_value *list, confidence_value *item)
{
  /* Arena values stay out of heap trees (and arena lists are grown by
   * their arena), so a heap tree is freed without meeting one. */
  if (!list || list->type != CONFIDENCE_VALUE_LIST || list->in_arena || !item || item == list || item->in_arena) {
    if (item != list)
      confidence_value_free(item);
    return CONFIDENCE_EINVAL;
  }
  return cf_value_list_push(list, item, NULL);
}

const confidence_value *cf_value_get_indexed(const confidence_value *obj, const char *key, size_t key_len)
{
  size_t i = index_find(obj->u.obj.index, obj->u.obj.fields, key ? key : "", key_len);
  return i == SIZE_MAX ? NULL : obj->u.obj.fields[i].value;
}

int confidence_value_struct_set_len(confidence_value *obj, const char *key, size_t key_len, confidence_value *item)
{
  if (!obj || obj->type != CONFIDENCE_VALUE_STRUCT || obj->in_arena || !item || item == obj || item->in_arena ||
      (!key && key_len)) {
    if (item != obj)
      confidence_value_free(item);
    return CONFIDENCE_EINVAL;
  }
  return cf_value_struct_put(obj, key, key_len, item, NULL);
}

int cf_value_struct_put(confidence_value *obj, const char *key, size_t key_len, confidence_value *item, cf_arena *mem)
{
  if (!key)
    key = ""; /* (NULL, 0) is the empty key; memcmp must not see NULL */
  size_t at = field_find(obj, key, key_len);
  if (at != SIZE_MAX) {
    cf_field *f = &obj->u.obj.fields[at];
    confidence_value_free(f->value); /* nothing for an arena's */
    f->value = item;
    return 0;
  }
  char *k = key_len >= SIZE_MAX / 2 ? NULL : mem ? cf_arena_alloc_raw(mem, key_len + 1) : malloc(key_len + 1);
  if (!k || room_for_one(mem, (void **)&obj->u.obj.fields, &obj->u.obj.cap, obj->u.obj.n, sizeof(cf_field))) {
    if (!mem)
      free(k);
    confidence_value_free(item);
    return CONFIDENCE_ENOMEM;
  }
  if (key_len)
    memcpy(k, key, key_len);
  k[key_len] = '\0';
  size_t pos = obj->u.obj.n++;
  obj->u.obj.fields[pos] = (cf_field){k, key_len, item};
  index_added(obj, pos, mem);
  return 0;
}

int confidence_value_struct_set(confidence_value *obj, const char *key, confidence_value *item)
{
  if (!key) {
    confidence_value_free(item);
    return CONFIDENCE_EINVAL;
  }
  return confidence_value_struct_set_len(obj, key, strlen(key), item);
}

int confidence_value_struct_remove(confidence_value *obj, const char *key)
{
  if (!obj || obj->type != CONFIDENCE_VALUE_STRUCT || obj->in_arena || !key)
    return 0;
  size_t i = field_find(obj, key, strlen(key));
  if (i == SIZE_MAX)
    return 0;
  cf_field *f = &obj->u.obj.fields[i];
  free(f->key);
  confidence_value_free(f->value);
  memmove(f, f + 1, (obj->u.obj.n - i - 1) * sizeof *f);
  obj->u.obj.n--;
  if (obj->u.obj.index)
    index_rebuild(obj, NULL); /* positions moved; removal is O(n) anyway */
  return 1;
}

/* Frees one node whose children are gone. */
static void release_node(confidence_value *v)
{
  if (v->type == CONFIDENCE_VALUE_STRING) {
    if (v->u.s.ptr != (char *)(v + 1)) /* bytes of their own (none made here today) */
      free(v->u.s.ptr);
  } else if (v->type == CONFIDENCE_VALUE_LIST) {
    free(v->u.list.items);
  } else if (v->type == CONFIDENCE_VALUE_STRUCT) {
    free(v->u.obj.fields);
    free(v->u.obj.index);
  }
  free(v);
}

void confidence_value_free(confidence_value *v)
{
  if (v && v->in_arena)
    return; /* its arena owns it; heap trees never hold one */
  /* Depth first without a stack: the slot of the child being descended
   * into holds the link back to the parent's parent, so any depth is freed
   * with no allocation and O(1) extra memory. */
  confidence_value *parent = NULL;
  while (v) {
    confidence_value *child = NULL, **slot = NULL;
    if (v->type == CONFIDENCE_VALUE_LIST && v->u.list.n) {
      slot = &v->u.list.items[--v->u.list.n];
    } else if (v->type == CONFIDENCE_VALUE_STRUCT && v->u.obj.n) {
      cf_field *f = &v->u.obj.fields[--v->u.obj.n];
      free(f->key);
      slot = &f->value;
    }
    if (slot) {
      if ((child = *slot) != NULL) {
        *slot = parent;
        parent = v;
        v = child;
      }
      continue;
    }
    release_node(v);
    v = parent;
    if (v)
      parent = v->type == CONFIDENCE_VALUE_LIST ? v->u.list.items[v->u.list.n] : v->u.obj.fields[v->u.obj.n].value;
  }
}

/* A copy of `v` without its children; containers get room for them. */
static confidence_value *copy_node(const confidence_value *v)
{
  confidence_value *c = NULL;
  switch ((confidence_value_type)v->type) {
  case CONFIDENCE_VALUE_NULL:
    return confidence_value_new_null();
  case CONFIDENCE_VALUE_BOOL:
    return confidence_value_new_bool(v->u.b);
  case CONFIDENCE_VALUE_NUMBER:
    return confidence_value_new_number(v->u.n);
  case CONFIDENCE_VALUE_STRING:
    return confidence_value_new_string_len(v->u.s.ptr, v->u.s.len);
  case CONFIDENCE_VALUE_LIST:
    c = confidence_value_new_list();
    if (c && v->u.list.n && cf_vec_reserve((void **)&c->u.list.items, &c->u.list.cap, v->u.list.n, sizeof(confidence_value *))) {
      free(c);
      return NULL;
    }
    return c;
  case CONFIDENCE_VALUE_STRUCT:
    c = confidence_value_new_struct();
    if (c && v->u.obj.n && cf_vec_reserve((void **)&c->u.obj.fields, &c->u.obj.cap, v->u.obj.n, sizeof(cf_field))) {
      free(c);
      return NULL;
    }
    return c;
  }
  return NULL;
}

static size_t child_count(const confidence_value *v)
{
  return v->type == CONFIDENCE_VALUE_LIST ? v->u.list.n : v->type == CONFIDENCE_VALUE_STRUCT ? v->u.obj.n : 0;
}

static int is_container(const confidence_value *v)
{
  return v->type == CONFIDENCE_VALUE_LIST || v->type == CONFIDENCE_VALUE_STRUCT;
}

static const confidence_value *child_at(const confidence_value *v, size_t i)
{
  return v->type == CONFIDENCE_VALUE_LIST ? v->u.list.items[i] : v->u.obj.fields[i].value;
}

typedef struct copy_frame {
  const confidence_value *src;
  confidence_value *dst;
  size_t i; /* next child to copy */
} copy_frame;

confidence_value *confidence_value_copy(const confidence_value *v)
{
  if (!v)
    return NULL;
  confidence_value *root = copy_node(v);
  if (!root || !is_container(v))
    return root;
  /* An explicit stack of the containers being filled: heap, not C stack. */
  struct {
    copy_frame *items;
    size_t n, cap;
  } stack = {0};
  copy_frame *top = CF_VEC_PUSH(stack);
  if (!top)
    goto fail;
  *top = (copy_frame){v, root, 0};
  while (stack.n) {
    copy_frame *f = &stack.items[stack.n - 1];
    if (f->i == child_count(f->src)) {
      stack.n--;
      continue;
    }
    size_t i = f->i++;
    const confidence_value *sc = child_at(f->src, i);
    confidence_value *dst = f->dst, *dc = sc ? copy_node(sc) : NULL;
    if (!dc)
      goto fail;
    int rc = dst->type == CONFIDENCE_VALUE_LIST
                 ? confidence_value_list_append(dst, dc)
                 : confidence_value_struct_set_len(dst, f->src->u.obj.fields[i].key, f->src->u.obj.fields[i].key_len, dc);
    if (rc)
      goto fail; /* dc was freed by the call */
    if (is_container(sc) && child_count(sc)) {
      if (!(top = CF_VEC_PUSH(stack)))
        goto fail;
      *top = (copy_frame){sc, dc, 0};
    }
  }
  free(stack.items);
  return root;
fail:
  free(stack.items);
  confidence_value_free(root);
  return NULL;
}

bool cf_value_strings_all(const confidence_value *v, bool (*ok)(const char *s, size_t len))
{
  if (!v || (v->type != CONFIDENCE_VALUE_STRING && v->type != CONFIDENCE_VALUE_LIST))
    return true;
  if (v->type == CONFIDENCE_VALUE_STRING)
    return ok(v->u.s.ptr, v->u.s.len);
  typedef struct {
    const confidence_value *list;
    size_t i;
  } frame;
  struct {
    frame *items;
    size_t n, cap;
  } stack = {0};
  frame *top = CF_VEC_PUSH(stack);
  bool all = top != NULL;
  if (top)
    *top = (frame){v, 0};
  while (all && stack.n) {
    frame *f = &stack.items[stack.n - 1];
    if (f->i == f->list->u.list.n) {
      stack.n--;
      continue;
    }
    const confidence_value *e = f->list->u.list.items[f->i++];
    if (e->type == CONFIDENCE_VALUE_STRING)
      all = ok(e->u.s.ptr, e->u.s.len);
    else if (e->type == CONFIDENCE_VALUE_LIST && e->u.list.n && (top = CF_VEC_PUSH(stack)) != NULL)
      *top = (frame){e, 0};
    else if (e->type == CONFIDENCE_VALUE_LIST && e->u.list.n)
      all = false;
  }
  free(stack.items);
  return all;
}

confidence_value_type confidence_value_type_of(const confidence_value *v)
{
  return v ? (confidence_value_type)v->type : CONFIDENCE_VALUE_NULL;
}

int confidence_value_bool(const confidence_value *v) { return v && v->type == CONFIDENCE_VALUE_BOOL && v->u.b; }

double confidence_value_number(const confidence_value *v)
{
  return v && v->type == CONFIDENCE_VALUE_NUMBER ? v->u.n : 0.0;
}

const char *confidence_value_string(const confidence_value *v, size_t *len)
{
  if (!v || v->type != CONFIDENCE_VALUE_STRING) {
    if (len)
      *len = 0;
    return NULL;
  }
  if (len)
    *len = v->u.s.len;
  return v->u.s.ptr;
}

size_t confidence_value_list_size(const confidence_value *v)
{
  return v && v->type == CONFIDENCE_VALUE_LIST ? v->u.list.n : 0;
}

const confidence_value *confidence_value_list_at(const confidence_value *v, size_t i)
{
  return i < confidence_value_list_size(v) ? v->u.list.items[i] : NULL;
}

size_t confidence_value_struct_size(const confidence_value *v)
{
  return v && v->type == CONFIDENCE_VALUE_STRUCT ? v->u.obj.n : 0;
}

const char *confidence_value_struct_key_at(const confidence_value *v, size_t i, size_t *len)
{
  if (i >= confidence_value_struct_size(v)) {
    if (len)
      *len = 0;
    return NULL;
  }
  if (len)
    *len = v->u.obj.fields[i].key_len;
  return v->u.obj.fields[i].key;
}

const confidence_value *confidence_value_struct_value_at(const confidence_value *v, size_t i)
{
  return i < confidence_value_struct_size(v) ? v->u.obj.fields[i].value : NULL;
}

const confidence_value *confidence_value_struct_get(const confidence_value *v, const char *key)
{
  return key ? cf_value_get(v, key, strlen(key)) : NULL;
}

/* Compares two nodes without their children (counts included). */
static int node_equal(const confidence_value *a, const confidence_value *b)
{
  if (!a || !b)
    return a == b;
  if (a->type != b->type)
    return 0;
  switch ((confidence_value_type)a->type) {
  case CONFIDENCE_VALUE_NULL:
    return 1;
  case CONFIDENCE_VALUE_BOOL:
    return a->u.b == b->u.b;
  case CONFIDENCE_VALUE_NUMBER:
    return a->u.n == b->u.n;
  case CONFIDENCE_VALUE_STRING:
    return a->u.s.len == b->u.s.len && (a->u.s.len == 0 || memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0);
  case CONFIDENCE_VALUE_LIST:
    return a->u.list.n == b->u.list.n;
  case CONFIDENCE_VALUE_STRUCT:
    return a->u.obj.n == b->u.obj.n;
  }
  return 0;
}

typedef struct eq_frame {
  const confidence_value *a, *b;
  size_t i;
} eq_frame;

int confidence_value_equal(const confidence_value *a, const confidence_value *b)
{
  if (!node_equal(a, b))
    return 0;
  if (!a || !is_container(a) || !child_count(a))
    return 1;
  struct {
    eq_frame *items;
    size_t n, cap;
  } stack = {0};
  eq_frame *top = CF_VEC_PUSH(stack);
  int equal = top != NULL;
  if (top)
    *top = (eq_frame){a, b, 0};
  while (equal && stack.n) {
    eq_frame *f = &stack.items[stack.n - 1];
    if (f->i == child_count(f->a)) {
      stack.n--;
      continue;
    }
    size_t i = f->i++;
    const confidence_value *ca, *cb;
    if (f->a->type == CONFIDENCE_VALUE_LIST) {
      ca = f->a->u.list.items[i];
      cb = f->b->u.list.items[i];
    } else {
      const cf_field *fa = &f->a->u.obj.fields[i];
      ca = fa->value;
      cb = cf_value_get(f->b, fa->key, fa->key_len);
      if (!cb)
        equal = 0;
    }
    if (!equal || !node_equal(ca, cb)) {
      equal = 0;
    } else if (ca && is_container(ca) && child_count(ca)) {
      if ((top = CF_VEC_PUSH(stack)) != NULL)
        *top = (eq_frame){ca, cb, 0};
      else
        equal = 0; /* documented: no memory for the walk compares unequal */
    }
  }
  free(stack.items);
  return equal;
}
