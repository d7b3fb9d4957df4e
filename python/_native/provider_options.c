/* The options of confidence._native.Provider: a dict whose keys are named
 * after confidence_provider_options fields, read onto those options, and
 * the materialization store it names, made ready for the provider. */
#include "native.h"

#include <stdint.h>
#include <string.h>

#include <confidence/provider.h>
#ifdef CONFIDENCE_PY_HAVE_REDIS
#include <confidence/redis.h>
#endif

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

/* The options dict onto `o` (strings borrowed from `d`) and the store choice. */
int native_read_options(PyObject *d, confidence_provider_options *o, native_store_choice *sc, int *release_gil)
{
  if (opt_str(d, "client_secret", &o->client_secret) || opt_str(d, "encryption_key_hex", &o->encryption_key_hex) ||
      opt_str(d, "cdn_base_url", &o->cdn_base_url) || opt_str(d, "flag_log_grpc_url", &o->flag_log_grpc_url) ||
      opt_str(d, "ingest_url", &o->ingest_url) || opt_str(d, "events_grpc_url", &o->events_grpc_url) ||
      opt_str(d, "state_file", &o->state_file) || opt_str(d, "account_id", &o->account_id) ||
      opt_u32(d, "state_poll_interval_ms", &o->state_poll_interval_ms) ||
      opt_u32(d, "log_poll_interval_ms", &o->log_poll_interval_ms) || opt_u32(d, "http_timeout_ms", &o->http_timeout_ms) ||
      opt_u32(d, "stale_after_ms", &o->stale_after_ms) || opt_u32(d, "max_queued_exposures", &o->max_queued_exposures) ||
      opt_u32(d, "max_queued_events", &o->max_queued_events) ||
      opt_u32(d, "materialization_read_timeout_ms", &o->materialization_read_timeout_ms) ||
      opt_u32(d, "materialization_write_timeout_ms", &o->materialization_write_timeout_ms) ||
      opt_u32(d, "max_queued_materialization_writes", &o->max_queued_materialization_writes) ||
      opt_bool(d, "async_materialization_writes", &o->async_materialization_writes) ||
      opt_bool(d, "disable_exposure_collection", &o->disable_exposure_collection) ||
      opt_bool(d, "disable_state_sync", &o->disable_state_sync) ||
      opt_bool(d, "disable_apply_dedup", &o->disable_apply_dedup) ||
      opt_bool(d, "use_remote_materialization_store", &o->use_remote_materialization_store) ||
      opt_str(d, "store_kind", &sc->kind) || opt_str(d, "store_url", &sc->url) ||
      opt_u32(d, "memory_max_entries", &sc->max_entries) || opt_bool(d, "release_gil", release_gil))
    return -1;
  return 0;
}

/* The store the options name (store_kind "python", "memory", "redis"), or
 * NULL for the default; -1 with a Python exception. */
int native_make_store(PyObject *module, PyObject *d, const native_store_choice *sc, confidence_store **out)
{
  const char *store_kind = sc->kind, *store_url = sc->url;
  *out = NULL;
  if (store_kind && strcmp(store_kind, "python") == 0) {
    PyObject *obj = PyDict_GetItemString(d, "store");
    if (!obj || !PyObject_HasAttrString(obj, "read")) {
      PyErr_SetString(PyExc_TypeError, "materialization_store needs a read(ops) method");
      return -1;
    }
    *out = native_pystore_new(module, obj);
    return *out ? 0 : -1;
  } else if (store_kind && strcmp(store_kind, "memory") == 0) {
    confidence_memory_store_options mo = CONFIDENCE_MEMORY_STORE_OPTIONS_INIT;
    mo.max_entries = sc->max_entries;
    int rc = confidence_memory_store_new(&mo, out);
    if (rc != 0) {
      native_raise_code(native_state_of(module), rc);
      return -1;
    }
  } else if (store_kind && strcmp(store_kind, "redis") == 0) {
#ifdef CONFIDENCE_PY_HAVE_REDIS
    int rc = confidence_redis_store_from_url(store_url ? store_url : "redis://127.0.0.1:6379", out);
    if (rc != 0) {
      native_raise_code(native_state_of(module), rc);
      return -1;
    }
#else
    (void)store_url;
    PyErr_SetString(PyExc_RuntimeError, "this build has no Redis store (libhiredis-dev was missing when it was built)");
    return -1;
#endif
  }
  return 0;
}

