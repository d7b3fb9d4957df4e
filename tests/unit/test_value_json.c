/* The public value API (include/confidence/value.h): builders and their
 * ownership rules, readers on NULL and wrong types, copy and equality, JSON
 * parsing and printing. Run under a leak checker to verify the "takes
 * ownership even on failure" promises: the items passed to failing calls
 * below are deliberately not freed here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "confidence/confidence.h"

static confidence_value *parse(const char *json)
{
  confidence_value *v = NULL;
  int rc = confidence_value_from_json(json, strlen(json), &v);
  CHECK(rc == 0 && v != NULL);
  if (rc)
    fprintf(stderr, "  cannot parse %s: %s\n", json, confidence_last_error_message());
  return v;
}

static void json_is(const confidence_value *v, const char *want)
{
  char *got = confidence_value_to_json(v);
  CHECK_STR(got, want);
  confidence_string_free(got);
}

/* Parses `in` and prints it back. */
static void reprints(const char *in, const char *want)
{
  confidence_value *v = parse(in);
  json_is(v, want);
  confidence_value_free(v);
}

static void parse_fails(const char *json, size_t len)
{
  confidence_value *v = (confidence_value *)&v; /* must be reset to NULL */
  int rc = confidence_value_from_json(json, len, &v);
  CHECK(rc == CONFIDENCE_EPARSE);
  CHECK(v == NULL);
  CHECK(confidence_last_error_message()[0] != '\0');
  if (rc != CONFIDENCE_EPARSE)
    fprintf(stderr, "  %.*s: rc=%d\n", (int)len, json, rc);
}

#define PARSE_FAILS(lit) parse_fails(lit, sizeof(lit) - 1)

/* ---- builders and ownership --------------------------------------------- */

static void test_builders(void)
{
  confidence_value *list = confidence_value_new_list();
  CHECK(confidence_value_list_append(list, confidence_value_new_number(1)) == 0);
  CHECK(confidence_value_list_append(list, confidence_value_new_string("two")) == 0);
  CHECK(confidence_value_list_append(list, confidence_value_new_null()) == 0);
  CHECK(confidence_value_list_size(list) == 3);
  CHECK(confidence_value_number(confidence_value_list_at(list, 0)) == 1.0);
  CHECK_STR(confidence_value_string(confidence_value_list_at(list, 1), NULL), "two");
  CHECK(confidence_value_type_of(confidence_value_list_at(list, 2)) == CONFIDENCE_VALUE_NULL);
  CHECK(confidence_value_list_at(list, 3) == NULL);
  /* Appending to a non-list fails and frees the item. */
  confidence_value *str = confidence_value_new_string("x");
  CHECK(confidence_value_list_append(str, confidence_value_new_bool(1)) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_list_append(NULL, confidence_value_new_number(2)) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_list_append(list, NULL) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_list_size(list) == 3);
  CHECK(confidence_value_list_append(list, list) == CONFIDENCE_EINVAL); /* not itself */
  CHECK(confidence_value_list_size(list) == 3);

  confidence_value *obj = confidence_value_new_struct();
  CHECK(confidence_value_struct_set(obj, "a", confidence_value_new_number(1)) == 0);
  CHECK(confidence_value_struct_set(obj, "b", list) == 0);
  CHECK(confidence_value_struct_size(obj) == 2);
  /* Replacing a key keeps one entry and frees the old value. */
  CHECK(confidence_value_struct_set(obj, "a", confidence_value_new_string("replaced")) == 0);
  CHECK(confidence_value_struct_size(obj) == 2);
  CHECK_STR(confidence_value_string(confidence_value_struct_get(obj, "a"), NULL), "replaced");
  /* Keys with an embedded NUL are distinct keys. */
  CHECK(confidence_value_struct_set_len(obj, "a\0z", 3, confidence_value_new_bool(1)) == 0);
  CHECK(confidence_value_struct_size(obj) == 3);
  CHECK_STR(confidence_value_string(confidence_value_struct_get(obj, "a"), NULL), "replaced");
  size_t klen = 0;
  int found_nul_key = 0;
  for (size_t i = 0; i < confidence_value_struct_size(obj); i++) {
    const char *k = confidence_value_struct_key_at(obj, i, &klen);
    if (klen == 3 && memcmp(k, "a\0z", 3) == 0)
      found_nul_key = confidence_value_bool(confidence_value_struct_value_at(obj, i));
  }
  CHECK(found_nul_key);
  /* Failing sets free the item too. */
  CHECK(confidence_value_struct_set(str, "k", confidence_value_new_number(3)) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_struct_set(NULL, "k", confidence_value_new_number(3)) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_struct_set(obj, NULL, confidence_value_new_number(3)) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_struct_set(obj, "k", NULL) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_struct_set(obj, "self", obj) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_struct_size(obj) == 3);
  /* The empty key is a key. */
  CHECK(confidence_value_struct_set(obj, "", confidence_value_new_number(0)) == 0);
  CHECK(confidence_value_struct_get(obj, "") != NULL);
  CHECK(confidence_value_struct_size(obj) == 4);
  /* Remove. */
  CHECK(confidence_value_struct_remove(obj, "a") == 1);
  CHECK(confidence_value_struct_remove(obj, "a") == 0);
  CHECK(confidence_value_struct_get(obj, "a") == NULL);
  CHECK(confidence_value_struct_size(obj) == 3);
  CHECK(confidence_value_struct_remove(obj, "missing") == 0);
  CHECK(confidence_value_struct_remove(str, "a") == 0);
  CHECK(confidence_value_struct_remove(NULL, "a") == 0);
  CHECK(confidence_value_struct_get(obj, "b") == list);
  CHECK(confidence_value_struct_remove(obj, "b") == 1); /* frees the list */
  CHECK(confidence_value_struct_size(obj) == 2);

  /* Strings keep their bytes and length, NUL included; they are copied. */
  char buf[] = "ab\0cd";
  confidence_value *s = confidence_value_new_string_len(buf, 5);
  buf[0] = 'X';
  size_t len = 0;
  const char *p = confidence_value_string(s, &len);
  CHECK(len == 5 && memcmp(p, "ab\0cd", 5) == 0 && p[5] == '\0');
  confidence_value *empty = confidence_value_new_string_len("", 0);
  CHECK(empty && confidence_value_string(empty, &len) && len == 0);
  /* NULL text must not crash (the result, if any, is an ordinary value). */
  confidence_value_free(confidence_value_new_string(NULL));
  confidence_value_free(confidence_value_new_string_len(NULL, 3));
  confidence_value *b = confidence_value_new_bool(42);
  CHECK(confidence_value_bool(b) == 1);
  confidence_value_free(b);
  confidence_value_free(empty);
  confidence_value_free(s);
  confidence_value_free(obj);
  confidence_value_free(str);
  confidence_value_free(NULL);
}

/* ---- readers on NULL and wrong types ------------------------------------- */

static void test_readers(void)
{
  CHECK(confidence_value_type_of(NULL) == CONFIDENCE_VALUE_NULL);
  CHECK(confidence_value_bool(NULL) == 0);
  CHECK(confidence_value_number(NULL) == 0.0);
  size_t len = 99;
  CHECK(confidence_value_string(NULL, &len) == NULL && len == 0);
  CHECK(confidence_value_string(NULL, NULL) == NULL);
  CHECK(confidence_value_list_size(NULL) == 0);
  CHECK(confidence_value_list_at(NULL, 0) == NULL);
  CHECK(confidence_value_struct_size(NULL) == 0);
  len = 99;
  CHECK(confidence_value_struct_key_at(NULL, 0, &len) == NULL && len == 0);
  CHECK(confidence_value_struct_value_at(NULL, 0) == NULL);
  CHECK(confidence_value_struct_get(NULL, "a") == NULL);

  confidence_value *num = confidence_value_new_number(7.5);
  confidence_value *str = confidence_value_new_string("true");
  confidence_value *t = confidence_value_new_bool(1);
  CHECK(confidence_value_type_of(num) == CONFIDENCE_VALUE_NUMBER);
  CHECK(confidence_value_bool(num) == 0);
  CHECK(confidence_value_bool(str) == 0); /* no coercion from "true" */
  CHECK(confidence_value_number(str) == 0.0);
  CHECK(confidence_value_number(t) == 0.0);
  len = 99;
  CHECK(confidence_value_string(num, &len) == NULL && len == 0);
  CHECK(confidence_value_list_size(str) == 0);
  CHECK(confidence_value_list_at(str, 0) == NULL);
  CHECK(confidence_value_struct_size(num) == 0);
  CHECK(confidence_value_struct_get(num, "a") == NULL);
  CHECK(confidence_value_struct_key_at(num, 0, NULL) == NULL);
  confidence_value *obj = parse("{\"k\":1}");
  CHECK(confidence_value_struct_get(obj, NULL) == NULL);
  CHECK(confidence_value_struct_key_at(obj, 1, NULL) == NULL);
  CHECK(confidence_value_struct_value_at(obj, 1) == NULL);
  CHECK(confidence_value_list_size(obj) == 0);
  confidence_value_free(obj);
  confidence_value_free(num);
  confidence_value_free(str);
  confidence_value_free(t);
}

/* ---- copy and equality ---------------------------------------------------- */

static void test_copy_equal(void)
{
  confidence_value *a = parse("{\"s\":\"x\",\"n\":1.5,\"b\":true,\"z\":null,\"l\":[1,[2,{\"d\":\"e\"}]],"
                              "\"o\":{\"p\":{\"q\":[]}}}");
  confidence_value *c = confidence_value_copy(a);
  CHECK(c != NULL && c != a);
  CHECK(confidence_value_equal(a, c));
  /* The copy is deep: changing the copy leaves the original alone. */
  confidence_value *inner = (confidence_value *)confidence_value_struct_get(confidence_value_struct_get(c, "o"), "p");
  CHECK(confidence_value_struct_set(inner, "new", confidence_value_new_null()) == 0);
  CHECK(!confidence_value_equal(a, c));
  CHECK(confidence_value_struct_size(confidence_value_struct_get(confidence_value_struct_get(a, "o"), "p")) == 1);
  confidence_value_free(c);
  CHECK(confidence_value_copy(NULL) == NULL);

  /* Struct key order does not matter; list order does. */
  confidence_value *x = parse("{\"a\":1,\"b\":[1,2]}");
  confidence_value *y = parse("{\"b\":[1,2],\"a\":1}");
  confidence_value *z = parse("{\"b\":[2,1],\"a\":1}");
  confidence_value *w = parse("{\"a\":1}");
  CHECK(confidence_value_equal(x, y));
  CHECK(!confidence_value_equal(x, z));
  CHECK(!confidence_value_equal(x, w));
  CHECK(!confidence_value_equal(w, x));
  /* Numbers compare with ==. */
  confidence_value *nan1 = confidence_value_new_number(NAN), *nan2 = confidence_value_new_number(NAN);
  confidence_value *pz = confidence_value_new_number(0.0), *nz = confidence_value_new_number(-0.0);
  CHECK(!confidence_value_equal(nan1, nan2));
  CHECK(confidence_value_equal(pz, nz));
  /* Types must match: 1 vs "1", true vs 1, null vs missing. */
  confidence_value *one = confidence_value_new_number(1), *one_s = confidence_value_new_string("1");
  confidence_value *tru = confidence_value_new_bool(1), *nul = confidence_value_new_null();
  CHECK(!confidence_value_equal(one, one_s));
  CHECK(!confidence_value_equal(tru, one));
  CHECK(!confidence_value_equal(nul, NULL));
  CHECK(confidence_value_equal(NULL, NULL));
  CHECK(confidence_value_equal(nul, nul));
  confidence_value *ls = confidence_value_new_list(), *ob = confidence_value_new_struct();
  CHECK(!confidence_value_equal(ls, ob));
  /* Strings compare all their bytes. */
  confidence_value *s1 = confidence_value_new_string_len("a\0b", 3), *s2 = confidence_value_new_string_len("a\0c", 3);
  confidence_value *s3 = confidence_value_new_string("a");
  CHECK(!confidence_value_equal(s1, s2));
  CHECK(!confidence_value_equal(s1, s3));
  confidence_value *values[] = {a, x, y, z, w, nan1, nan2, pz, nz, one, one_s, tru, nul, ls, ob, s1, s2, s3};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
    confidence_value_free(values[i]);
}

/* ---- JSON parsing -------------------------------------------------------- */

static void test_json_parse(void)
{
  confidence_value *v = parse("{\"i\":42,\"big\":12345678901234567890,\"neg\":-7,\"f\":0.1,\"e\":1e3,"
                              "\"t\":true,\"n\":null,\"s\":\"h\\u00e9\\n\",\"l\":[]}");
  CHECK(confidence_value_type_of(v) == CONFIDENCE_VALUE_STRUCT);
  CHECK(confidence_value_struct_size(v) == 9);
  /* Every number is a double. */
  CHECK(confidence_value_type_of(confidence_value_struct_get(v, "i")) == CONFIDENCE_VALUE_NUMBER);
  CHECK(confidence_value_number(confidence_value_struct_get(v, "i")) == 42.0);
  CHECK(confidence_value_number(confidence_value_struct_get(v, "big")) == 12345678901234567890.0);
  CHECK(confidence_value_number(confidence_value_struct_get(v, "neg")) == -7.0);
  CHECK(confidence_value_number(confidence_value_struct_get(v, "f")) == 0.1);
  CHECK(confidence_value_number(confidence_value_struct_get(v, "e")) == 1000.0);
  CHECK(confidence_value_bool(confidence_value_struct_get(v, "t")) == 1);
  CHECK(confidence_value_type_of(confidence_value_struct_get(v, "n")) == CONFIDENCE_VALUE_NULL);
  CHECK(confidence_value_struct_get(v, "n") != NULL); /* present, unlike a missing key */
  CHECK_STR(confidence_value_string(confidence_value_struct_get(v, "s"), NULL), "h\xc3\xa9\n");
  CHECK(confidence_value_type_of(confidence_value_struct_get(v, "l")) == CONFIDENCE_VALUE_LIST);
  confidence_value_free(v);

  /* Scalars at the top level are values too. */
  v = parse("  -0.0 ");
  CHECK(confidence_value_type_of(v) == CONFIDENCE_VALUE_NUMBER && confidence_value_number(v) == 0.0 &&
        signbit(confidence_value_number(v)));
  confidence_value_free(v);
  v = parse("\"str\"");
  CHECK_STR(confidence_value_string(v, NULL), "str");
  confidence_value_free(v);

  /* A later duplicate key wins. */
  v = parse("{\"k\":1,\"other\":2,\"k\":\"last\"}");
  CHECK(confidence_value_struct_size(v) == 2);
  CHECK_STR(confidence_value_string(confidence_value_struct_get(v, "k"), NULL), "last");
  confidence_value_free(v);

  /* Escaped NUL and a surrogate pair. */
  v = parse("[\"a\\u0000b\",\"\\ud83d\\ude00\"]");
  size_t len = 0;
  const char *p = confidence_value_string(confidence_value_list_at(v, 0), &len);
  CHECK(len == 3 && p && memcmp(p, "a\0b", 3) == 0);
  CHECK_STR(confidence_value_string(confidence_value_list_at(v, 1), NULL), "\xf0\x9f\x98\x80");
  confidence_value_free(v);

  /* The length is honoured (no NUL terminator needed). */
  const char *text = "[1,2]garbage";
  v = NULL;
  CHECK(confidence_value_from_json(text, 5, &v) == 0 && confidence_value_list_size(v) == 2);
  confidence_value_free(v);

  /* Bad JSON: EPARSE, *out NULL, a message. */
  PARSE_FAILS("");
  PARSE_FAILS("{");
  PARSE_FAILS("{\"a\":}");
  PARSE_FAILS("{\"a\" 1}");
  PARSE_FAILS("[1,]");
  PARSE_FAILS("{'a':1}");
  PARSE_FAILS("{\"a\":1} x");
  PARSE_FAILS("NaN");
  PARSE_FAILS("01");
  PARSE_FAILS("\"unterminated");
  PARSE_FAILS("\"\\x\"");
  PARSE_FAILS("\"\\ud800\""); /* lone surrogate */
  PARSE_FAILS("\"tab\there\"");
  /* Invalid UTF-8: a stray continuation byte, an overlong form, a truncated sequence. */
  PARSE_FAILS("\"\x80\"");
  PARSE_FAILS("\"\xc0\xaf\"");
  PARSE_FAILS("\"\xe2\x82\"");
  PARSE_FAILS("{\"\xff\":1}");
  /* A raw NUL inside the given length is not valid JSON text. */
  PARSE_FAILS("[1,\0 2]");
  /* Argument errors. */
  v = NULL;
  CHECK(confidence_value_from_json(NULL, 3, &v) == CONFIDENCE_EINVAL);
  CHECK(confidence_value_from_json("1", 1, NULL) == CONFIDENCE_EINVAL);
  /* Deep nesting fails cleanly instead of overflowing the stack. */
  size_t depth = 200000;
  char *deep = malloc(2 * depth + 1);
  if (deep) {
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    v = NULL;
    int rc = confidence_value_from_json(deep, 2 * depth, &v);
    CHECK(rc == CONFIDENCE_EPARSE || rc == CONFIDENCE_ELIMIT);
    CHECK(v == NULL);
    free(deep);
  }
}

/* ---- JSON output --------------------------------------------------------- */

static void test_json_output(void)
{
  /* Escapes. */
  confidence_value *s = confidence_value_new_string("q\"b\\n\nt\tc\x01" "d\x1f" "e/\xc3\xa9");
  char *out = confidence_value_to_json(s);
  CHECK(out != NULL);
  if (out) {
    const char *want = "\"q\\\"b\\\\n\\nt\\tc\\u0001d";
    CHECK(strncmp(out, want, strlen(want)) == 0);
    /* No raw control characters survive. */
    int raw_ctl = 0;
    for (const char *p = out; *p; p++)
      raw_ctl |= (unsigned char)*p < 0x20;
    CHECK(!raw_ctl);
    /* And it reads back as the same string. */
    confidence_value *back = parse(out);
    CHECK(confidence_value_equal(back, s));
    confidence_value_free(back);
  }
  confidence_string_free(out);
  confidence_value_free(s);
  /* An embedded NUL is escaped, not a terminator. */
  s = confidence_value_new_string_len("a\0b", 3);
  json_is(s, "\"a\\u0000b\"");
  confidence_value_free(s);

  /* Numbers: shortest round-trip form, no exponent, NaN and infinities as null. */
  reprints("[1,1.5,0.1,100,-2,1e21,1e-7,0.30000000000000004,123456789012]",
           "[1,1.5,0.1,100,-2,1000000000000000000000,0.0000001,0.30000000000000004,123456789012]");
  confidence_value *l = confidence_value_new_list();
  confidence_value_list_append(l, confidence_value_new_number(NAN));
  confidence_value_list_append(l, confidence_value_new_number(INFINITY));
  confidence_value_list_append(l, confidence_value_new_number(-INFINITY));
  confidence_value_list_append(l, confidence_value_new_number(-0.0));
  json_is(l, "[null,null,null,-0]");
  confidence_value_free(l);

  /* Scalars, empty containers, insertion order. */
  reprints("null", "null");
  reprints("true", "true");
  reprints("false", "false");
  reprints("{}", "{}");
  reprints("[]", "[]");
  reprints(" { \"b\" : [ ] } ", "{\"b\":[]}");
  confidence_string_free(NULL);

  /* Round trip of a nested document. */
  const char *doc = "{\"user\":{\"id\":\"u-1\",\"tags\":[\"a\",\"b\\\"c\"],\"score\":12.25,\"ok\":false,"
                    "\"none\":null,\"deep\":[[[{\"x\":[]}]]]},\"n\":-0.5}";
  confidence_value *v = parse(doc);
  char *printed = confidence_value_to_json(v);
  /* Compact: same length as the compact input (key order is not promised). */
  CHECK(printed && strlen(printed) == strlen(doc));
  confidence_value *again = printed ? parse(printed) : NULL;
  CHECK(confidence_value_equal(v, again));
  confidence_string_free(printed);
  confidence_value_free(again);
  confidence_value_free(v);
}

int main(void)
{
  test_builders();
  test_readers();
  test_copy_equal();
  test_json_parse();
  test_json_output();
  return check_finish();
}
