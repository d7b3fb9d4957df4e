/* confidence._native: the CPython face of libconfidence, over the public C
 * API only. It converts Python values to confidence_value trees and back,
 * bridges a Python materialization store to the store vtable, and carries
 * the provider's log and event callbacks to Python through a queue: C
 * threads never wait for the GIL there, so a callback can neither deadlock
 * a fork (the library's atfork handlers take its locks while the forking
 * thread holds the GIL) nor touch a finalizing interpreter. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <confidence/all_flags.h>
#include <confidence/confidence.h>
#include <confidence/metrics.h>
#include <confidence/provider.h>
#include <confidence/store.h>
#include <confidence/sys/store.h>
#include <confidence/tracking.h>
#ifdef CONFIDENCE_PY_HAVE_REDIS
#include <confidence/redis.h>
#endif

#if PY_VERSION_HEX >= 0x030D0000
#define PY_FINALIZING() Py_IsFinalizing()
#else
#define PY_FINALIZING() _Py_IsFinalizing()
#endif

#define MAX_DEPTH 64

/* ---- the callback queue -------------------------------------------------------- */

enum { CB_LOG = 0, CB_EVENT = 1 };
typedef struct cb_item {
  struct cb_item *next;
  unsigned long long pid;
  int kind, level, type, status;
  char *message;
  char **flags;
  size_t nflags;
} cb_item;

#define CB_MAX_QUEUED 10000
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static cb_item *q_head, *q_tail;
static size_t q_len;
static unsigned long long q_dropped;
static int q_wake;

static void q_prepare(void) { pthread_mutex_lock(&q_mu); }
static void q_parent(void) { pthread_mutex_unlock(&q_mu); }
static void q_child(void)
{
  /* The dispatcher thread that waited on q_cv does not exist here. */
  pthread_cond_init(&q_cv, NULL);
  pthread_mutex_unlock(&q_mu);
}

static char *dupstr(const char *s)
{
  size_t n = strlen(s ? s : "");
  char *d = malloc(n + 1);
  if (d)
    memcpy(d, s ? s : "", n + 1);
  return d;
}

static void item_free(cb_item *it)
{
  if (!it)
    return;
  free(it->message);
  for (size_t i = 0; i < it->nflags; i++)
    free(it->flags[i]);
  free(it->flags);
  free(it);
}

static void q_push(cb_item *it)
{
  pthread_mutex_lock(&q_mu);
  if (q_len >= CB_MAX_QUEUED) {
    q_dropped++;
    pthread_mutex_unlock(&q_mu);
    item_free(it);
    return;
  }
  if (q_tail)
    q_tail->next = it;
  else
    q_head = it;
  q_tail = it;
  q_len++;
  pthread_cond_signal(&q_cv);
  pthread_mutex_unlock(&q_mu);
}

static void on_log(int level, const char *message, void *user)
{
  cb_item *it = calloc(1, sizeof *it);
  if (!it)
    return;
  it->pid = (unsigned long long)(uintptr_t)user;
  it->kind = CB_LOG;
  it->level = level;
  it->message = dupstr(message);
  q_push(it);
}

static void on_event(const confidence_event *e, void *user)
{
  cb_item *it = calloc(1, sizeof *it);
  if (!it)
    return;
  it->pid = (unsigned long long)(uintptr_t)user;
  it->kind = CB_EVENT;
  it->type = e->type;
  it->status = e->status;
  it->message = dupstr(e->message);
  if (e->flags_changed_count) {
    it->flags = calloc(e->flags_changed_count, sizeof *it->flags);
    if (it->flags) {
      for (size_t i = 0; i < e->flags_changed_count; i++)
        it->flags[i] = dupstr(e->flags_changed[i]);
      it->nflags = e->flags_changed_count;
    }
  }
  q_push(it);
}

/* wait_callback(timeout_s) -> (pid, kind, level_or_type, status, message, flags) or None */
static PyObject *py_wait_callback(PyObject *self, PyObject *args)
{
  (void)self;
  double timeout;
  if (!PyArg_ParseTuple(args, "d", &timeout))
    return NULL;
  cb_item *it = NULL;
  Py_BEGIN_ALLOW_THREADS
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long ns = (long long)(timeout * 1e9);
  ts.tv_sec += (time_t)(ns / 1000000000LL);
  ts.tv_nsec += (long)(ns % 1000000000LL);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&q_mu);
  while (!q_head && !q_wake) {
    if (pthread_cond_timedwait(&q_cv, &q_mu, &ts) != 0)
      break;
  }
  q_wake = 0;
  if (q_head) {
    it = q_head;
    q_head = it->next;
    if (!q_head)
      q_tail = NULL;
    q_len--;
  }
  pthread_mutex_unlock(&q_mu);
  Py_END_ALLOW_THREADS
  if (!it)
    Py_RETURN_NONE;
  PyObject *flags = PyTuple_New((Py_ssize_t)it->nflags);
  if (!flags) {
    item_free(it);
    return NULL;
  }
  for (size_t i = 0; i < it->nflags; i++) {
    PyObject *s = PyUnicode_DecodeUTF8(it->flags[i], (Py_ssize_t)strlen(it->flags[i]), "replace");
    if (!s) {
      Py_DECREF(flags);
      item_free(it);
      return NULL;
    }
    PyTuple_SET_ITEM(flags, (Py_ssize_t)i, s);
  }
  const char *msg = it->message ? it->message : "";
  PyObject *r = Py_BuildValue("(KiiiNN)", it->pid, it->kind, it->kind == CB_LOG ? it->level : it->type, it->status,
                              PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg), "replace"), flags);
  item_free(it);
  return r;
}

static PyObject *py_wake_callbacks(PyObject *self, PyObject *args)
{
  (void)self, (void)args;
  pthread_mutex_lock(&q_mu);
  q_wake = 1;
  pthread_cond_broadcast(&q_cv);
  pthread_mutex_unlock(&q_mu);
  Py_RETURN_NONE;
}

static PyObject *py_callbacks_dropped(PyObject *self, PyObject *args)
{
  (void)self, (void)args;
  pthread_mutex_lock(&q_mu);
  unsigned long long d = q_dropped;
  pthread_mutex_unlock(&q_mu);
  return PyLong_FromUnsignedLongLong(d);
}

/* ---- values ------------------------------------------------------------------------ */

static confidence_value *to_value(PyObject *o, int depth);

static confidence_value *str_value(PyObject *s)
{
  Py_ssize_t n;
  const char *u = PyUnicode_AsUTF8AndSize(s, &n);
  if (!u)
    return NULL;
  return confidence_value_new_string_len(u, (size_t)n);
}

static int struct_set(confidence_value *st, PyObject *key, PyObject *val, int depth)
{
  PyObject *ks = PyUnicode_Check(key) ? (Py_INCREF(key), key) : PyObject_Str(key);
  if (!ks)
    return -1;
  Py_ssize_t kn;
  const char *k = PyUnicode_AsUTF8AndSize(ks, &kn);
  if (!k) {
    Py_DECREF(ks);
    return -1;
  }
  confidence_value *v = to_value(val, depth + 1);
  if (!v) {
    Py_DECREF(ks);
    return -1;
  }
  int rc = confidence_value_struct_set_len(st, k, (size_t)kn, v);
  Py_DECREF(ks);
  if (rc != 0) {
    PyErr_NoMemory();
    return -1;
  }
  return 0;
}

/* Python -> value, as the official provider converts a context: None, bool,
 * numbers, str, lists, mappings; anything else by str(). */
static confidence_value *to_value(PyObject *o, int depth)
{
  if (depth > MAX_DEPTH) {
    PyErr_SetString(PyExc_ValueError, "value nests too deeply");
    return NULL;
  }
  confidence_value *v = NULL;
  if (o == Py_None)
    v = confidence_value_new_null();
  else if (PyBool_Check(o))
    v = confidence_value_new_bool(o == Py_True);
  else if (PyLong_Check(o) || PyFloat_Check(o)) {
    double d = PyFloat_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred())
      return NULL;
    v = confidence_value_new_number(d);
  } else if (PyUnicode_Check(o))
    return str_value(o);
  else if (PyList_Check(o) || PyTuple_Check(o)) {
    v = confidence_value_new_list();
    if (!v)
      return (confidence_value *)PyErr_NoMemory();
    Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    for (Py_ssize_t i = 0; i < n; i++) {
      confidence_value *item = to_value(PySequence_Fast_GET_ITEM(o, i), depth + 1);
      if (!item || confidence_value_list_append(v, item) != 0) {
        confidence_value_free(v);
        return item ? (confidence_value *)PyErr_NoMemory() : NULL;
      }
    }
    return v;
  } else if (PyDict_Check(o)) {
    v = confidence_value_new_struct();
    if (!v)
      return (confidence_value *)PyErr_NoMemory();
    PyObject *k, *val;
    Py_ssize_t pos = 0;
    while (PyDict_Next(o, &pos, &k, &val))
      if (struct_set(v, k, val, depth) != 0) {
        confidence_value_free(v);
        return NULL;
      }
    return v;
  } else if (PyMapping_Check(o) && PyObject_HasAttrString(o, "items")) {
    PyObject *d = PyDict_New();
    if (!d || PyDict_Update(d, o) != 0) {
      Py_XDECREF(d);
      return NULL;
    }
    v = to_value(d, depth);
    Py_DECREF(d);
    return v;
  } else {
    PyObject *s = PyObject_Str(o);
    if (!s)
      return NULL;
    v = str_value(s);
    Py_DECREF(s);
    return v;
  }
  if (!v)
    PyErr_NoMemory();
  return v;
}

/* value -> Python; numbers become float, as the official provider returns them. */
static PyObject *from_value(const confidence_value *v)
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
  case CONFIDENCE_VALUE_LIST: {
    size_t n = confidence_value_list_size(v);
    PyObject *l = PyList_New((Py_ssize_t)n);
    if (!l)
      return NULL;
    for (size_t i = 0; i < n; i++) {
      PyObject *item = from_value(confidence_value_list_at(v, i));
      if (!item) {
        Py_DECREF(l);
        return NULL;
      }
      PyList_SET_ITEM(l, (Py_ssize_t)i, item);
    }
    return l;
  }
  case CONFIDENCE_VALUE_STRUCT: {
    size_t n = confidence_value_struct_size(v);
    PyObject *d = PyDict_New();
    if (!d)
      return NULL;
    for (size_t i = 0; i < n; i++) {
      size_t kl;
      const char *k = confidence_value_struct_key_at(v, i, &kl);
      PyObject *ks = PyUnicode_DecodeUTF8(k, (Py_ssize_t)kl, "replace");
      PyObject *item = ks ? from_value(confidence_value_struct_value_at(v, i)) : NULL;
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
  default:
    Py_RETURN_NONE;
  }
}

/* An OpenFeature context: targeting_key first, then the attributes (an
 * attribute called targeting_key overrides it, as in the official provider). */
static confidence_value *make_context(PyObject *targeting_key, PyObject *attrs)
{
  confidence_value *ctx = confidence_value_new_struct();
  if (!ctx)
    return (confidence_value *)PyErr_NoMemory();
  if (targeting_key && targeting_key != Py_None && PyObject_IsTrue(targeting_key) == 1) {
    PyObject *k = PyUnicode_FromString("targeting_key");
    int rc = k ? struct_set(ctx, k, targeting_key, 0) : -1;
    Py_XDECREF(k);
    if (rc != 0) {
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
    PyObject *k, *val;
    Py_ssize_t pos = 0;
    while (PyDict_Next(attrs, &pos, &k, &val))
      if (struct_set(ctx, k, val, 0) != 0) {
        confidence_value_free(ctx);
        return NULL;
      }
  }
  return ctx;
}

/* ---- per-thread state ------------------------------------------------------------------ */

static pthread_key_t details_key;
static int release_gil = 1;

static void details_destroy(void *d) { confidence_details_free(d); }

static confidence_details *thread_details(void)
{
  confidence_details *d = pthread_getspecific(details_key);
  if (!d) {
    d = confidence_details_new();
    if (d)
      pthread_setspecific(details_key, d);
  }
  return d;
}

/* A KeyboardInterrupt / SystemExit raised inside a store callback on this
 * thread: re-raised once the evaluation returns, never swallowed. */
static _Thread_local PyObject *pend_type, *pend_value, *pend_tb;
static _Thread_local int in_get; /* this thread is inside Provider_get */

/* ---- the Python store bridge ----------------------------------------------------------------- */

static PyObject *t_variant_read_op, *t_inclusion_read_op, *t_variant_write_op;

typedef struct pystore {
  confidence_store vt;
  PyObject *obj;
} pystore;

static PyObject *decode(const char *s, size_t n) { return PyUnicode_DecodeUTF8(s ? s : "", (Py_ssize_t)n, "replace"); }

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
  if (in_get && type && !PyErr_GivenExceptionMatches(type, PyExc_Exception) && !pend_type) {
    pend_type = type, pend_value = value, pend_tb = tb; /* BaseException: re-raise later */
  } else {
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
  }
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

static int pystore_read(const confidence_store_read_op *const *ops, size_t count, confidence_store_batch *batch,
                        void *user)
{
  pystore *ps = user;
  if (PY_FINALIZING()) {
    confidence_store_batch_set_error(batch, "materialization store read failed: interpreter is finalizing");
    return CONFIDENCE_EIO;
  }
  PyGILState_STATE gs = PyGILState_Ensure();
  int rc = 0;
  PyObject *list = PyList_New((Py_ssize_t)count), *res = NULL, *it = NULL;
  if (!list)
    goto fail;
  for (size_t i = 0; i < count; i++) {
    const confidence_store_read_op *op = ops[i];
    PyObject *o;
    if (op->kind == CONFIDENCE_STORE_OP_VARIANT_READ)
      o = PyObject_CallFunction(t_variant_read_op, "(NNN)", decode(op->unit, op->unit_len),
                                decode(op->materialization, strlen(op->materialization)),
                                decode(op->rule, strlen(op->rule)));
    else
      o = PyObject_CallFunction(t_inclusion_read_op, "(NN)", decode(op->unit, op->unit_len),
                                decode(op->materialization, strlen(op->materialization)));
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
  if (PY_FINALIZING()) {
    confidence_store_batch_set_error(batch, "materialization store write failed: interpreter is finalizing");
    return CONFIDENCE_EIO;
  }
  PyGILState_STATE gs = PyGILState_Ensure();
  int rc = 0;
  PyObject *res = NULL, *list = PyList_New((Py_ssize_t)count);
  if (!list)
    goto fail;
  for (size_t i = 0; i < count; i++) {
    const confidence_store_write_op *op = ops[i];
    PyObject *o = PyObject_CallFunction(t_variant_write_op, "(NNNN)", decode(op->unit, op->unit_len),
                                        decode(op->materialization, strlen(op->materialization)),
                                        decode(op->rule, strlen(op->rule)),
                                        decode(op->variant, strlen(op->variant)));
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
    PyGILState_Release(gs);
  }
  free(ps);
}

/* ---- the Provider type ---------------------------------------------------------------------------------- */

typedef struct {
  PyObject_HEAD confidence_provider *p;
  unsigned long long id;
  PyObject *state_bytes; /* kept alive for the provider's lifetime */
  int release_gil;       /* a store that blocks in C (remote, Redis): let other threads run meanwhile */
} ProviderObject;

static PyObject *NativeError;

static PyObject *raise_code(int rc)
{
  PyObject *v = Py_BuildValue("(iss)", rc, confidence_strerror(rc), confidence_last_error_message());
  if (v) {
    PyErr_SetObject(NativeError, v);
    Py_DECREF(v);
  }
  return NULL;
}

static int opt_str(PyObject *d, const char *key, const char **out)
{
  PyObject *v = PyDict_GetItemString(d, key);
  if (!v || v == Py_None)
    return 0;
  if (!PyUnicode_Check(v)) {
    PyErr_Format(PyExc_TypeError, "%s must be a str", key);
    return -1;
  }
  *out = PyUnicode_AsUTF8(v);
  return *out ? 0 : -1;
}

static int opt_u32(PyObject *d, const char *key, uint32_t *out)
{
  PyObject *v = PyDict_GetItemString(d, key);
  if (!v || v == Py_None)
    return 0;
  unsigned long long n = PyLong_AsUnsignedLongLong(v);
  if (PyErr_Occurred())
    return -1;
  if (n > UINT32_MAX) {
    PyErr_Format(PyExc_ValueError, "%s is too large", key);
    return -1;
  }
  *out = (uint32_t)n;
  return 0;
}

static int opt_bool(PyObject *d, const char *key, int *out)
{
  PyObject *v = PyDict_GetItemString(d, key);
  if (!v || v == Py_None)
    return 0;
  int b = PyObject_IsTrue(v);
  if (b < 0)
    return -1;
  *out = b;
  return 0;
}

static unsigned long long next_id = 1;

/* Provider(options: dict): keys named after confidence_provider_options
 * fields, plus store_kind ("python", "memory", "redis"), store (the Python
 * store object), store_url (redis), memory_max_entries. */
static int Provider_init(ProviderObject *self, PyObject *args, PyObject *kw)
{
  (void)kw;
  PyObject *d;
  if (!PyArg_ParseTuple(args, "O!", &PyDict_Type, &d))
    return -1;
  if (self->p) {
    PyErr_SetString(PyExc_RuntimeError, "already initialised");
    return -1;
  }
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  const char *store_kind = NULL, *store_url = NULL;
  uint32_t max_entries = 0;
  if (opt_str(d, "client_secret", &o.client_secret) || opt_str(d, "encryption_key_hex", &o.encryption_key_hex) ||
      opt_str(d, "cdn_base_url", &o.cdn_base_url) || opt_str(d, "flag_log_grpc_url", &o.flag_log_grpc_url) ||
      opt_str(d, "ingest_url", &o.ingest_url) || opt_str(d, "events_grpc_url", &o.events_grpc_url) ||
      opt_str(d, "state_file", &o.state_file) || opt_str(d, "account_id", &o.account_id) ||
      opt_u32(d, "state_poll_interval_ms", &o.state_poll_interval_ms) ||
      opt_u32(d, "log_poll_interval_ms", &o.log_poll_interval_ms) || opt_u32(d, "http_timeout_ms", &o.http_timeout_ms) ||
      opt_u32(d, "stale_after_ms", &o.stale_after_ms) || opt_u32(d, "max_queued_exposures", &o.max_queued_exposures) ||
      opt_u32(d, "max_queued_events", &o.max_queued_events) ||
      opt_u32(d, "materialization_read_timeout_ms", &o.materialization_read_timeout_ms) ||
      opt_u32(d, "materialization_write_timeout_ms", &o.materialization_write_timeout_ms) ||
      opt_u32(d, "max_queued_materialization_writes", &o.max_queued_materialization_writes) ||
      opt_bool(d, "async_materialization_writes", &o.async_materialization_writes) ||
      opt_bool(d, "disable_exposure_collection", &o.disable_exposure_collection) ||
      opt_bool(d, "disable_state_sync", &o.disable_state_sync) ||
      opt_bool(d, "disable_apply_dedup", &o.disable_apply_dedup) ||
      opt_bool(d, "use_remote_materialization_store", &o.use_remote_materialization_store) ||
      opt_str(d, "store_kind", &store_kind) || opt_str(d, "store_url", &store_url) ||
      opt_u32(d, "memory_max_entries", &max_entries) || opt_bool(d, "release_gil", &self->release_gil))
    return -1;
  PyObject *sb = PyDict_GetItemString(d, "state_bytes");
  if (sb && sb != Py_None) {
    if (!PyBytes_Check(sb)) {
      PyErr_SetString(PyExc_TypeError, "state_bytes must be bytes");
      return -1;
    }
    Py_INCREF(sb);
    self->state_bytes = sb;
    o.state_bytes = PyBytes_AS_STRING(sb);
    o.state_len = (size_t)PyBytes_GET_SIZE(sb);
  }
  self->id = next_id++;
  o.log = on_log;
  o.log_level = CONFIDENCE_LOG_DEBUG; /* filtered by the Python logger's level */
  o.log_user_data = (void *)(uintptr_t)self->id;
  o.on_event = on_event;
  o.event_user_data = (void *)(uintptr_t)self->id;

  confidence_store *store = NULL;
  pystore *ps = NULL;
  if (store_kind && strcmp(store_kind, "python") == 0) {
    PyObject *obj = PyDict_GetItemString(d, "store");
    if (!obj || !PyObject_HasAttrString(obj, "read")) {
      PyErr_SetString(PyExc_TypeError, "materialization_store needs a read(ops) method");
      return -1;
    }
    ps = calloc(1, sizeof *ps);
    if (!ps) {
      PyErr_NoMemory();
      return -1;
    }
    ps->vt.version = CONFIDENCE_STORE_VERSION;
    ps->vt.read = pystore_read;
    ps->vt.write = PyObject_HasAttrString(obj, "write") ? pystore_write : NULL;
    ps->vt.free = pystore_free;
    ps->vt.user_data = ps;
    Py_INCREF(obj);
    ps->obj = obj;
    store = &ps->vt;
  } else if (store_kind && strcmp(store_kind, "memory") == 0) {
    confidence_memory_store_options mo = CONFIDENCE_MEMORY_STORE_OPTIONS_INIT;
    mo.max_entries = max_entries;
    int rc = confidence_memory_store_new(&mo, &store);
    if (rc != 0) {
      raise_code(rc);
      return -1;
    }
  } else if (store_kind && strcmp(store_kind, "redis") == 0) {
#ifdef CONFIDENCE_PY_HAVE_REDIS
    int rc = confidence_redis_store_from_url(store_url ? store_url : "redis://127.0.0.1:6379", &store);
    if (rc != 0) {
      raise_code(rc);
      return -1;
    }
#else
    PyErr_SetString(PyExc_RuntimeError, "this build has no Redis store (libhiredis-dev was missing when it was built)");
    return -1;
#endif
  }
  o.materialization_store = store;
  confidence_provider *p = NULL;
  int rc = confidence_provider_new(&o, &p);
  if (rc != 0) {
    /* not accepted: the store is still ours */
    if (store && !ps)
      confidence_store_free(store);
    else if (ps) {
      Py_DECREF(ps->obj);
      free(ps);
    }
    raise_code(rc);
    return -1;
  }
  self->p = p;
  return 0;
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
  provider_release(self);
  Py_CLEAR(self->state_bytes);
  Py_TYPE(self)->tp_free((PyObject *)self);
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

static PyObject *Provider_close(ProviderObject *self, PyObject *a)
{
  (void)a;
  provider_release(self);
  Py_RETURN_NONE;
}

enum { K_BOOL = 0, K_INT = 1, K_FLOAT = 2, K_STRING = 3, K_OBJECT = 4 };

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
  int kind = (int)PyLong_AsLong(args[0]);
  if (kind == -1 && PyErr_Occurred())
    return NULL;
  const char *key = PyUnicode_AsUTF8(args[1]);
  if (!key)
    return NULL;
  PyObject *dflt = args[4];
  int b_def = 0;
  int64_t i_def = 0;
  double f_def = 0;
  const char *s_def = NULL;
  confidence_value *o_def = NULL;
  switch (kind) {
  case K_BOOL:
    b_def = PyObject_IsTrue(dflt);
    if (b_def < 0)
      return NULL;
    break;
  case K_INT:
    i_def = PyLong_AsLongLong(dflt);
    if (i_def == -1 && PyErr_Occurred())
      return NULL;
    break;
  case K_FLOAT:
    f_def = PyFloat_AsDouble(dflt);
    if (f_def == -1.0 && PyErr_Occurred())
      return NULL;
    break;
  case K_STRING:
    if (!PyUnicode_Check(dflt)) {
      PyErr_SetString(PyExc_TypeError, "default_value must be a str");
      return NULL;
    }
    s_def = PyUnicode_AsUTF8(dflt);
    if (!s_def)
      return NULL;
    break;
  case K_OBJECT:
    break;
  default:
    PyErr_SetString(PyExc_ValueError, "unknown kind");
    return NULL;
  }
  confidence_value *ctx = make_context(args[2], args[3]);
  if (!ctx)
    return NULL;
  confidence_details *det = thread_details();
  if (!det) {
    confidence_value_free(ctx);
    return PyErr_NoMemory();
  }
  confidence_provider *p = self->p;
  int b_res = 0;
  int64_t i_res = 0;
  double f_res = 0;
  char *s_res = NULL;
  confidence_value *o_res = NULL;
  in_get = 1;
  /* Measured (docs/benchmarks.md): an evaluation costs less than giving the
   * GIL away and taking it back under contention, so it is released only
   * where the C side may block. */
  PyThreadState *ts = (release_gil && self->release_gil) ? PyEval_SaveThread() : NULL;
  switch (kind) {
  case K_BOOL:
    b_res = confidence_provider_get_bool(p, key, ctx, b_def, det);
    break;
  case K_INT:
    i_res = confidence_provider_get_int(p, key, ctx, i_def, det);
    break;
  case K_FLOAT:
    f_res = confidence_provider_get_double(p, key, ctx, f_def, det);
    break;
  case K_STRING:
    s_res = confidence_provider_get_string(p, key, ctx, s_def, det);
    break;
  default:
    o_res = confidence_provider_get_object(p, key, ctx, o_def, det);
    break;
  }
  if (ts)
    PyEval_RestoreThread(ts);
  in_get = 0;
  confidence_value_free(ctx);
  if (pend_type) {
    confidence_string_free(s_res);
    confidence_value_free(o_res);
    PyErr_Restore(pend_type, pend_value, pend_tb);
    pend_type = pend_value = pend_tb = NULL;
    return NULL;
  }
  int reason = confidence_details_reason(det), code = confidence_details_error_code(det);
  const char *variant = confidence_details_variant(det);
  PyObject *value;
  if (code != CONFIDENCE_EVAL_ERROR_CODE_NONE || (kind == K_OBJECT && !o_res)) {
    Py_INCREF(dflt);
    value = dflt;
  } else {
    switch (kind) {
    case K_BOOL:
      value = PyBool_FromLong(b_res);
      break;
    case K_INT:
      value = PyLong_FromLongLong(i_res);
      break;
    case K_FLOAT:
      value = PyFloat_FromDouble(f_res);
      break;
    case K_STRING:
      value = s_res ? PyUnicode_DecodeUTF8(s_res, (Py_ssize_t)strlen(s_res), "replace") : (Py_INCREF(dflt), dflt);
      break;
    default:
      value = from_value(o_res);
      break;
    }
  }
  confidence_string_free(s_res);
  confidence_value_free(o_res);
  if (!value)
    return NULL;
  const char *emsg = confidence_details_error_message(det);
  PyObject *meta = from_value(confidence_details_metadata(det));
  if (!meta) {
    Py_DECREF(value);
    return NULL;
  }
  PyObject *em = *emsg ? PyUnicode_DecodeUTF8(emsg, (Py_ssize_t)strlen(emsg), "replace") : (Py_INCREF(Py_None), Py_None);
  PyObject *vs = *variant ? PyUnicode_DecodeUTF8(variant, (Py_ssize_t)strlen(variant), "replace")
                          : (Py_INCREF(Py_None), Py_None);
  if (!em || !vs) {
    Py_DECREF(value), Py_DECREF(meta), Py_XDECREF(em), Py_XDECREF(vs);
    return NULL;
  }
  return Py_BuildValue("(NiiNNN)", value, reason, code, em, vs, meta);
}

/* track(name, targeting_key, attributes, value_or_None, data_or_None) */
static PyObject *Provider_track(ProviderObject *self, PyObject *args)
{
  const char *name;
  PyObject *tk, *attrs, *value, *data;
  if (!PyArg_ParseTuple(args, "sOOOO", &name, &tk, &attrs, &value, &data))
    return NULL;
  NEED_P(self);
  confidence_value *ctx = NULL, *dv = NULL;
  if (tk != Py_None || attrs != Py_None) {
    ctx = make_context(tk, attrs);
    if (!ctx)
      return NULL;
  }
  confidence_track_details det = CONFIDENCE_TRACK_DETAILS_INIT;
  if (value != Py_None) {
    det.value = PyFloat_AsDouble(value);
    if (det.value == -1.0 && PyErr_Occurred()) {
      confidence_value_free(ctx);
      return NULL;
    }
    det.has_value = 1;
  }
  if (data != Py_None) {
    dv = to_value(data, 0);
    if (!dv) {
      confidence_value_free(ctx);
      return NULL;
    }
    det.data = dv;
  }
  confidence_provider_track(self->p, name, ctx, &det);
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
    return raise_code(rc);
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
  confidence_value *ctx = make_context(tk, attrs);
  if (!ctx)
    return NULL;
  char *json = NULL;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = confidence_provider_evaluate_all(self->p, ctx, apply, NULL, &json);
  Py_END_ALLOW_THREADS
  confidence_value_free(ctx);
  if (rc != 0)
    return raise_code(rc);
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
    {"close", (PyCFunction)Provider_close, METH_NOARGS, "frees the C provider"},
    {"get", (PyCFunction)(void (*)(void))Provider_get, METH_FASTCALL, "typed evaluation"},
    {"track", (PyCFunction)Provider_track, METH_VARARGS, "track an event"},
    {"metrics", (PyCFunction)Provider_metrics, METH_VARARGS, "metrics([openmetrics, instance]) -> str"},
    {"stats", (PyCFunction)Provider_stats, METH_NOARGS, "counters"},
    {"evaluate_all", (PyCFunction)Provider_evaluate_all, METH_VARARGS, "evaluate_all(tk, attrs, apply) -> json"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject ProviderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "confidence._native.Provider",
    .tp_basicsize = sizeof(ProviderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Provider_init,
    .tp_dealloc = (destructor)Provider_dealloc,
    .tp_methods = Provider_methods,
};

/* ---- module ----------------------------------------------------------------------------------------------- */

static PyObject *py_set_store_types(PyObject *self, PyObject *args)
{
  (void)self;
  PyObject *a, *b, *c;
  if (!PyArg_ParseTuple(args, "OOO", &a, &b, &c))
    return NULL;
  Py_INCREF(a), Py_INCREF(b), Py_INCREF(c);
  Py_XSETREF(t_variant_read_op, a);
  Py_XSETREF(t_inclusion_read_op, b);
  Py_XSETREF(t_variant_write_op, c);
  Py_RETURN_NONE;
}

static PyObject *py_set_release_gil(PyObject *self, PyObject *args)
{
  (void)self;
  int on;
  if (!PyArg_ParseTuple(args, "p", &on))
    return NULL;
  int was = release_gil;
  release_gil = on;
  return PyBool_FromLong(was);
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
    {"wait_callback", py_wait_callback, METH_VARARGS, "next log/event item or None after timeout"},
    {"wake_callbacks", py_wake_callbacks, METH_NOARGS, "wakes wait_callback"},
    {"callbacks_dropped", py_callbacks_dropped, METH_NOARGS, "log/event items dropped (queue full)"},
    {"set_store_types", py_set_store_types, METH_VARARGS, "the op classes handed to a Python store"},
    {"set_release_gil", py_set_release_gil, METH_VARARGS, "allow releasing the GIL around evaluation (default on; per provider: its release_gil option)"},
    {"version", py_version, METH_NOARGS, "libconfidence version"},
    {"has_redis", py_has_redis, METH_NOARGS, "built with the Redis store"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_native", "libconfidence over CPython", -1,
                                        module_methods};

PyMODINIT_FUNC PyInit__native(void)
{
  static int once;
  if (!once) {
    /* Registered before any provider exists, so the library's own handlers
     * (registered with the first provider) run first in prepare: a library
     * thread holding one of its locks can still finish a callback. */
    if (pthread_key_create(&details_key, details_destroy) != 0 ||
        pthread_atfork(q_prepare, q_parent, q_child) != 0) {
      PyErr_SetString(PyExc_RuntimeError, "cannot set up thread keys / fork handlers");
      return NULL;
    }
    once = 1;
  }
  if (PyType_Ready(&ProviderType) < 0)
    return NULL;
  PyObject *m = PyModule_Create(&module_def);
  if (!m)
    return NULL;
  NativeError = PyErr_NewException("confidence._native.NativeError", PyExc_RuntimeError, NULL);
  Py_INCREF(&ProviderType);
  if (PyModule_AddObject(m, "Provider", (PyObject *)&ProviderType) < 0 ||
      PyModule_AddObject(m, "NativeError", NativeError) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  PyModule_AddIntConstant(m, "CB_LOG", CB_LOG);
  PyModule_AddIntConstant(m, "CB_EVENT", CB_EVENT);
  return m;
}
