/* What the Python package answers when the caller's default stands in for
 * the flag's value, exactly as 0.15.3 does: the default is the caller's
 * object, whatever its type, and comes back untouched on an error; when no
 * variant was assigned, 0.15.3 runs the default through the same type check
 * and conversion as a flag's value, so an int default of get_float comes back
 * as a float and a str default of get_boolean as TYPE_MISMATCH. */
#include "native.h"

#include <math.h>

PyObject *native_type_mismatch_message(PyObject *dflt)
{
  PyObject *name = PyObject_GetAttrString((PyObject *)Py_TYPE(dflt), "__name__");
  if (!name) {
    if (!PyErr_ExceptionMatches(PyExc_Exception))
      return NULL;
    PyErr_Clear();
    return PyUnicode_FromString("Value is not of the default's type");
  }
  PyObject *msg = PyUnicode_FromFormat("Value is not %S", name);
  Py_DECREF(name);
  return msg;
}

static int whole_float(PyObject *o)
{
  double d = PyFloat_AS_DOUBLE(o);
  return isfinite(d) && floor(d) == d;
}

static int default_has_kind(int kind, PyObject *d)
{
  switch (kind) {
  case NATIVE_KIND_BOOL:
    return PyBool_Check(d);
  case NATIVE_KIND_INT:
    return (PyLong_Check(d) && !PyBool_Check(d)) || (PyFloat_Check(d) && whole_float(d));
  case NATIVE_KIND_FLOAT:
    return (PyLong_Check(d) || PyFloat_Check(d)) && !PyBool_Check(d);
  case NATIVE_KIND_STRING:
    return PyUnicode_Check(d);
  default:
    return PyDict_Check(d);
  }
}

PyObject *native_default_as_value(int kind, PyObject *dflt, int *reason, int *code, PyObject **message)
{
  if (!default_has_kind(kind, dflt)) {
    *message = native_type_mismatch_message(dflt);
    if (!*message)
      return NULL;
    *reason = CONFIDENCE_EVAL_REASON_ERROR;
    *code = CONFIDENCE_EVAL_ERROR_CODE_TYPE_MISMATCH;
    Py_INCREF(dflt);
    return dflt;
  }
  PyObject *v = kind == NATIVE_KIND_INT ? PyNumber_Long(dflt)
                : kind == NATIVE_KIND_FLOAT ? PyNumber_Float(dflt)
                                            : (Py_INCREF(dflt), dflt);
  if (v)
    return v;
  /* float() of an int too large for a double: an error result, not an
   * exception into the SDK. */
  if (!PyErr_ExceptionMatches(PyExc_Exception))
    return NULL;
  PyObject *type, *exc, *tb;
  PyErr_Fetch(&type, &exc, &tb);
  PyErr_NormalizeException(&type, &exc, &tb);
  *message = exc ? PyObject_Str(exc) : NULL;
  Py_XDECREF(type);
  Py_XDECREF(exc);
  Py_XDECREF(tb);
  if (!*message) {
    PyErr_Clear();
    *message = PyUnicode_FromString("the default cannot be converted");
    if (!*message)
      return NULL;
  }
  *reason = CONFIDENCE_EVAL_REASON_ERROR;
  *code = CONFIDENCE_EVAL_ERROR_CODE_GENERAL;
  Py_INCREF(dflt);
  return dflt;
}
