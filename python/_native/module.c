/* The module confidence._native: multi-phase initialisation (PEP 489), the
 * module state that holds its Python objects (NativeError, the Provider
 * type, the store op classes) and the module-level functions. */
#include "native.h"

#include <pthread.h>

static PyObject *py_set_store_types(PyObject *self, PyObject *args)
{
  native_state *st = native_state_of(self);
  PyObject *a, *b, *c;
  if (!PyArg_ParseTuple(args, "OOO", &a, &b, &c))
    return NULL;
  Py_INCREF(a), Py_INCREF(b), Py_INCREF(c);
  Py_XSETREF(st->variant_read_op, a);
  Py_XSETREF(st->inclusion_read_op, b);
  Py_XSETREF(st->variant_write_op, c);
  Py_RETURN_NONE;
}

static PyObject *py_set_release_gil(PyObject *self, PyObject *args)
{
  native_state *st = native_state_of(self);
  int on;
  if (!PyArg_ParseTuple(args, "p", &on))
    return NULL;
  return PyBool_FromLong(atomic_exchange(&st->release_gil, on));
}

static PyObject *py_version(PyObject *self, PyObject *a)
{
  (void)self, (void)a;
  return PyUnicode_FromString(confidence_version());
}

static PyObject *py_has_redis(PyObject *self, PyObject *a)
{
  (void)self, (void)a;
#ifdef CONFIDENCE_PY_HAVE_REDIS
  Py_RETURN_TRUE;
#else
  Py_RETURN_FALSE;
#endif
}

static PyMethodDef module_methods[] = {
    {"wait_callback", native_wait_callback, METH_VARARGS, "next log/event item or None after timeout"},
    {"wake_callbacks", native_wake_callbacks, METH_NOARGS, "wakes wait_callback"},
    {"callbacks_dropped", native_callbacks_dropped, METH_NOARGS, "log/event items dropped (queue full)"},
    {"set_store_types", py_set_store_types, METH_VARARGS, "the op classes handed to a Python store"},
    {"set_sdk_types", native_set_sdk_types, METH_VARARGS,
     "set_sdk_types(FlagResolutionDetails, reasons, codes, plain): what resolve_*_details return"},
    {"set_release_gil", py_set_release_gil, METH_VARARGS,
     "allow releasing the GIL around evaluation (default on; per provider: its release_gil option)"},
    {"version", py_version, METH_NOARGS, "libconfidence version"},
    {"has_redis", py_has_redis, METH_NOARGS, "built with the Redis store"},
    {NULL, NULL, 0, NULL}};

/* Process-wide C setup, once whichever module object asks first. Done
 * before any provider exists, so the library's own fork handlers (registered
 * with the first provider) run first in prepare: a library thread holding
 * one of its locks can still finish a callback. */
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static int setup_rc;

static void process_setup(void)
{
  setup_rc = native_provider_setup();
  if (setup_rc == 0)
    setup_rc = native_callbacks_setup();
}

/* PyModule_AddObjectRef (3.10+): adds `obj` without taking the caller's reference. */
static int add_object(PyObject *m, const char *name, PyObject *obj)
{
#if PY_VERSION_HEX >= 0x030A0000
  return PyModule_AddObjectRef(m, name, obj);
#else
  Py_XINCREF(obj);
  if (PyModule_AddObject(m, name, obj) < 0) {
    Py_XDECREF(obj);
    return -1;
  }
  return 0;
#endif
}

static int module_exec(PyObject *m)
{
  native_state *st = native_state_of(m);
  pthread_once(&setup_once, process_setup);
  if (setup_rc != 0) {
    PyErr_SetString(PyExc_RuntimeError, "cannot set up thread keys / fork handlers");
    return -1;
  }
  atomic_store(&st->release_gil, 1);
  static const char *const metadata_keys[3] = {"rule", "segment", "assignment_id"};
  for (int i = 0; i < 3; i++)
    if (!(st->metadata_keys[i] = PyUnicode_InternFromString(metadata_keys[i])))
      goto fail;
  st->provider_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &native_provider_spec, NULL);
  if (!st->provider_type)
    goto fail;
  st->native_error = PyErr_NewException("confidence._native.NativeError", PyExc_RuntimeError, NULL);
  if (!st->native_error)
    goto fail;
  if (add_object(m, "Provider", (PyObject *)st->provider_type) < 0 ||
      add_object(m, "NativeError", st->native_error) < 0 || PyModule_AddIntConstant(m, "CB_LOG", CB_LOG) < 0 ||
      PyModule_AddIntConstant(m, "CB_EVENT", CB_EVENT) < 0)
    goto fail;
  return 0;
fail:
  /* The state is cleared by module_clear when the half-made module goes. */
  return -1;
}

static int module_traverse(PyObject *m, visitproc visit, void *arg)
{
  native_state *st = native_state_of(m);
  Py_VISIT(st->native_error);
  Py_VISIT(st->provider_type);
  Py_VISIT(st->variant_read_op);
  Py_VISIT(st->inclusion_read_op);
  Py_VISIT(st->variant_write_op);
  int rc = native_names_traverse(st, visit, arg);
  return rc ? rc : native_sdk_traverse(&st->sdk, visit, arg);
}

static int module_clear(PyObject *m)
{
  native_state *st = native_state_of(m);
  Py_CLEAR(st->native_error);
  Py_CLEAR(st->provider_type);
  Py_CLEAR(st->variant_read_op);
  Py_CLEAR(st->inclusion_read_op);
  Py_CLEAR(st->variant_write_op);
  for (int i = 0; i < 3; i++)
    Py_CLEAR(st->metadata_keys[i]);
  native_sdk_clear(&st->sdk);
  native_names_clear(st);
  return 0;
}

static void module_free(void *m) { module_clear((PyObject *)m); }

/* The module runs without the GIL on free-threaded builds: its C state is
 * atomic, behind mutexes or per thread, its Python state is written only at
 * import, and the Python containers it reads are read in critical sections. */
static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, (void *)module_exec},
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL}};

PyModuleDef native_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_native",
    .m_doc = "libconfidence over CPython",
    .m_size = sizeof(native_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModuleDef_Init(&native_module_def); }
