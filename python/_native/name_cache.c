/* The names an answer carries (variant, rule, segment, assignment id) as
 * Python strings, kept by content. A state holds a few hundred of them and
 * every evaluation returns four, so decoding each anew made and freed four
 * strings per call. The table is direct-mapped and holds ASCII strings only
 * (resource names are ASCII; an ASCII str's data is its UTF-8), in the
 * module state, read and written under the GIL. Free-threaded builds decode
 * every time: one string shared by threads on every core would have its
 * reference count bounced between them on every evaluation. */
#include "native.h"

#include <string.h>

#ifndef Py_GIL_DISABLED
/* Picks the slot only (a match is checked byte for byte), so it reads three
 * words: names share long prefixes ("flags/<flag>/variants/") and differ
 * towards the end. */
static uint64_t name_hash(const char *s, size_t n)
{
  uint64_t w[3] = {0, 0, 0};
  if (n >= 8) {
    memcpy(&w[0], s, 8);
    memcpy(&w[1], s + (n - 8) / 2, 8);
    memcpy(&w[2], s + n - 8, 8);
  } else {
    memcpy(&w[0], s, n);
  }
  uint64_t h = n * 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < 3; i++) {
    h ^= w[i];
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 29;
  }
  return h;
}
#endif

PyObject *native_name(native_state *st, const char *s)
{
#ifndef Py_GIL_DISABLED
  size_t n = strlen(s);
  uint64_t h = name_hash(s, n);
  native_cached_name *e = &st->names[h & (NATIVE_NAME_CACHE - 1)];
  if (e->str && e->hash == h && (size_t)PyUnicode_GET_LENGTH(e->str) == n && memcmp(PyUnicode_DATA(e->str), s, n) == 0) {
    Py_INCREF(e->str);
    return e->str;
  }
  PyObject *u = PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "replace");
  if (u && PyUnicode_IS_ASCII(u)) {
    Py_INCREF(u);
    Py_XSETREF(e->str, u);
    e->hash = h;
  }
  return u;
#else
  (void)st;
  return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
#endif
}

int native_names_traverse(native_state *st, visitproc visit, void *arg)
{
  for (int i = 0; i < NATIVE_NAME_CACHE; i++)
    Py_VISIT(st->names[i].str);
  return 0;
}

void native_names_clear(native_state *st)
{
  for (int i = 0; i < NATIVE_NAME_CACHE; i++)
    Py_CLEAR(st->names[i].str);
}
