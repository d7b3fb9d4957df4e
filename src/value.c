/* The public value tree: construction, reading, copying, equality. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "value_internal.h"

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
  if (!s && len)
    return NULL;
  confidence_value *v = new_value(CONFIDENCE_VALUE_STRING);
  if (!v)
    return NULL;
  v->u.s.ptr = malloc(len + 1);
  if (!v->u.s.ptr) {
    free(v);
    return NULL;
  }
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

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
  if (n < *cap)
    return 0;
  size_t ncap = *cap ? *cap * 2 : 4;
  void *p = realloc(*arr, ncap * elem);
  if (!p)
    return CONFIDENCE_ENOMEM;
  *arr = p;
  *cap = ncap;
  return 0;
}

int confidence_value_list_append(confidence_value *list, confidence_value *item)
{
  if (!list || list->type != CONFIDENCE_VALUE_LIST || !item || item == list) {
    if (item != list)
      confidence_value_free(item);
    return CONFIDENCE_EINVAL;
  }
  if (grow((void **)&list->u.list.items, &list->u.list.cap, list->u.list.n, sizeof(confidence_value *))) {
    confidence_value_free(item);
    return CONFIDENCE_ENOMEM;
  }
  list->u.list.items[list->u.list.n++] = item;
  return 0;
}

const confidence_value *cf_value_get(const confidence_value *obj, const char *key, size_t key_len)
{
  if (!obj || obj->type != CONFIDENCE_VALUE_STRUCT)
    return NULL;
  for (size_t i = 0; i < obj->u.obj.n; i++) {
    const cf_field *f = &obj->u.obj.fields[i];
    if (f->key_len == key_len && memcmp(f->key, key, key_len) == 0)
      return f->value;
  }
  return NULL;
}

int confidence_value_struct_set_len(confidence_value *obj, const char *key, size_t key_len, confidence_value *item)
{
  if (!obj || obj->type != CONFIDENCE_VALUE_STRUCT || !item || item == obj || (!key && key_len)) {
    if (item != obj)
      confidence_value_free(item);
    return CONFIDENCE_EINVAL;
  }
  if (!key)
    key = ""; /* (NULL, 0) is the empty key; memcmp must not see NULL */
  for (size_t i = 0; i < obj->u.obj.n; i++) {
    cf_field *f = &obj->u.obj.fields[i];
    if (f->key_len == key_len && memcmp(f->key, key, key_len) == 0) {
      confidence_value_free(f->value);
      f->value = item;
      return 0;
    }
  }
  char *k = malloc(key_len + 1);
  if (!k || grow((void **)&obj->u.obj.fields, &obj->u.obj.cap, obj->u.obj.n, sizeof(cf_field))) {
    free(k);
    confidence_value_free(item);
    return CONFIDENCE_ENOMEM;
  }
  if (key_len)
    memcpy(k, key, key_len);
  k[key_len] = '\0';
  obj->u.obj.fields[obj->u.obj.n++] = (cf_field){k, key_len, item};
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
  if (!obj || obj->type != CONFIDENCE_VALUE_STRUCT || !key)
    return 0;
  size_t len = strlen(key);
  for (size_t i = 0; i < obj->u.obj.n; i++) {
    cf_field *f = &obj->u.obj.fields[i];
    if (f->key_len == len && memcmp(f->key, key, len) == 0) {
      free(f->key);
      confidence_value_free(f->value);
      memmove(f, f + 1, (obj->u.obj.n - i - 1) * sizeof *f);
      obj->u.obj.n--;
      return 1;
    }
  }
  return 0;
}

void confidence_value_free(confidence_value *v)
{
  if (!v)
    return;
  switch (v->type) {
  case CONFIDENCE_VALUE_STRING:
    free(v->u.s.ptr);
    break;
  case CONFIDENCE_VALUE_LIST:
    for (size_t i = 0; i < v->u.list.n; i++)
      confidence_value_free(v->u.list.items[i]);
    free(v->u.list.items);
    break;
  case CONFIDENCE_VALUE_STRUCT:
    for (size_t i = 0; i < v->u.obj.n; i++) {
      free(v->u.obj.fields[i].key);
      confidence_value_free(v->u.obj.fields[i].value);
    }
    free(v->u.obj.fields);
    break;
  default:
    break;
  }
  free(v);
}

confidence_value *confidence_value_copy(const confidence_value *v)
{
  if (!v)
    return NULL;
  switch ((confidence_value_type)v->type) {
  case CONFIDENCE_VALUE_NULL:
    return confidence_value_new_null();
  case CONFIDENCE_VALUE_BOOL:
    return confidence_value_new_bool(v->u.b);
  case CONFIDENCE_VALUE_NUMBER:
    return confidence_value_new_number(v->u.n);
  case CONFIDENCE_VALUE_STRING:
    return confidence_value_new_string_len(v->u.s.ptr, v->u.s.len);
  case CONFIDENCE_VALUE_LIST: {
    confidence_value *l = confidence_value_new_list();
    for (size_t i = 0; l && i < v->u.list.n; i++) {
      confidence_value *c = confidence_value_copy(v->u.list.items[i]);
      if (!c || confidence_value_list_append(l, c)) {
        confidence_value_free(l);
        return NULL;
      }
    }
    return l;
  }
  case CONFIDENCE_VALUE_STRUCT: {
    confidence_value *o = confidence_value_new_struct();
    for (size_t i = 0; o && i < v->u.obj.n; i++) {
      const cf_field *f = &v->u.obj.fields[i];
      confidence_value *c = confidence_value_copy(f->value);
      if (!c || confidence_value_struct_set_len(o, f->key, f->key_len, c)) {
        confidence_value_free(o);
        return NULL;
      }
    }
    return o;
  }
  }
  return NULL;
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

int confidence_value_equal(const confidence_value *a, const confidence_value *b)
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
    return a->u.s.len == b->u.s.len && memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0;
  case CONFIDENCE_VALUE_LIST:
    if (a->u.list.n != b->u.list.n)
      return 0;
    for (size_t i = 0; i < a->u.list.n; i++)
      if (!confidence_value_equal(a->u.list.items[i], b->u.list.items[i]))
        return 0;
    return 1;
  case CONFIDENCE_VALUE_STRUCT:
    if (a->u.obj.n != b->u.obj.n)
      return 0;
    for (size_t i = 0; i < a->u.obj.n; i++) {
      const cf_field *f = &a->u.obj.fields[i];
      if (!confidence_value_equal(f->value, cf_value_get(b, f->key, f->key_len)))
        return 0;
    }
    return 1;
  }
  return 0;
}
