/* The store bridge of confidence._native: a Python materialization store
 * (read(ops) and optionally write(ops)) behind the C store vtable. The C
 * core calls it on the evaluating thread; the bridge takes the GIL, builds
 * the op objects set_store_types named, and matches the results to the ops. */
#include "native.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct pystore {
  confidence_store vt;
  PyObject *module; /* whose state names the op classes */
  PyObject *obj;
} pystore;

/* A KeyboardInterrupt / SystemExit raised inside a store callback on this
 * thread: re-raised once the evaluation returns, never swallowed. */
static _Thread_local PyObject *pend_type, *pend_value, *pend_tb;
/* How deep this thread is in evaluations (a store may evaluate in turn). */
static _Thread_local int eval_depth;

void native_store_enter(void) { eval_depth++; }

int native_store_leave(void)
{
  eval_depth--;
  if (!pend_type)
    return 0;
  PyErr_Restore(pend_type, pend_value, pend_tb);
  pend_type = pend_value = pend_tb = NULL;
  return -1;
}

/* Turns the pending Python exception into the batch's error message. */
static int store_error(confidence_store_batch *batch, const char *what)
{
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  char msg[256];
  const char *text = NULL;
  PyObject *s = value ? PyObject_Str(value) : NULL;
  if (s)
    text = PyUnicode_AsUTF8(s);
  if (!text || !*text) {
    PyErr_Clear();
    text = type ? ((PyTypeObject *)type)->tp_name : "error";
  }
  snprintf(msg, sizeof msg, "materialization store %s failed: %s", what, text);
  confidence_store_batch_set_error(batch, msg);
  Py_XDECREF(s);
  if (eval_depth > 0 && type && !PyErr_GivenExceptionMatches(type, PyExc_Exception) && !pend_type) {
    pend_type = type, pend_value = value, pend_tb = tb; /* BaseException: re-raise later */
  } else {
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
  }
  return CONFIDENCE_EIO;
}

/* A store called while the interpreter shuts down fails without the GIL. */
static int finalizing(confidence_store_batch *batch, const char *what)
{
  char msg[128];
  snprintf(msg, sizeof msg, "materialization store %s failed: interpreter is finalizing", what);
  confidence_store_batch_set_error(batch, msg);
  return CONFIDENCE_EIO;
}

static int attr_str(PyObject *o, const char *name, const char **out, Py_ssize_t *len, PyObject **keep)
{
  PyObject *a = PyObject_GetAttrString(o, name);
  if (!a)
    return -1;
  if (a == Py_None) {
    *out = NULL, *len = 0, *keep = a;
    return 0;
  }
  if (!PyUnicode_Check(a)) {
    Py_DECREF(a);
    PyErr_Format(PyExc_TypeError, "%s must be a str", name);
    return -1;
  }
  *out = PyUnicode_AsUTF8AndSize(a, len);
  *keep = a;
  return *out ? 0 : -1;
}

static int same(const char *a, size_t an, const char *b, Py_ssize_t bn)
{
  return a && b && an == (size_t)bn && memcmp(a, b, an) == 0;
}

static PyObject *read_op_object(native_state *st, const confidence_store_read_op *op)
{
  if (op->kind == CONFIDENCE_STORE_OP_VARIANT_READ)
    return PyObject_CallFunction(st->variant_read_op, "(NNN)", native_decode(op->unit, op->unit_len),
                                 native_decode(op->materialization, strlen(op->materialization)),
                                 native_decode(op->rule, strlen(op->rule)));
  return PyObject_CallFunction(st->inclusion_read_op, "(NN)", native_decode(op->unit, op->unit_len),
                               native_decode(op->materialization, strlen(op->materialization)));
}

/* One result object of read(): sets the answer of every op it matches.
 * Returns -1 with a Python exception when the result is malformed. */
static int read_result(PyObject *r, const confidence_store_read_op *const *ops, size_t count,
                       confidence_store_batch *batch)
{
  const char *unit, *mat, *rule = NULL, *variant = NULL;
  Py_ssize_t ul, ml, rl = 0, vl = 0;
  PyObject *ku = NULL, *km = NULL, *kr = NULL, *kv = NULL;
  int inclusion = PyObject_HasAttrString(r, "included");
  int bad = attr_str(r, "unit", &unit, &ul, &ku) || attr_str(r, "materialization", &mat, &ml, &km);
  int included = 0;
  if (!bad && inclusion) {
    PyObject *inc = PyObject_GetAttrString(r, "included");
    included = inc ? PyObject_IsTrue(inc) : -1;
    Py_XDECREF(inc);
    bad = included < 0;
  } else if (!bad) {
    bad = attr_str(r, "rule", &rule, &rl, &kr) || attr_str(r, "variant", &variant, &vl, &kv);
  }
  if (!bad)
    for (size_t i = 0; i < count; i++) {
      const confidence_store_read_op *op = ops[i];
      if (!same(op->unit, op->unit_len, unit, ul) || !same(op->materialization, strlen(op->materialization), mat, ml))
        continue;
      if (inclusion && op->kind == CONFIDENCE_STORE_OP_INCLUSION_READ)
        confidence_store_batch_set_included(batch, i, included);
      else if (!inclusion && op->kind == CONFIDENCE_STORE_OP_VARIANT_READ && same(op->rule, strlen(op->rule), rule, rl))
        confidence_store_batch_set_variant(batch, i, variant);
    }
  Py_XDECREF(ku), Py_XDECREF(km), Py_XDECREF(kr), Py_XDECREF(kv);
  return bad ? -1 : 0;
}

static int pystore_read(const confidence_store_read_op *const *ops, size_t count, confidence_store_batch *batch,
                        void *user)
{
  pystore *ps = user;
  if (PY_FINALIZING())
    return finalizing(batch, "read");
  PyGILState_STATE gs = PyGILState_Ensure();
  native_state *st = native_state_of(ps->module);
  int rc = 0;
  PyObject *list = PyList_New((Py_ssize_t)count), *res = NULL, *it = NULL;
  if (!list)
    goto fail;
  for (size_t i = 0; i < count; i++) {
    PyObject *o = read_op_object(st, ops[i]);
    if (!o)
      goto fail;
    PyList_SET_ITEM(list, (Py_ssize_t)i, o);
  }
  res = PyObject_CallMethod(ps->obj, "read", "(O)", list);
  if (!res)
    goto fail;
  it = PyObject_GetIter(res);
  if (!it)
    goto fail;
  PyObject *r;
  while ((r = PyIter_Next(it))) {
    int bad = read_result(r, ops, count, batch);
    Py_DECREF(r);
    if (bad)
      goto fail;
  }
  if (PyErr_Occurred())
    goto fail;
  goto done;
fail:
  rc = store_error(batch, "read");
done:
  Py_XDECREF(it);
  Py_XDECREF(res);
  Py_XDECREF(list);
  PyGILState_Release(gs);
  return rc;
}

static int pystore_write(const confidence_store_write_op *const *ops, size_t count, confidence_store_batch *batch,
                         void *user)
{
  pystore *ps = user;
  if (PY_FINALIZING())
    return finalizing(batch, "write");
  PyGILState_STATE gs = PyGILState_Ensure();
  native_state *st = native_state_of(ps->module);
  int rc = 0;
  PyObject *res = NULL, *list = PyList_New((Py_ssize_t)count);
  if (!list)
    goto fail;
  for (size_t i = 0; i < count; i++) {
    const confidence_store_write_op *op = ops[i];
    PyObject *o = PyObject_CallFunction(st->variant_write_op, "(NNNN)", native_decode(op->unit, op->unit_len),
                                        native_decode(op->materialization, strlen(op->materialization)),
                                        native_decode(op->rule, strlen(op->rule)),
                                        native_decode(op->variant, strlen(op->variant)));
    if (!o)
      goto fail;
    PyList_SET_ITEM(list, (Py_ssize_t)i, o);
  }
  res = PyObject_CallMethod(ps->obj, "write", "(O)", list);
  if (res)
    goto done;
fail:
  rc = store_error(batch, "write");
done:
  Py_XDECREF(res);
  Py_XDECREF(list);
  PyGILState_Release(gs);
  return rc;
}

static void pystore_free(void *user)
{
  pystore *ps = user;
  if (!PY_FINALIZING()) {
    PyGILState_STATE gs = PyGILState_Ensure();
    Py_XDECREF(ps->obj);
    Py_XDECREF(ps->module);
    PyGILState_Release(gs);
  }
  free(ps);
}

confidence_store *native_pystore_new(PyObject *module, PyObject *obj)
{
  pystore *ps = calloc(1, sizeof *ps);
  if (!ps) {
    PyErr_NoMemory();
    return NULL;
  }
  ps->vt.version = CONFIDENCE_STORE_VERSION;
  ps->vt.read = pystore_read;
  ps->vt.write = PyObject_HasAttrString(obj, "write") ? pystore_write : NULL;
  ps->vt.free = pystore_free;
  ps->vt.user_data = ps;
  Py_INCREF(obj);
  ps->obj = obj;
  Py_INCREF(module);
  ps->module = module;
  return &ps->vt;
}
