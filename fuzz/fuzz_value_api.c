/* fuzz_value_api: input bytes -> a program over the public value API.
 *
 * Each byte picks an operation on a small stack of values: push scalars,
 * strings and containers; append / set / remove / look up; wrap the top in
 * up to 65,535 more levels (lists, structs or both in turn) or widen a
 * struct by up to 65,535 fields with repeating keys. Checks along the way:
 * copy is equal to its original both ways and prints the same JSON;
 * to_json -> from_json reprints identically (or the parser's depth limit or
 * UTF-8 check refuses it); a struct lookup finds what was set last and
 * order follows first insertion; the context schema derives; a struct
 * resolves every flag of the resolver-spec state without failing outward.
 * Nodes per input are capped so one input stays well under a second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_schema.h"
#include "fuzz_common.h"

#define STACK 8
#define MAX_NODES 150000 /* deeper than any recursion survives under ASan */

static confidence_state *g_state;
static bool g_nan; /* a NaN exists: equality is by == (NaN != NaN), skip it */
static fz_dict g_dict;
static confidence_resolve_result *g_res;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  g_state = fz_load_spec_state("fuzz_value_api", &g_dict);
  g_res = confidence_resolve_result_new();
  if (!g_res)
    exit(1);
  return 0;
}

typedef struct vm {
  confidence_value *v[STACK];
  size_t n;
  size_t nodes; /* created so far, against MAX_NODES */
} vm;

static void push(vm *m, confidence_value *v)
{
  FZ_CHECK(v != NULL);
  if (m->n == STACK) {
    confidence_value_free(m->v[0]);
    memmove(m->v, m->v + 1, (STACK - 1) * sizeof m->v[0]);
    m->n--;
  }
  m->v[m->n++] = v;
  m->nodes++;
}

static confidence_value *pop(vm *m) { return m->n ? m->v[--m->n] : NULL; }
static confidence_value *top(vm *m) { return m->n ? m->v[m->n - 1] : NULL; }

/* A key from the input: a dictionary path piece or raw bytes (NULs too). */
static const char *key_of(fz_in *in, size_t *len, char buf[64])
{
  uint8_t sel = fz_u8(in);
  if (sel & 0x80) {
    const char *k = fz_pick(&g_dict.keys, sel & 0x7f, "k");
    *len = strlen(k);
    return k;
  }
  size_t got = 0;
  const uint8_t *p = fz_bytes(in, sel % 12, &got);
  if (got)
    memcpy(buf, p, got);
  *len = got;
  return buf;
}

static void check_copy(const confidence_value *v)
{
  confidence_value *c = confidence_value_copy(v);
  FZ_CHECK(c != NULL);
  FZ_CHECK(g_nan || (confidence_value_equal(v, c) && confidence_value_equal(c, v)));
  char *a = confidence_value_to_json(v), *b = confidence_value_to_json(c);
  FZ_CHECK(a && b && strcmp(a, b) == 0);
  confidence_string_free(a);
  confidence_string_free(b);
  confidence_value_free(c);
}

/* to_json -> from_json: the first trip may normalise (NaN and infinities
 * print as null, -0 may read back as 0); from then on text and value are
 * fixed points. */
static void check_json(const confidence_value *v)
{
  char *text = confidence_value_to_json(v);
  FZ_CHECK(text != NULL);
  confidence_value *back = NULL;
  int rc = confidence_value_from_json(text, strlen(text), &back);
  if (rc == 0) {
    char *text2 = confidence_value_to_json(back);
    confidence_value *back2 = NULL;
    FZ_CHECK(text2 && confidence_value_from_json(text2, strlen(text2), &back2) == 0);
    char *text3 = confidence_value_to_json(back2);
    FZ_CHECK(text3 && strcmp(text2, text3) == 0);
    FZ_CHECK(confidence_value_equal(back, back2));
    confidence_string_free(text2);
    confidence_string_free(text3);
    confidence_value_free(back2);
  } else {
    /* Too deep for the parser, or a string that is not UTF-8. */
    FZ_CHECK(rc == CONFIDENCE_ELIMIT || rc == CONFIDENCE_EPARSE);
    FZ_CHECK(back == NULL);
  }
  confidence_value_free(back);
  confidence_string_free(text);
}

static void check_resolve(const confidence_value *ctx, unsigned sel)
{
  cf_schema *s = cf_schema_derive(ctx);
  FZ_CHECK(s != NULL);
  for (size_t i = 1; i < s->n; i++)
    FZ_CHECK(strcmp(s->fields[i - 1].path, s->fields[i].path) <= 0);
  cf_schema_free(s);
  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = "test-secret";
  req.context = ctx;
  req.materialization_mode = CONFIDENCE_MATERIALIZATIONS_DISCOVER;
  int rc = fz_resolve_checked(g_state, &req, g_res, &g_dict, sel, NULL);
  if (confidence_value_type_of(ctx) == CONFIDENCE_VALUE_STRUCT)
    FZ_CHECK(rc == 0 || rc == CONFIDENCE_ERESOLVE);
  else
    FZ_CHECK(rc == CONFIDENCE_EINVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fz_in in = {data, size, 0};
  g_nan = false;
  vm m = {{0}, 0, 0};
  char kb[64];
  while (!fz_done(&in) && m.nodes < MAX_NODES) {
    uint8_t op = fz_u8(&in);
    switch (op % 16) {
    case 0:
      push(&m, confidence_value_new_null());
      break;
    case 1:
      push(&m, confidence_value_new_bool(fz_u8(&in) & 1));
      break;
    case 2: {
      double d = fz_u8(&in) & 1 ? fz_f64(&in) : (double)(int8_t)fz_u8(&in);
      g_nan |= d != d;
      push(&m, confidence_value_new_number(d));
      break;
    }
    case 3: {
      uint8_t sel = fz_u8(&in);
      if (sel & 0x80) {
        push(&m, confidence_value_new_string(fz_pick(&g_dict.strings, sel & 0x7f, "")));
      } else {
        size_t got = 0;
        const uint8_t *p = fz_bytes(&in, sel % 24, &got);
        push(&m, confidence_value_new_string_len((const char *)p, got));
      }
      break;
    }
    case 4:
      push(&m, confidence_value_new_list());
      break;
    case 5:
      push(&m, confidence_value_new_struct());
      break;
    case 6: { /* append the top into the list below it */
      if (m.n < 2 || confidence_value_type_of(m.v[m.n - 2]) != CONFIDENCE_VALUE_LIST)
        break;
      confidence_value *item = pop(&m);
      size_t before = confidence_value_list_size(top(&m));
      FZ_CHECK(confidence_value_list_append(top(&m), item) == 0);
      FZ_CHECK(confidence_value_list_size(top(&m)) == before + 1);
      FZ_CHECK(confidence_value_list_at(top(&m), before) == item);
      break;
    }
    case 7: { /* set the top into the struct below it */
      size_t klen;
      const char *key = key_of(&in, &klen, kb);
      if (m.n < 2 || confidence_value_type_of(m.v[m.n - 2]) != CONFIDENCE_VALUE_STRUCT)
        break;
      confidence_value *item = pop(&m), *obj = top(&m);
      size_t before = confidence_value_struct_size(obj);
      int existed = 0;
      for (size_t i = 0; i < before && !existed; i++) {
        size_t l;
        const char *k = confidence_value_struct_key_at(obj, i, &l);
        existed = l == klen && (klen == 0 || memcmp(k, key, klen) == 0);
      }
      FZ_CHECK(confidence_value_struct_set_len(obj, key, klen, item) == 0);
      FZ_CHECK(confidence_value_struct_size(obj) == before + !existed);
      if (!existed)
        FZ_CHECK(confidence_value_struct_value_at(obj, before) == item);
      if (!memchr(key, 0, klen)) {
        char z[64];
        memcpy(z, key, klen);
        z[klen] = 0;
        FZ_CHECK(confidence_value_struct_get(obj, z) == item);
      }
      break;
    }
    case 8: { /* remove a key from the top struct */
      size_t klen;
      const char *key = key_of(&in, &klen, kb);
      char z[64];
      memcpy(z, key, klen);
      z[klen] = 0;
      confidence_value *obj = top(&m);
      if (confidence_value_type_of(obj) != CONFIDENCE_VALUE_STRUCT)
        break;
      size_t before = confidence_value_struct_size(obj);
      int had = confidence_value_struct_get(obj, z) != NULL;
      FZ_CHECK(confidence_value_struct_remove(obj, z) == had);
      FZ_CHECK(confidence_value_struct_size(obj) == before - (size_t)had);
      FZ_CHECK(confidence_value_struct_get(obj, z) == NULL);
      break;
    }
    case 9: { /* wrap the top in many levels */
      unsigned levels = fz_u16(&in), kind = fz_u8(&in) % 3;
      if (!m.n || m.nodes + levels > MAX_NODES)
        break;
      confidence_value *v = pop(&m);
      for (unsigned i = 0; i < levels; i++) {
        int list = kind == 0 || (kind == 2 && (i & 1));
        confidence_value *c = list ? confidence_value_new_list() : confidence_value_new_struct();
        FZ_CHECK(c != NULL);
        FZ_CHECK((list ? confidence_value_list_append(c, v) : confidence_value_struct_set(c, "d", v)) == 0);
        v = c;
      }
      m.nodes += levels;
      push(&m, v);
      break;
    }
    case 10: { /* widen the top struct: keys repeat every `period` */
      unsigned count = fz_u16(&in), period = 1u + fz_u16(&in);
      confidence_value *obj = top(&m);
      if (confidence_value_type_of(obj) != CONFIDENCE_VALUE_STRUCT || m.nodes + count > MAX_NODES)
        break;
      for (unsigned i = 0; i < count; i++) {
        char key[24];
        snprintf(key, sizeof key, "w%u", i % period);
        FZ_CHECK(confidence_value_struct_set(obj, key, confidence_value_new_number(i)) == 0);
      }
      m.nodes += count;
      /* The last write of each key wins. */
      for (unsigned r = 0; r < count && r < period; r++) {
        char key[24];
        snprintf(key, sizeof key, "w%u", r);
        unsigned last = r + (count - 1 - r) / period * period;
        FZ_CHECK(confidence_value_number(confidence_value_struct_get(obj, key)) == (double)last);
      }
      break;
    }
    case 11:
      if (m.n && m.nodes * 2 < MAX_NODES) {
        confidence_value *c = confidence_value_copy(top(&m));
        FZ_CHECK(c != NULL);
        FZ_CHECK(g_nan || confidence_value_equal(c, top(&m)));
        push(&m, c);
      }
      break;
    case 12:
      if (m.n)
        check_copy(top(&m));
      if (m.n >= 2)
        FZ_CHECK(confidence_value_equal(m.v[m.n - 1], m.v[m.n - 2]) ==
                 confidence_value_equal(m.v[m.n - 2], m.v[m.n - 1]));
      break;
    case 13:
      confidence_value_free(pop(&m));
      break;
    case 14:
      if (m.n)
        check_resolve(top(&m), fz_u8(&in));
      break;
    case 15:
      if (m.n)
        check_json(top(&m));
      break;
    }
  }
  /* What is left on top goes through every check once (only the top:
   * resolving is the slow part and the ops above check the rest). */
  if (m.n) {
    check_copy(top(&m));
    check_json(top(&m));
    check_resolve(top(&m), (unsigned)m.n);
  }
  while (m.n)
    confidence_value_free(pop(&m));
  return 0;
}
