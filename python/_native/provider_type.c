/* confidence._native.Provider: a heap type over one confidence_provider.
 * It maps an options dict onto confidence_provider_options (with the chosen
 * materialization store), evaluates with per-thread details, and exposes
 * lifecycle, tracking, metrics and counters. */
#include "native.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <confidence/all_flags.h>
#include <confidence/metrics.h>
#include <confidence/provider.h>
#include <confidence/tracking.h>

typedef native_provider ProviderObject;

PyObject *native_raise_code(native_state *st, int rc)
{
  PyObject *v = Py_BuildValue("(iss)", rc, confidence_strerror(rc), confidence_last_error_message());
  if (v) {
    PyErr_SetObject(st->native_error, v);
    Py_DECREF(v);
  }
  return NULL;
}

static PyObject *raise_code(ProviderObject *self, int rc)
{
  return native_raise_code(native_state_of_type(Py_TYPE(self)), rc);
}

/* Callback routing ids: process-wide, as the callback queue is; providers
 * may be made on several threads at once (no GIL on free-threaded builds). */
static atomic_ullong next_id = 1;

/* Provider(options: dict): keys named after confidence_provider_options
 * fields, plus store_kind ("python", "memory", "redis"), store (the Python
 * store object), store_url (redis), memory_max_entries. `d` is this call's
 * own copy: the strings and objects borrowed from it stay alive throughout. */
static int provider_init(ProviderObject *self, PyObject *d)
{
  if (self->p) {
    PyErr_SetString(PyExc_RuntimeError, "already initialised");
    return -1;
  }
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  native_store_choice sc = {NULL, NULL, 0};
  if (native_read_options(d, &o, &sc, &self->release_gil) != 0)
    return -1;
  PyObject *sb = PyDict_GetItemString(d, "state_bytes");
  if (sb && sb != Py_None) {
    if (!PyBytes_Check(sb)) {
      PyErr_SetString(PyExc_TypeError, "state_bytes must be bytes");
      return -1;
    }
    Py_INCREF(sb);
    Py_XSETREF(self->state_bytes, sb); /* a failed earlier __init__ may have set it */
    o.state_bytes = PyBytes_AS_STRING(sb);
    o.state_len = (size_t)PyBytes_GET_SIZE(sb);
  }
  self->id = atomic_fetch_add(&next_id, 1);
  o.log = native_on_log;
  o.log_level = CONFIDENCE_LOG_DEBUG; /* filtered by the Python logger's level */
  o.log_user_data = (void *)(uintptr_t)self->id;
  o.on_event = native_on_event;
  o.event_user_data = (void *)(uintptr_t)self->id;

  confidence_store *store = NULL;
  if (native_make_store(native_module_of_type(Py_TYPE(self)), d, &sc, &store) != 0)
    return -1;
  o.materialization_store = store;
  confidence_provider *p = NULL;
  int rc = confidence_provider_new(&o, &p); /* takes the store, also when it fails */
  if (rc != 0) {
    raise_code(self, rc);
    return -1;
  }
  self->p = p;
  return 0;
}

static int Provider_init(ProviderObject *self, PyObject *args, PyObject *kw)
{
  (void)kw;
  PyObject *options;
  if (!PyArg_ParseTuple(args, "O!", &PyDict_Type, &options))
    return -1;
  PyObject *d = PyDict_Copy(options);
  if (!d)
    return -1;
  int rc;
  /* Two __init__ calls on one object (each thread its own) are one after the other. */
  Py_BEGIN_CRITICAL_SECTION(self);
  rc = provider_init(self, d);
  Py_END_CRITICAL_SECTION();
  Py_DECREF(d);
  return rc;
}

static void provider_release(ProviderObject *self)
{
  confidence_provider *p = self->p;
  self->p = NULL;
  if (p) {
    Py_BEGIN_ALLOW_THREADS
    confidence_provider_free(p);
    Py_END_ALLOW_THREADS
  }
}

static void Provider_dealloc(ProviderObject *self)
{
  PyTypeObject *type = Py_TYPE(self);
  provider_release(self);
  Py_CLEAR(self->state_bytes);
  type->tp_free((PyObject *)self);
  Py_DECREF(type); /* instances of a heap type hold a reference to it */
}

#define NEED_P(self)                                                       \
  do {                                                                     \
    if (!(self)->p) {                                                      \
      PyErr_SetString(PyExc_RuntimeError, "the provider has been closed"); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)
static PyObject *Provider_id(ProviderObject *self, PyObject *a)
{
  (void)a;
  return PyLong_FromUnsignedLongLong(self->id);
}

static PyObject *Provider_start(ProviderObject *self, PyObject *args)
{
  unsigned int timeout_ms;
  if (!PyArg_ParseTuple(args, "I", &timeout_ms))
    return NULL;
  NEED_P(self);
  int rc;
  const char *msg;
  char buf[512];
  Py_BEGIN_ALLOW_THREADS
  rc = confidence_provider_start(self->p, timeout_ms);
  msg = confidence_last_error_message();
  snprintf(buf, sizeof buf, "%s", rc ? msg : "");
  Py_END_ALLOW_THREADS
  return Py_BuildValue("(is)", rc, buf);
}

static PyObject *Provider_status(ProviderObject *self, PyObject *a)
{
  (void)a;
  if (!self->p)
    return PyLong_FromLong(CONFIDENCE_STATUS_NOT_READY);
  return PyLong_FromLong(confidence_provider_status(self->p));
}

static PyObject *Provider_flush(ProviderObject *self, PyObject *args)
{
  unsigned int timeout_ms;
  if (!PyArg_ParseTuple(args, "I", &timeout_ms))
    return NULL;
  NEED_P(self);
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = confidence_provider_flush(self->p, timeout_ms);
  Py_END_ALLOW_THREADS
  return PyLong_FromLong(rc);
}

static PyObject *Provider_shutdown(ProviderObject *self, PyObject *args)
{
  unsigned int timeout_ms;
  if (!PyArg_ParseTuple(args, "I", &timeout_ms))
    return NULL;
  if (!self->p)
    return PyLong_FromLong(0);
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = confidence_provider_shutdown(self->p, timeout_ms);
  Py_END_ALLOW_THREADS
  return PyLong_FromLong(rc);
}

/* get(kind, flag_key, targeting_key, attributes, default)
 *   -> (value, reason, error_code, error_message, variant, metadata)
 * reason / error_code are the C enums; the value is `default` itself on an
 * error, so the caller gets back exactly what it passed. */
static PyObject *Provider_get(ProviderObject *self, PyObject *const *args, Py_ssize_t nargs)
{
  if (nargs != 5) {
    PyErr_SetString(PyExc_TypeError, "get(kind, flag_key, targeting_key, attributes, default)");
    return NULL;
  }
  NEED_P(self);
  long kind = PyLong_AsLong(args[0]);
  if (kind == -1 && PyErr_Occurred())
    return NULL;
  if (kind < NATIVE_KIND_BOOL || kind > NATIVE_KIND_OBJECT) {
    PyErr_SetString(PyExc_ValueError, "unknown kind");
    return NULL;
  }
  native_answer a;
  if (native_evaluate(self, (int)kind, args[1], args[2], args[3], args[4], &a) != 0)
    return NULL;
  return Py_BuildValue("(NiiNNN)", a.value, a.reason, a.code, a.message, a.variant, a.metadata);
}

/* After a failed conversion of part of an event: whether it was an
 * Exception (the caller's value: the event is counted invalid) rather than
 * KeyboardInterrupt or SystemExit (which propagate). Clears an Exception. */
static int conversion_failed_quietly(void)
{
  if (!PyErr_ExceptionMatches(PyExc_Exception))
    return 0;
  PyErr_Clear();
  return 1;
}

/* track(name, targeting_key, attributes, value_or_None, data_or_None).
 * Never raises for the caller's values: an event that cannot be converted
 * (name, context, value or data) is handed to the C side as one it refuses
 * (a context that is not a struct), so it is counted in the event stats'
 * `invalid`, like every other refused event, and nothing is logged. */
static PyObject *Provider_track(ProviderObject *self, PyObject *args)
{
  PyObject *name_obj, *tk, *attrs, *value, *data;
  if (!PyArg_ParseTuple(args, "OOOOO", &name_obj, &tk, &attrs, &value, &data))
    return NULL;
  NEED_P(self);
  int convertible = 1;
  Py_ssize_t name_len = 0;
  const char *name = PyUnicode_Check(name_obj) ? PyUnicode_AsUTF8AndSize(name_obj, &name_len) : NULL;
  if (!name || strlen(name) != (size_t)name_len) {
    if (PyErr_Occurred() && !conversion_failed_quietly())
      return NULL;
    convertible = 0;
  }
  confidence_value *ctx = NULL, *dv = NULL;
  confidence_track_details det = CONFIDENCE_TRACK_DETAILS_INIT;
  if (convertible && (tk != Py_None || attrs != Py_None) && !(ctx = native_make_context(NULL, tk, attrs, NULL)))
    convertible = 0;
  if (convertible && value != Py_None) {
    det.value = PyFloat_AsDouble(value);
    det.has_value = !(det.value == -1.0 && PyErr_Occurred());
    convertible = det.has_value;
  }
  if (convertible && data != Py_None && !(dv = native_to_value(NULL, data, 0, NULL)))
    convertible = 0;
  det.data = dv;
  if (!convertible) {
    confidence_value_free(ctx);
    confidence_value_free(dv);
    ctx = dv = NULL;
    det.data = NULL;
    if (PyErr_Occurred() && !conversion_failed_quietly())
      return NULL;
    ctx = confidence_value_new_null();
    if (!ctx)
      return PyErr_NoMemory();
  }
  confidence_provider_track(self->p, convertible ? name : "", ctx, &det);
  confidence_value_free(ctx);
  confidence_value_free(dv);
  Py_RETURN_NONE;
}

static PyObject *Provider_metrics(ProviderObject *self, PyObject *args)
{
  int openmetrics = 0;
  const char *instance = NULL;
  if (!PyArg_ParseTuple(args, "|pz", &openmetrics, &instance))
    return NULL;
  NEED_P(self);
  confidence_metrics_options mo = CONFIDENCE_METRICS_OPTIONS_INIT;
  mo.openmetrics = openmetrics;
  mo.instance = instance;
  char *text = NULL;
  int rc = confidence_provider_metrics(self->p, &mo, &text);
  if (rc != 0)
    return raise_code(self, rc);
  PyObject *r = PyUnicode_FromString(text);
  confidence_string_free(text);
  return r;
}

static int put_u64(PyObject *d, const char *k, uint64_t v)
{
  PyObject *n = PyLong_FromUnsignedLongLong(v);
  int rc = n ? PyDict_SetItemString(d, k, n) : -1;
  Py_XDECREF(n);
  return rc;
}

static PyObject *Provider_stats(ProviderObject *self, PyObject *a)
{
  (void)a;
  NEED_P(self);
  confidence_provider_stats s = CONFIDENCE_PROVIDER_STATS_INIT;
  confidence_event_stats e = CONFIDENCE_EVENT_STATS_INIT;
  confidence_store_stats st = CONFIDENCE_STORE_STATS_INIT;
  confidence_provider_read_stats(self->p, &s);
  confidence_provider_read_event_stats(self->p, &e);
  confidence_provider_read_store_stats(self->p, &st);
  PyObject *d = PyDict_New();
  if (!d)
    return NULL;
  struct {
    const char *k;
    uint64_t v;
  } f[] = {{"evaluations", s.evaluations},
           {"exposures_queued", s.exposures_queued},
           {"exposures_sent", s.exposures_sent},
           {"exposures_dropped", s.exposures_dropped},
           {"state_updates", s.state_updates},
           {"state_fetch_failures", s.state_fetch_failures},
           {"log_send_failures", s.log_send_failures},
           {"resolve_counts_dropped", s.resolve_counts_dropped},
           {"exposures_deduplicated", s.exposures_deduplicated},
           {"exposures_rejected", s.exposures_rejected},
           {"exposures_lost_at_shutdown", s.exposures_lost_at_shutdown},
           {"exposures_resent", s.exposures_resent},
           {"events_tracked", e.tracked},
           {"events_queued", e.queued},
           {"events_sent", e.sent},
           {"events_rejected", e.rejected},
           {"events_dropped", e.dropped},
           {"events_invalid", e.invalid},
           {"events_send_failures", e.send_failures},
           {"store_reads", st.reads},
           {"store_read_failures", st.read_failures},
           {"store_read_timeouts", st.read_timeouts},
           {"store_writes", st.writes},
           {"store_write_failures", st.write_failures},
           {"store_writes_queued", st.writes_queued},
           {"store_writes_dropped", st.writes_dropped}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    if (put_u64(d, f[i].k, f[i].v) != 0) {
      Py_DECREF(d);
      return NULL;
    }
  return d;
}

static PyObject *Provider_evaluate_all(ProviderObject *self, PyObject *args)
{
  PyObject *tk, *attrs;
  int apply;
  if (!PyArg_ParseTuple(args, "OOp", &tk, &attrs, &apply))
    return NULL;
  NEED_P(self);
  confidence_value *ctx = native_make_context(NULL, tk, attrs, NULL);
  if (!ctx)
    return NULL;
  char *json = NULL;
  int rc;
  native_store_enter();
  Py_BEGIN_ALLOW_THREADS
  rc = confidence_provider_evaluate_all(self->p, ctx, apply, NULL, &json);
  Py_END_ALLOW_THREADS
  confidence_value_free(ctx);
  if (native_store_leave() != 0) { /* a store raised KeyboardInterrupt or the like */
    confidence_string_free(json);
    return NULL;
  }
  if (rc != 0)
    return raise_code(self, rc);
  PyObject *r = PyUnicode_FromString(json);
  confidence_string_free(json);
  return r;
}

static PyMethodDef Provider_methods[] = {
    {"id", (PyCFunction)Provider_id, METH_NOARGS, "callback routing id"},
    {"start", (PyCFunction)Provider_start, METH_VARARGS, "start(timeout_ms) -> (rc, message)"},
    {"status", (PyCFunction)Provider_status, METH_NOARGS, "confidence_status"},
    {"flush", (PyCFunction)Provider_flush, METH_VARARGS, "flush(timeout_ms) -> rc"},
    {"shutdown", (PyCFunction)Provider_shutdown, METH_VARARGS, "shutdown(timeout_ms) -> rc"},
    {"get", (PyCFunction)(void (*)(void))Provider_get, METH_FASTCALL, "typed evaluation"},
#define RESOLVER(name) {#name, (PyCFunction)(void (*)(void))native_##name, METH_FASTCALL | METH_KEYWORDS, "the SDK's " #name}
    RESOLVER(resolve_boolean_details),
    RESOLVER(resolve_integer_details),
    RESOLVER(resolve_float_details),
    RESOLVER(resolve_string_details),
    RESOLVER(resolve_object_details),
#undef RESOLVER
    {"track", (PyCFunction)Provider_track, METH_VARARGS, "track an event"},
    {"metrics", (PyCFunction)Provider_metrics, METH_VARARGS, "metrics([openmetrics, instance]) -> str"},
    {"stats", (PyCFunction)Provider_stats, METH_NOARGS, "counters"},
    {"evaluate_all", (PyCFunction)Provider_evaluate_all, METH_VARARGS, "evaluate_all(tk, attrs, apply) -> json"},
    {NULL, NULL, 0, NULL}};


static PyType_Slot Provider_slots[] = {
    {Py_tp_new, (void *)PyType_GenericNew},
    {Py_tp_init, (void *)Provider_init},
    {Py_tp_dealloc, (void *)Provider_dealloc},
    {Py_tp_methods, Provider_methods},
    {0, NULL}};

#ifndef Py_TPFLAGS_IMMUTABLETYPE /* before 3.10 only static types were immutable */
#define Py_TPFLAGS_IMMUTABLETYPE 0
#endif

PyType_Spec native_provider_spec = {
    .name = "confidence._native.Provider",
    .basicsize = sizeof(ProviderObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Provider_slots,
};
