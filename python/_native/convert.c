/* Value conversion for confidence._native: Python objects to confidence_value
 * trees (contexts, tracking data) and back (flag values, metadata), as
 * Confidence's official Python provider converts them. */
#include "native.h"

#include <string.h>

#define MAX_DEPTH 64

PyObject *native_decode(const char *s, size_t n) { return PyUnicode_DecodeUTF8(s ? s : "", (Py_ssize_t)n, "replace"); }

/* Trees are built in an arena `a` when one is given (a context made for
 * one evaluation), else on the heap (values kept past the call). */
static confidence_value *make_string(confidence_value_arena *a, const char *s, size_t n)
{
  return a ? confidence_value_arena_string_len(a, s, n) : confidence_value_new_string_len(s, n);
}

static confidence_value *make_container(confidence_value_arena *a, confidence_value_type type)
{
  if (type == CONFIDENCE_VALUE_LIST)
    return a ? confidence_value_arena_list(a) : confidence_value_new_list();
  return a ? confidence_value_arena_struct(a) : confidence_value_new_struct();
}

static confidence_value *make_scalar(confidence_value_arena *a, PyObject *o, double d)
{
  if (o == Py_None)
    return a ? confidence_value_arena_null(a) : confidence_value_new_null();
  if (PyBool_Check(o))
    return a ? confidence_value_arena_bool(a, o == Py_True) : confidence_value_new_bool(o == Py_True);
  return a ? confidence_value_arena_number(a, d) : confidence_value_new_number(d);
}

static int list_append(confidence_value_arena *a, confidence_value *list, confidence_value *item)
{
  return a ? confidence_value_arena_list_append(a, list, item) : confidence_value_list_append(list, item);
}

static confidence_value *str_value(confidence_value_arena *a, PyObject *s)
{
  Py_ssize_t n;
  const char *u = PyUnicode_AsUTF8AndSize(s, &n);
  if (!u)
    return NULL;
  return make_string(a, u, (size_t)n);
}

/* Puts one level of a failed conversion's path in front of what deeper
 * levels wrote: `name` (a key, "[i]" for an index) at `depth`. */
static void path_prepend(native_path *path, int depth, const char *name, size_t n)
{
  if (!path || depth > NATIVE_PATH_LEVELS)
    return;
  char seg[48];
  if (depth == NATIVE_PATH_LEVELS) { /* deeper levels are summarised */
    n = 3;
    memcpy(seg, "...", n);
  } else {
    n = n > 32 ? 32 : n;
    memcpy(seg, name, n);
  }
  const char *rest = path->buf + sizeof path->buf - path->len;
  if (path->len && rest[0] != '[' && rest[0] != '.') /* no dot before "[i]" or "..." */
    seg[n++] = '.';
  if (n > sizeof path->buf - path->len)
    return;
  path->len += n;
  memcpy(path->buf + sizeof path->buf - path->len, seg, n);
}

/* st[k] = val converted; `k` is UTF-8 of length kn. */
static int struct_set_utf8(confidence_value_arena *a, confidence_value *st, const char *k, size_t kn, PyObject *val,
                           int depth, native_path *path)
{
  confidence_value *v = native_to_value(a, val, depth + 1, path);
  if (!v) {
    path_prepend(path, depth, k, kn);
    return -1;
  }
  if ((a ? confidence_value_arena_struct_set_len(a, st, k, kn, v) : confidence_value_struct_set_len(st, k, kn, v)) != 0) {
    PyErr_NoMemory();
    return -1;
  }
  return 0;
}

static int struct_set(confidence_value_arena *a, confidence_value *st, PyObject *key, PyObject *val, int depth,
                      native_path *path)
{
  PyObject *ks = PyUnicode_Check(key) ? (Py_INCREF(key), key) : PyObject_Str(key);
  Py_ssize_t kn = 0;
  const char *k = ks ? PyUnicode_AsUTF8AndSize(ks, &kn) : NULL;
  if (!k) {
    path_prepend(path, depth, "<key>", 5);
    Py_XDECREF(ks);
    return -1;
  }
  int rc = struct_set_utf8(a, st, k, (size_t)kn, val, depth, path);
  Py_DECREF(ks);
  return rc;
}

/* Every item of a dict into the struct `st` (freed on failure). Key and
 * value are held while converted: str() of either runs Python code, which
 * may change the dict (iteration then stops or goes on, but never reads
 * freed memory). Without a GIL another thread may change it too: each step
 * of the iteration is taken with the dict locked (converting a nested
 * container locks that one instead). */
static confidence_value *struct_fill(confidence_value_arena *a, confidence_value *st, PyObject *dict, int depth,
                                     native_path *path)
{
  PyObject *k, *val;
  Py_ssize_t pos = 0;
  int rc = 0;
  Py_BEGIN_CRITICAL_SECTION(dict);
  while (rc == 0 && PyDict_Next(dict, &pos, &k, &val)) {
    Py_INCREF(k);
    Py_INCREF(val);
    rc = struct_set(a, st, k, val, depth, path);
    Py_DECREF(k);
    Py_DECREF(val);
  }
  Py_END_CRITICAL_SECTION();
  if (rc != 0) {
    confidence_value_free(st);
    return NULL;
  }
  return st;
}

/* Item `i` of a list or tuple as a new reference, NULL (no exception) past
 * its end: without a GIL another thread may shorten a list or replace the
 * item between reading the size and holding the item. */
static PyObject *seq_item(PyObject *o, Py_ssize_t i)
{
#ifdef Py_GIL_DISABLED
  if (PyList_Check(o)) {
    PyObject *it = PyList_GetItemRef(o, i);
    if (!it)
      PyErr_Clear(); /* IndexError: it became shorter */
    return it;
  }
#endif
  if (i >= PySequence_Fast_GET_SIZE(o))
    return NULL;
  PyObject *it = PySequence_Fast_GET_ITEM(o, i);
  Py_INCREF(it);
  return it;
}

/* Python -> value, as the official provider converts a context: None, bool,
 * numbers, str, lists, mappings; anything else by str(). Cycles and deep
 * nesting end at MAX_DEPTH. */
confidence_value *native_to_value(confidence_value_arena *a, PyObject *o, int depth, native_path *path)
{
  if (depth > MAX_DEPTH) {
    PyErr_SetString(PyExc_ValueError, "value nests too deeply (or contains itself)");
    return NULL;
  }
  confidence_value *v = NULL;
  if (o == Py_None || PyBool_Check(o))
    v = make_scalar(a, o, 0);
  else if (PyLong_Check(o) || PyFloat_Check(o)) {
    double d = PyFloat_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred())
      return NULL;
    v = make_scalar(a, o, d);
  } else if (PyUnicode_Check(o))
    return str_value(a, o);
  else if (PyList_Check(o) || PyTuple_Check(o)) {
    v = make_container(a, CONFIDENCE_VALUE_LIST);
    if (!v)
      return (confidence_value *)PyErr_NoMemory();
    /* The size is read again each time and the item held: converting an
     * item may run Python code that shortens the list. */
    PyObject *it;
    for (Py_ssize_t i = 0; (it = seq_item(o, i)) != NULL; i++) {
      confidence_value *item = native_to_value(a, it, depth + 1, path);
      Py_DECREF(it);
      if (!item || list_append(a, v, item) != 0) {
        confidence_value_free(v);
        if (item)
          return (confidence_value *)PyErr_NoMemory();
        char index[24];
        path_prepend(path, depth, index, (size_t)snprintf(index, sizeof index, "[%zd]", i));
        return NULL;
      }
    }
    return v;
  } else if (PyDict_Check(o)) {
    v = make_container(a, CONFIDENCE_VALUE_STRUCT);
    if (!v)
      return (confidence_value *)PyErr_NoMemory();
    return struct_fill(a, v, o, depth, path);
  } else if (PyMapping_Check(o) && PyObject_HasAttrString(o, "items")) {
    PyObject *d = PyDict_New();
    if (!d || PyDict_Update(d, o) != 0) {
      Py_XDECREF(d);
      return NULL;
    }
    v = native_to_value(a, d, depth, path);
    Py_DECREF(d);
    return v;
  } else {
    PyObject *s = PyObject_Str(o);
    if (!s)
      return NULL;
    v = str_value(a, s);
    Py_DECREF(s);
    return v;
  }
  if (!v)
    PyErr_NoMemory();
  return v;
}

static PyObject *list_from_value(const confidence_value *v)
{
  size_t n = confidence_value_list_size(v);
  PyObject *l = PyList_New((Py_ssize_t)n);
  if (!l)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    PyObject *item = native_from_value(confidence_value_list_at(v, i));
    if (!item) {
      Py_DECREF(l);
      return NULL;
    }
    PyList_SET_ITEM(l, (Py_ssize_t)i, item);
  }
  return l;
}

static PyObject *dict_from_value(const confidence_value *v)
{
  size_t n = confidence_value_struct_size(v);
  PyObject *d = PyDict_New();
  if (!d)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    size_t kl;
    const char *k = confidence_value_struct_key_at(v, i, &kl);
    PyObject *ks = PyUnicode_DecodeUTF8(k, (Py_ssize_t)kl, "replace");
    PyObject *item = ks ? native_from_value(confidence_value_struct_value_at(v, i)) : NULL;
    if (!item || PyDict_SetItem(d, ks, item) != 0) {
      Py_XDECREF(ks);
      Py_XDECREF(item);
      Py_DECREF(d);
      return NULL;
    }
    Py_DECREF(ks);
    Py_DECREF(item);
  }
  return d;
}

/* value -> Python; numbers become float, as the official provider returns them. */
PyObject *native_from_value(const confidence_value *v)
{
  if (!v)
    Py_RETURN_NONE;
  switch (confidence_value_type_of(v)) {
  case CONFIDENCE_VALUE_BOOL:
    return PyBool_FromLong(confidence_value_bool(v));
  case CONFIDENCE_VALUE_NUMBER:
    return PyFloat_FromDouble(confidence_value_number(v));
  case CONFIDENCE_VALUE_STRING: {
    size_t n;
    const char *s = confidence_value_string(v, &n);
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "replace");
  }
  case CONFIDENCE_VALUE_LIST:
    return list_from_value(v);
  case CONFIDENCE_VALUE_STRUCT:
    return dict_from_value(v);
  default:
    Py_RETURN_NONE;
  }
}

/* An OpenFeature context: targeting_key first, then the attributes (an
 * attribute called targeting_key overrides it, as in the official provider). */
confidence_value *native_make_context(confidence_value_arena *a, PyObject *targeting_key, PyObject *attrs,
                                      native_path *path)
{
  confidence_value *ctx = make_container(a, CONFIDENCE_VALUE_STRUCT);
  if (!ctx)
    return (confidence_value *)PyErr_NoMemory();
  int keyed = targeting_key && targeting_key != Py_None ? PyObject_IsTrue(targeting_key) : 0;
  if (keyed < 0) { /* its __bool__ raised */
    path_prepend(path, 0, "targeting_key", 13);
    confidence_value_free(ctx);
    return NULL;
  }
  if (keyed) {
    if (struct_set_utf8(a, ctx, "targeting_key", 13, targeting_key, 0, path) != 0) {
      confidence_value_free(ctx);
      return NULL;
    }
  }
  if (attrs && attrs != Py_None) {
    if (!PyDict_Check(attrs)) {
      confidence_value_free(ctx);
      PyErr_SetString(PyExc_TypeError, "attributes must be a dict");
      return NULL;
    }
    return struct_fill(a, ctx, attrs, 0, path);
  }
  return ctx;
}

PyObject *native_conversion_message(const native_path *path)
{
  if (!PyErr_ExceptionMatches(PyExc_Exception))
    return NULL;
  PyObject *type, *exc, *tb;
  PyErr_Fetch(&type, &exc, &tb);
  PyErr_NormalizeException(&type, &exc, &tb);
  /* str() of the exception may itself fail (a raising __str__): then the
   * type's name alone. */
  PyObject *why = exc ? PyObject_Str(exc) : NULL;
  const char *why_s = why ? PyUnicode_AsUTF8(why) : NULL;
  if (!why_s)
    PyErr_Clear();
  const char *tname = type ? ((PyTypeObject *)type)->tp_name : "error";
  const char *sep = why_s && *why_s ? ": " : "";
  char text[sizeof path->buf + 320];
  int n = path && path->len
              ? snprintf(text, sizeof text, "context attribute '%.*s' cannot be converted: %s%s%.200s", (int)path->len,
                         path->buf + sizeof path->buf - path->len, tname, sep, why_s ? why_s : "")
              : snprintf(text, sizeof text, "the evaluation context cannot be converted: %s%s%.200s", tname, sep,
                         why_s ? why_s : "");
  /* A key cut at a byte limit may end inside a character. */
  PyObject *msg = PyUnicode_DecodeUTF8(text, n < (int)sizeof text ? n : (int)sizeof text - 1, "replace");
  Py_XDECREF(why);
  Py_XDECREF(type);
  Py_XDECREF(exc);
  Py_XDECREF(tb);
  return msg;
}
