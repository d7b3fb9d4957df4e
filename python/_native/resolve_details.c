/* The provider interface's typed resolve_*_details in C: the SDK's
 * arguments in (positional or by keyword), its FlagResolutionDetails out,
 * with no Python frame in between. ConfidenceProvider installs these bound
 * methods on each instance, so the SDK's call lands here directly. What the
 * Python method did before the native call (the targeting key's type, the
 * attributes as a dict) is done here the same way. */
#include "native.h"

#include <string.h>

/* Field and argument names, in this order. */
enum { F_VALUE, F_ERROR_CODE, F_ERROR_MESSAGE, F_REASON, F_VARIANT, F_FLAG_METADATA, N_FIELDS };
static const char *const field_names[N_FIELDS] = {"value",   "error_code", "error_message",
                                                  "reason",  "variant",    "flag_metadata"};
enum { A_FLAG_KEY, A_DEFAULT, A_CONTEXT, N_ARGS };
static const char *const arg_names[N_ARGS] = {"flag_key", "default_value", "evaluation_context"};

int native_sdk_traverse(native_sdk *s, visitproc visit, void *arg)
{
  Py_VISIT(s->details_type);
  Py_VISIT(s->reasons);
  Py_VISIT(s->codes);
  Py_VISIT(s->field_kwnames);
  return 0;
}

void native_sdk_clear(native_sdk *s)
{
  Py_CLEAR(s->details_type);
  Py_CLEAR(s->reasons);
  Py_CLEAR(s->codes);
  Py_CLEAR(s->field_kwnames);
  Py_CLEAR(s->empty);
  for (int i = 0; i < NATIVE_SDK_NAMES; i++)
    Py_CLEAR(s->names[i]);
}

/* set_sdk_types(FlagResolutionDetails, reasons, codes, plain): the result
 * class; the Reason members by C reason and the ErrorCode members by C code
 * (None first); plain is True when the class is a plain dataclass with
 * exactly the six fields and no __init__ logic of its own, so an instance
 * can be filled in without calling it. */
PyObject *native_set_sdk_types(PyObject *module, PyObject *args)
{
  native_sdk *s = &native_state_of(module)->sdk;
  PyObject *type, *reasons, *codes;
  int plain;
  if (!PyArg_ParseTuple(args, "O!O!O!p", &PyType_Type, &type, &PyTuple_Type, &reasons, &PyTuple_Type, &codes, &plain))
    return NULL;
  if (PyTuple_GET_SIZE(reasons) <= CONFIDENCE_EVAL_REASON_CACHED ||
      PyTuple_GET_SIZE(codes) <= CONFIDENCE_EVAL_ERROR_CODE_GENERAL) {
    PyErr_SetString(PyExc_ValueError, "a Reason for every C reason and an ErrorCode for every C code");
    return NULL;
  }
  native_sdk_clear(s);
  s->field_kwnames = PyTuple_New(N_FIELDS);
  s->empty = PyTuple_New(0);
  if (!s->field_kwnames || !s->empty)
    goto fail;
  for (int i = 0; i < N_FIELDS; i++) {
    if (!(s->names[i] = PyUnicode_InternFromString(field_names[i])))
      goto fail;
    Py_INCREF(s->names[i]);
    PyTuple_SET_ITEM(s->field_kwnames, i, s->names[i]);
  }
  for (int i = 0; i < N_ARGS; i++)
    if (!(s->names[N_FIELDS + i] = PyUnicode_InternFromString(arg_names[i])))
      goto fail;
  if (!(s->names[NATIVE_SDK_TARGETING_KEY] = PyUnicode_InternFromString("targeting_key")) ||
      !(s->names[NATIVE_SDK_ATTRIBUTES] = PyUnicode_InternFromString("attributes")))
    goto fail;
  Py_INCREF(type), Py_INCREF(reasons), Py_INCREF(codes);
  s->details_type = type;
  s->reasons = reasons;
  s->codes = codes;
  s->plain = plain;
  Py_RETURN_NONE;
fail:
  native_sdk_clear(s);
  return NULL;
}

/* FlagResolutionDetails(value=..., ...), steals nothing. */
static PyObject *make_details(native_sdk *s, PyObject *const fields[N_FIELDS])
{
  PyTypeObject *type = (PyTypeObject *)s->details_type;
  if (!s->plain)
    return PyObject_Vectorcall(s->details_type, fields, 0, s->field_kwnames);
  /* A plain dataclass: its __init__ would only store the fields. */
  PyObject *d = PyBaseObject_Type.tp_new(type, s->empty, NULL);
  if (!d)
    return NULL;
  for (int i = 0; i < N_FIELDS; i++)
    if (PyObject_GenericSetAttr(d, s->names[i], fields[i]) < 0) {
      Py_DECREF(d);
      return NULL;
    }
  return d;
}

static PyObject *details_of(native_sdk *s, const native_answer *a)
{
  PyObject *fields[N_FIELDS] = {a->value, PyTuple_GET_ITEM(s->codes, a->code), a->message,
                                PyTuple_GET_ITEM(s->reasons, a->reason), a->variant, a->metadata};
  return make_details(s, fields);
}

/* An answer made before the C side is asked; takes `message`. */
static PyObject *early_error(native_sdk *s, PyObject *dflt, int code, PyObject *message)
{
  native_answer a;
  memset(&a, 0, sizeof a);
  if (native_answer_error(&a, dflt, code, message) != 0)
    return NULL;
  PyObject *r = details_of(s, &a);
  native_answer_clear(&a);
  return r;
}

/* (flag_key, default_value, evaluation_context=None), positional or by name. */
static int parse_args(native_sdk *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject *out[N_ARGS])
{
  out[A_FLAG_KEY] = out[A_DEFAULT] = NULL;
  out[A_CONTEXT] = Py_None;
  if (nargs > N_ARGS)
    goto usage;
  for (Py_ssize_t i = 0; i < nargs; i++)
    out[i] = args[i];
  Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t k = 0; k < nk; k++) {
    PyObject *name = PyTuple_GET_ITEM(kwnames, k);
    int j = 0;
    while (j < N_ARGS && name != s->names[N_FIELDS + j] && PyUnicode_Compare(name, s->names[N_FIELDS + j]) != 0)
      j++;
    if (j == N_ARGS || j < nargs)
      goto usage;
    out[j] = args[nargs + k];
  }
  if (out[A_FLAG_KEY] && out[A_DEFAULT])
    return 0;
usage:
  if (!PyErr_Occurred())
    PyErr_SetString(PyExc_TypeError, "resolve_*_details(flag_key, default_value, evaluation_context=None)");
  return -1;
}

static PyObject *resolve(native_provider *self, int kind, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
  native_sdk *s = &native_state_of_type(Py_TYPE(self))->sdk;
  if (!s->details_type) {
    PyErr_SetString(PyExc_RuntimeError, "set_sdk_types was not called");
    return NULL;
  }
  if (!self->p) {
    PyErr_SetString(PyExc_RuntimeError, "the provider was not initialised");
    return NULL;
  }
  PyObject *a[N_ARGS];
  if (parse_args(s, args, PyVectorcall_NARGS((size_t)nargs), kwnames, a) != 0)
    return NULL;
  PyObject *dflt = a[A_DEFAULT], *tk = Py_None, *attrs = Py_None, *result = NULL;
  if (a[A_CONTEXT] != Py_None) {
    tk = PyObject_GetAttr(a[A_CONTEXT], s->names[NATIVE_SDK_TARGETING_KEY]);
    attrs = tk ? PyObject_GetAttr(a[A_CONTEXT], s->names[NATIVE_SDK_ATTRIBUTES]) : NULL;
    if (!attrs) {
      Py_XDECREF(tk);
      if (!PyErr_ExceptionMatches(PyExc_Exception))
        return NULL;
      PyErr_Clear();
      return early_error(s, dflt, CONFIDENCE_EVAL_ERROR_CODE_INVALID_CONTEXT,
                         PyUnicode_FromFormat("the evaluation context is not an EvaluationContext: %s",
                                              Py_TYPE(a[A_CONTEXT])->tp_name));
    }
  } else {
    Py_INCREF(tk), Py_INCREF(attrs);
  }
  /* As 0.15.3: a key must be a string; a falsy one is no key, and one whose
   * truth cannot be told is not a string either. */
  if (tk != Py_None && !PyUnicode_CheckExact(tk)) {
    int truthy = PyObject_IsTrue(tk);
    if (truthy < 0 && !PyErr_ExceptionMatches(PyExc_Exception))
      goto done;
    PyErr_Clear();
    if (truthy != 0) {
      result = early_error(s, dflt, CONFIDENCE_EVAL_ERROR_CODE_GENERAL,
                           PyUnicode_FromFormat("targeting_key must be a string, not %s", Py_TYPE(tk)->tp_name));
      goto done;
    }
  }
  if (attrs != Py_None && !PyDict_CheckExact(attrs)) {
    PyObject *d = PyObject_CallOneArg((PyObject *)&PyDict_Type, attrs);
    if (!d) {
      if (!PyErr_ExceptionMatches(PyExc_Exception))
        goto done;
      PyObject *type, *exc, *tb;
      PyErr_Fetch(&type, &exc, &tb);
      result = early_error(s, dflt, CONFIDENCE_EVAL_ERROR_CODE_INVALID_CONTEXT,
                           PyUnicode_FromFormat("the evaluation context's attributes are not a mapping: %s",
                                                ((PyTypeObject *)type)->tp_name));
      Py_XDECREF(type), Py_XDECREF(exc), Py_XDECREF(tb);
      goto done;
    }
    Py_SETREF(attrs, d);
  }
  native_answer ans;
  if (native_evaluate(self, kind, a[A_FLAG_KEY], tk, attrs, dflt, &ans) == 0) {
    result = details_of(s, &ans);
    native_answer_clear(&ans);
  }
done:
  Py_DECREF(tk);
  Py_DECREF(attrs);
  return result;
}

#define RESOLVER(name, kind)                                                                                        \
  PyObject *native_##name(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)               \
  {                                                                                                                 \
    return resolve((native_provider *)self, kind, args, nargs, kwnames);                                            \
  }
RESOLVER(resolve_boolean_details, NATIVE_KIND_BOOL)
RESOLVER(resolve_integer_details, NATIVE_KIND_INT)
RESOLVER(resolve_float_details, NATIVE_KIND_FLOAT)
RESOLVER(resolve_string_details, NATIVE_KIND_STRING)
RESOLVER(resolve_object_details, NATIVE_KIND_OBJECT)
