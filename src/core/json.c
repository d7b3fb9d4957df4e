/* JSON in (jansson, all numbers as doubles) and out (own writer, so numbers
 * print in the shortest round-trip form the reference uses). */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "textconv.h"
#include "util.h"
#include "value_internal.h"

/* Recursion here is bounded: jansson refuses input nesting deeper than
 * JSON_PARSER_MAX_DEPTH (2048 in the packaged build), reported as ELIMIT. */
static confidence_value *from_jansson(json_t *j)
{
  switch (json_typeof(j)) {
  case JSON_NULL:
    return confidence_value_new_null();
  case JSON_TRUE:
    return confidence_value_new_bool(1);
  case JSON_FALSE:
    return confidence_value_new_bool(0);
  case JSON_INTEGER:
    return confidence_value_new_number((double)json_integer_value(j));
  case JSON_REAL:
    return confidence_value_new_number(json_real_value(j));
  case JSON_STRING:
    return confidence_value_new_string_len(json_string_value(j), json_string_length(j));
  case JSON_ARRAY: {
    confidence_value *l = confidence_value_new_list();
    size_t i;
    json_t *item;
    json_array_foreach(j, i, item)
    {
      confidence_value *c = from_jansson(item);
      if (!l || !c || confidence_value_list_append(l, c)) {
        if (!l)
          confidence_value_free(c);
        confidence_value_free(l);
        return NULL;
      }
    }
    return l;
  }
  case JSON_OBJECT: {
    confidence_value *o = confidence_value_new_struct();
    const char *key;
    size_t key_len;
    json_t *item;
    void *tmp;
    json_object_keylen_foreach_safe(j, tmp, key, key_len, item)
    {
      confidence_value *c = from_jansson(item);
      if (!o || !c || confidence_value_struct_set_len(o, key, key_len, c)) {
        if (!o)
          confidence_value_free(c);
        confidence_value_free(o);
        return NULL;
      }
    }
    return o;
  }
  }
  return NULL;
}

int confidence_value_from_json(const char *json, size_t len, confidence_value **out)
{
  if (!out || (!json && len))
    return cf_error(CONFIDENCE_EINVAL, "no JSON text given");
  *out = NULL;
  json_error_t err;
  json_t *root = json_loadb(json ? json : "", len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &err);
  if (!root && json_error_code(&err) == json_error_stack_overflow)
    return cf_error(CONFIDENCE_ELIMIT, "JSON nests deeper than %d levels (line %d column %d)", JSON_PARSER_MAX_DEPTH,
                    err.line, err.column);
  if (!root)
    return cf_error(CONFIDENCE_EPARSE, "invalid JSON at line %d column %d: %s", err.line, err.column, err.text);
  *out = from_jansson(root);
  json_decref(root);
  if (!*out)
    return cf_error(CONFIDENCE_ENOMEM, "out of memory converting JSON");
  return 0;
}

/* ---- writer ------------------------------------------------------------- */

typedef struct {
  char *buf;
  size_t len, cap;
  int failed;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
  if (b->failed)
    return;
  if (cf_vec_reserve((void **)&b->buf, &b->cap, b->len + n + 1, 1)) {
    b->failed = 1;
    return;
  }
  memcpy(b->buf + b->len, s, n);
  b->len += n;
  b->buf[b->len] = '\0';
}

static void put_string(sbuf *b, const char *s, size_t n)
{
  put(b, "\"", 1);
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    put(b, s + start, i - start);
    char esc[8];
    switch (c) {
    case '"': put(b, "\\\"", 2); break;
    case '\\': put(b, "\\\\", 2); break;
    case '\n': put(b, "\\n", 2); break;
    case '\r': put(b, "\\r", 2); break;
    case '\t': put(b, "\\t", 2); break;
    default:
      snprintf(esc, sizeof esc, "\\u%04x", c);
      put(b, esc, 6);
    }
    start = i + 1;
  }
  put(b, s + start, n - start);
  put(b, "\"", 1);
}

/* Integers below 2^53 in magnitude: their decimal digits are already the
 * shortest round-trip form (every shorter digit string is another exactly
 * representable integer), so skip the general search, which dominates the
 * cost of printing big contexts. */
static size_t fmt_number(double x, char buf[CF_NUMBUF])
{
  if (x == 0 || !(x > -9007199254740992.0 && x < 9007199254740992.0) || x != (double)(int64_t)x)
    return cf_fmt_f64(x, buf);
  uint64_t u = x < 0 ? (uint64_t)(-(int64_t)x) : (uint64_t)x;
  char tmp[24];
  size_t n = 0, o = 0;
  while (u) {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  }
  if (x < 0)
    buf[o++] = '-';
  while (n)
    buf[o++] = tmp[--n];
  buf[o] = '\0';
  return o;
}

static void put_scalar(sbuf *b, const confidence_value *v)
{
  switch (v ? (confidence_value_type)v->type : CONFIDENCE_VALUE_NULL) {
  case CONFIDENCE_VALUE_BOOL:
    put(b, v->u.b ? "true" : "false", v->u.b ? 4 : 5);
    break;
  case CONFIDENCE_VALUE_NUMBER:
    if (!isfinite(v->u.n)) {
      put(b, "null", 4);
    } else {
      char num[CF_NUMBUF];
      put(b, num, fmt_number(v->u.n, num));
    }
    break;
  case CONFIDENCE_VALUE_STRING:
    put_string(b, v->u.s.ptr, v->u.s.len);
    break;
  default:
    put(b, "null", 4);
    break;
  }
}

static bool is_container(const confidence_value *v)
{
  return v && (v->type == CONFIDENCE_VALUE_LIST || v->type == CONFIDENCE_VALUE_STRUCT);
}

typedef struct out_frame {
  const confidence_value *v;
  size_t i; /* next child to print */
} out_frame;

char *confidence_value_to_json(const confidence_value *v)
{
  sbuf b = {0};
  /* Containers being printed live on a heap stack, so any depth prints. */
  struct {
    out_frame *items;
    size_t n, cap;
  } stack = {0};
  if (!is_container(v)) {
    put_scalar(&b, v);
  } else {
    out_frame *top = CF_VEC_PUSH(stack);
    if (top) {
      *top = (out_frame){v, 0};
      put(&b, v->type == CONFIDENCE_VALUE_LIST ? "[" : "{", 1);
    } else {
      b.failed = 1;
    }
  }
  while (stack.n && !b.failed) {
    out_frame *f = &stack.items[stack.n - 1];
    const confidence_value *c = f->v;
    bool list = c->type == CONFIDENCE_VALUE_LIST;
    if (f->i == (list ? c->u.list.n : c->u.obj.n)) {
      put(&b, list ? "]" : "}", 1);
      stack.n--;
      continue;
    }
    size_t i = f->i++;
    if (i)
      put(&b, ",", 1);
    const confidence_value *child = list ? c->u.list.items[i] : c->u.obj.fields[i].value;
    if (!list) {
      put_string(&b, c->u.obj.fields[i].key, c->u.obj.fields[i].key_len);
      put(&b, ":", 1);
    }
    if (!is_container(child)) {
      put_scalar(&b, child);
      continue;
    }
    out_frame *top = CF_VEC_PUSH(stack);
    if (!top) {
      b.failed = 1;
      break;
    }
    *top = (out_frame){child, 0};
    put(&b, child->type == CONFIDENCE_VALUE_LIST ? "[" : "{", 1);
  }
  free(stack.items);
  if (b.failed) {
    free(b.buf);
    return NULL;
  }
  return b.buf;
}
