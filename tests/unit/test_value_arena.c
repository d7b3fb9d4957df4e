/* Values built in an arena: the same trees as the heap API builds, read,
 * compared, copied and serialised alike; the heap API and the arena refuse
 * each other's values; reset drops a tree and the next one is built in the
 * memory kept. Leaks and use after reset show under ASan and valgrind. */
#include <confidence/confidence.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* {"targeting_key":"user-1","n":1.5,"b":true,"z":null,"l":[1,"x",{"k":"v"}],"s":{"a":"b"}} */
static confidence_value *sample_heap(void)
{
  confidence_value *o = confidence_value_new_struct(), *l = confidence_value_new_list();
  confidence_value *inner = confidence_value_new_struct(), *s = confidence_value_new_struct();
  confidence_value_struct_set(o, "targeting_key", confidence_value_new_string("user-1"));
  confidence_value_struct_set(o, "n", confidence_value_new_number(1.5));
  confidence_value_struct_set(o, "b", confidence_value_new_bool(1));
  confidence_value_struct_set(o, "z", confidence_value_new_null());
  confidence_value_list_append(l, confidence_value_new_number(1));
  confidence_value_list_append(l, confidence_value_new_string("x"));
  confidence_value_struct_set(inner, "k", confidence_value_new_string("v"));
  confidence_value_list_append(l, inner);
  confidence_value_struct_set(o, "l", l);
  confidence_value_struct_set(s, "a", confidence_value_new_string("b"));
  confidence_value_struct_set(o, "s", s);
  return o;
}

static int set(confidence_value_arena *a, confidence_value *o, const char *k, confidence_value *v)
{
  return confidence_value_arena_struct_set_len(a, o, k, strlen(k), v);
}

static confidence_value *sample_arena(confidence_value_arena *a)
{
  confidence_value *o = confidence_value_arena_struct(a), *l = confidence_value_arena_list(a);
  confidence_value *inner = confidence_value_arena_struct(a), *s = confidence_value_arena_struct(a);
  int rc = set(a, o, "targeting_key", confidence_value_arena_string_len(a, "user-1", 6));
  rc |= set(a, o, "n", confidence_value_arena_number(a, 1.5));
  rc |= set(a, o, "b", confidence_value_arena_bool(a, 7));
  rc |= set(a, o, "z", confidence_value_arena_null(a));
  rc |= confidence_value_arena_list_append(a, l, confidence_value_arena_number(a, 1));
  rc |= confidence_value_arena_list_append(a, l, confidence_value_arena_string_len(a, "x", 1));
  rc |= set(a, inner, "k", confidence_value_arena_string_len(a, "v", 1));
  rc |= confidence_value_arena_list_append(a, l, inner);
  rc |= set(a, o, "l", l);
  rc |= set(a, s, "a", confidence_value_arena_string_len(a, "b", 1));
  rc |= set(a, o, "s", s);
  CHECK(rc == 0);
  return o;
}

static void test_same_tree_as_the_heap(void)
{
  confidence_value_arena *a = confidence_value_arena_new();
  CHECK(a != NULL);
  confidence_value *heap = sample_heap(), *tree = sample_arena(a);
  CHECK(confidence_value_equal(heap, tree));
  char *j1 = confidence_value_to_json(heap), *j2 = confidence_value_to_json(tree);
  CHECK_STR(j2, j1);
  CHECK_STR(j2, "{\"targeting_key\":\"user-1\",\"n\":1.5,\"b\":true,\"z\":null,\"l\":[1,\"x\",{\"k\":\"v\"}],\"s\":{\"a\":\"b\"}}");
  confidence_string_free(j1);
  confidence_string_free(j2);
  /* A copy is a heap tree of its own: it outlives the arena's reset. */
  confidence_value *copy = confidence_value_copy(tree);
  confidence_value_arena_reset(a);
  CHECK(confidence_value_equal(copy, heap));
  CHECK(confidence_value_struct_set(copy, "more", confidence_value_new_null()) == 0);
  confidence_value_free(copy);
  confidence_value_free(heap);
  confidence_value_arena_free(a);
}

static void test_keys_and_strings(void)
{
  confidence_value_arena *a = confidence_value_arena_new();
  confidence_value *o = confidence_value_arena_struct(a);
  /* A key set again keeps its place and takes the new value. */
  CHECK(set(a, o, "first", confidence_value_arena_number(a, 1)) == 0);
  CHECK(set(a, o, "second", confidence_value_arena_number(a, 2)) == 0);
  CHECK(set(a, o, "first", confidence_value_arena_number(a, 3)) == 0);
  CHECK(confidence_value_struct_size(o) == 2);
  CHECK_STR(confidence_value_struct_key_at(o, 0, NULL), "first");
  CHECK(confidence_value_number(confidence_value_struct_value_at(o, 0)) == 3);
  /* Bytes are kept whole, NULs included; (NULL, 0) is the empty key. */
  size_t n = 0;
  CHECK(confidence_value_arena_struct_set_len(a, o, "a\0b", 3, confidence_value_arena_string_len(a, "x\0y", 3)) == 0);
  const char *k = confidence_value_struct_key_at(o, 2, &n);
  CHECK(n == 3 && memcmp(k, "a\0b", 3) == 0);
  const char *sv = confidence_value_string(confidence_value_struct_value_at(o, 2), &n);
  CHECK(n == 3 && memcmp(sv, "x\0y", 4) == 0);
  CHECK(confidence_value_arena_struct_set_len(a, o, NULL, 0, confidence_value_arena_bool(a, 0)) == 0);
  CHECK(confidence_value_struct_get(o, "") != NULL);
  CHECK(confidence_value_arena_struct_set_len(a, o, NULL, 1, confidence_value_arena_null(a)) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_arena_string_len(a, NULL, 1) == NULL);
  CHECK(confidence_value_arena_string_len(a, "x", SIZE_MAX) == NULL); /* a length whose + 1 wraps */
  CHECK(confidence_value_arena_struct_set_len(a, o, "x", SIZE_MAX, confidence_value_arena_null(a)) ==
        CONFIDENCE_ENOMEM);
  sv = confidence_value_string(confidence_value_arena_string_len(a, NULL, 0), &n);
  CHECK(sv && n == 0 && *sv == '\0');
  confidence_value_arena_free(a);
}

/* Past a few fields a struct is indexed; the index lives in the arena too. */
static void test_many_fields(void)
{
  confidence_value_arena *a = confidence_value_arena_new();
  for (int round = 0; round < 3; round++) {
    confidence_value *o = confidence_value_arena_struct(a), *l = confidence_value_arena_list(a);
    char key[32];
    int rc = 0;
    for (int i = 0; i < 5000; i++) {
      snprintf(key, sizeof key, "attr-%d", i);
      rc |= set(a, o, key, confidence_value_arena_number(a, i));
      rc |= confidence_value_arena_list_append(a, l, confidence_value_arena_number(a, -i));
    }
    CHECK(rc == 0);
    rc |= set(a, o, "attr-77", confidence_value_arena_string_len(a, "again", 5));
    CHECK(rc == 0 && confidence_value_struct_size(o) == 5000 && confidence_value_list_size(l) == 5000);
    int found = 0;
    for (int i = 0; i < 5000; i++) {
      snprintf(key, sizeof key, "attr-%d", i);
      const confidence_value *v = confidence_value_struct_get(o, key);
      found += i == 77 ? confidence_value_type_of(v) == CONFIDENCE_VALUE_STRING
                       : confidence_value_number(v) == i && confidence_value_number(confidence_value_list_at(l, (size_t)i)) == -i;
    }
    CHECK(found == 5000);
    CHECK(confidence_value_struct_get(o, "attr-5000") == NULL);
    confidence_value_arena_reset(a); /* the next round reuses the memory kept */
  }
  confidence_value_arena_free(a);
}

/* Each side refuses the other's values, so a heap tree never holds an arena
 * value (freeing it would free arena memory) and the reverse. */
static void test_refusals(void)
{
  confidence_value_arena *a = confidence_value_arena_new();
  confidence_value *ao = confidence_value_arena_struct(a), *al = confidence_value_arena_list(a);
  confidence_value *item = confidence_value_arena_string_len(a, "kept", 4);
  confidence_value *ho = confidence_value_new_struct(), *hl = confidence_value_new_list();
  CHECK(confidence_value_struct_set(ho, "k", item) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_list_append(hl, item) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_struct_set(ao, "k", confidence_value_new_null()) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_list_append(al, confidence_value_new_null()) == CONFIDENCE_EINVAL);
  CHECK(set(a, ao, "k", confidence_value_new_string("heap")) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_arena_list_append(a, al, confidence_value_new_string("heap")) == CONFIDENCE_EINVAL);
  CHECK(set(a, ho, "k", confidence_value_arena_null(a)) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_arena_list_append(a, hl, confidence_value_arena_null(a)) == CONFIDENCE_EINVAL);
  CHECK(set(a, ao, "self", ao) == CONFIDENCE_EINVAL);
  CHECK(set(a, al, "k", item) == CONFIDENCE_EINVAL);           /* not a struct */
  CHECK(confidence_value_arena_list_append(a, ao, item) == CONFIDENCE_EINVAL); /* not a list */
  CHECK(set(NULL, ao, "k", item) == CONFIDENCE_EINVAL);
  confidence_value_free(item); /* the arena's: nothing happens */
  CHECK(set(a, ao, "k", item) == 0);
  CHECK(confidence_value_struct_remove(ao, "k") == 0);
  CHECK_STR(confidence_value_string(confidence_value_struct_get(ao, "k"), NULL), "kept");
  CHECK(confidence_value_struct_size(ho) == 0 && confidence_value_list_size(hl) == 0);
  confidence_value_free(ho);
  confidence_value_free(hl);
  CHECK(confidence_value_arena_struct(NULL) == NULL && confidence_value_arena_null(NULL) == NULL);
  confidence_value_arena_reset(NULL);
  confidence_value_arena_free(NULL);
  confidence_value_arena_free(a);
}

int main(void)
{
  test_same_tree_as_the_heap();
  test_keys_and_strings();
  test_many_fields();
  test_refusals();
  return check_finish();
}
