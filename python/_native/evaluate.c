/* One typed evaluation from Python values to the pieces of an OpenFeature
 * result: the flag key and default as the caller passed them, the context
 * converted for the C getters, the answer as Python objects. Shared by
 * Provider.get (a tuple) and the resolve_*_details methods (the SDK's
 * FlagResolutionDetails, resolve_details.c). */
#include "native.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <confidence/provider.h>

/* Per thread: the details each evaluation overwrites, and the arena its
 * context is converted into, so no two threads share either. `busy` marks
 * them in use: an evaluation started from inside another on the same
 * thread (Python code of a materialization store) gets its own. */
typedef struct thread_scratch {
  confidence_details *det;
  confidence_value_arena *arena;
  int busy;
} thread_scratch;

static pthread_key_t scratch_key;

static void scratch_free(thread_scratch *t)
{
  if (!t)
    return;
  confidence_details_free(t->det);
  confidence_value_arena_free(t->arena);
  free(t);
}

static void scratch_destroy(void *t) { scratch_free(t); }

int native_provider_setup(void) { return pthread_key_create(&scratch_key, scratch_destroy); }

static thread_scratch *scratch_new(void)
{
  thread_scratch *t = calloc(1, sizeof *t);
  if (t && (!(t->det = confidence_details_new()) || !(t->arena = confidence_value_arena_new()))) {
    scratch_free(t);
    t = NULL;
  }
  return t;
}

/* This thread's scratch, marked busy; a fresh one (`*own` set: free it
 * after) when it is busy already. NULL when memory runs out. */
static thread_scratch *scratch_take(int *own)
{
  thread_scratch *t = pthread_getspecific(scratch_key);
  *own = 0;
  if (t && t->busy) {
    *own = 1;
    t = scratch_new();
  } else if (!t) {
    t = scratch_new();
    if (t && pthread_setspecific(scratch_key, t) != 0) {
      scratch_free(t);
      t = NULL;
    }
  }
  if (t)
    t->busy = 1;
  return t;
}

static void scratch_give_back(thread_scratch *t, int own)
{
  if (own) {
    scratch_free(t);
    return;
  }
  confidence_value_arena_reset(t->arena);
  t->busy = 0;
}

void native_answer_clear(native_answer *a)
{
  Py_CLEAR(a->value);
  Py_CLEAR(a->message);
  Py_CLEAR(a->variant);
  Py_CLEAR(a->metadata);
}

int native_answer_error(native_answer *a, PyObject *dflt, int code, PyObject *message)
{
  if (!message)
    return -1;
  Py_INCREF(dflt);
  Py_INCREF(Py_None);
  a->value = dflt;
  a->message = message;
  a->variant = Py_None;
  a->metadata = PyDict_New();
  a->reason = CONFIDENCE_EVAL_REASON_ERROR;
  a->code = code;
  if (!a->metadata) {
    native_answer_clear(a);
    return -1;
  }
  return 0;
}

static PyObject *decode_or_none(const char *s)
{
  if (!*s)
    Py_RETURN_NONE;
  return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

/* flag_metadata straight from the details' strings: the entries that are set. */
static PyObject *metadata_of(native_state *st, const confidence_details *det)
{
  const char *values[3] = {confidence_details_rule(det), confidence_details_segment(det),
                           confidence_details_assignment_id(det)};
  PyObject *m = PyDict_New();
  for (int i = 0; m && i < 3; i++) {
    if (!*values[i])
      continue;
    PyObject *v = native_name(st, values[i]);
    if (!v || PyDict_SetItem(m, st->metadata_keys[i], v) < 0)
      Py_CLEAR(m);
    Py_XDECREF(v);
  }
  return m;
}

/* The evaluation behind native_evaluate, with this thread's scratch `t`. */
static int evaluate_in(native_provider *self, thread_scratch *t, int kind, const char *key, PyObject *targeting_key,
                       PyObject *attrs, PyObject *dflt, native_answer *a)
{
  confidence_details *det = t->det;
  native_path path;
  path.len = 0; /* the buffer is written only if the conversion fails */
  confidence_value *ctx = native_make_context(t->arena, targeting_key, attrs, &path);
  if (!ctx) {
    /* A context that cannot be converted is the caller's error, answered
     * like every other: the default, INVALID_CONTEXT and why. */
    PyObject *msg = native_conversion_message(&path);
    if (!msg)
      return -1; /* KeyboardInterrupt, SystemExit: not ours to swallow */
    return native_answer_error(a, dflt, CONFIDENCE_EVAL_ERROR_CODE_INVALID_CONTEXT, msg);
  }
  /* The default is the caller's object, handed back untouched whenever the
   * flag's value does not apply (as 0.15.3 does, whatever its type): the C
   * getters are given none. */
  confidence_provider *p = self->p;
  int b_res = 0;
  int64_t i_res = 0;
  double f_res = 0;
  char *s_res = NULL;
  confidence_value *o_res = NULL;
  native_store_enter();
  /* Measured (docs/benchmarks.md): an evaluation costs less than giving the
   * GIL away and taking it back under contention, so it is released only
   * where the C side may block. */
  PyThreadState *ts =
      (self->release_gil && native_state_of_type(Py_TYPE(self))->release_gil) ? PyEval_SaveThread() : NULL;
  switch (kind) {
  case NATIVE_KIND_BOOL:
    b_res = confidence_provider_get_bool(p, key, ctx, 0, det);
    break;
  case NATIVE_KIND_INT:
    i_res = confidence_provider_get_int(p, key, ctx, 0, det);
    break;
  case NATIVE_KIND_FLOAT:
    f_res = confidence_provider_get_double(p, key, ctx, 0, det);
    break;
  case NATIVE_KIND_STRING:
    s_res = confidence_provider_get_string(p, key, ctx, NULL, det);
    break;
  default:
    o_res = confidence_provider_get_object(p, key, ctx, NULL, det);
    break;
  }
  if (ts)
    PyEval_RestoreThread(ts);
  int raised = native_store_leave(); /* ctx goes with the arena's reset */
  if (raised) {
    confidence_string_free(s_res);
    confidence_value_free(o_res);
    return -1;
  }
  a->reason = confidence_details_reason(det);
  a->code = confidence_details_error_code(det);
  const char *variant = confidence_details_variant(det);
  if (!confidence_details_value_is_default(det)) {
    switch (kind) {
    case NATIVE_KIND_BOOL:
      a->value = PyBool_FromLong(b_res);
      break;
    case NATIVE_KIND_INT:
      a->value = PyLong_FromLongLong(i_res);
      break;
    case NATIVE_KIND_FLOAT:
      a->value = PyFloat_FromDouble(f_res);
      break;
    case NATIVE_KIND_STRING:
      a->value = PyUnicode_DecodeUTF8(s_res, (Py_ssize_t)strlen(s_res), "replace");
      break;
    default:
      a->value = native_from_value(o_res);
      break;
    }
  } else if (a->code != CONFIDENCE_EVAL_ERROR_CODE_NONE || *variant || dflt == Py_None) {
    /* an error, or a variant whose value at the path is null */
    Py_INCREF(dflt);
    a->value = dflt;
    if (a->code == CONFIDENCE_EVAL_ERROR_CODE_TYPE_MISMATCH && !(a->message = native_type_mismatch_message(dflt)))
      Py_CLEAR(a->value);
  } else {
    a->value = native_default_as_value(kind, dflt, &a->reason, &a->code, &a->message);
  }
  confidence_string_free(s_res);
  confidence_value_free(o_res);
  if (!a->value) {
    native_answer_clear(a);
    return -1;
  }
  if (!a->message)
    a->message = decode_or_none(confidence_details_error_message(det));
  native_state *st = native_state_of_type(Py_TYPE(self));
  if (a->code == CONFIDENCE_EVAL_ERROR_CODE_NONE && *variant)
    a->variant = native_name(st, variant);
  else
    a->variant = (Py_INCREF(Py_None), Py_None);
  a->metadata = metadata_of(st, det);
  if (!a->message || !a->variant || !a->metadata) {
    native_answer_clear(a);
    return -1;
  }
  return 0;
}

int native_evaluate(native_provider *self, int kind, PyObject *flag_key, PyObject *targeting_key, PyObject *attrs,
                    PyObject *dflt, native_answer *a)
{
  memset(a, 0, sizeof *a);
  Py_ssize_t key_len = 0;
  const char *key = PyUnicode_Check(flag_key) ? PyUnicode_AsUTF8AndSize(flag_key, &key_len) : NULL;
  if (!key || strlen(key) != (size_t)key_len) {
    /* Not a flag anyone can name: an error result, as for any unknown flag. */
    if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_Exception))
      return -1;
    PyErr_Clear();
    return native_answer_error(a, dflt, key ? CONFIDENCE_EVAL_ERROR_CODE_FLAG_NOT_FOUND : CONFIDENCE_EVAL_ERROR_CODE_GENERAL,
                        PyUnicode_FromString(key ? "the flag key holds a NUL character"
                                                 : "the flag key must be a string of valid Unicode"));
  }
  int own;
  thread_scratch *t = scratch_take(&own);
  if (!t) {
    PyErr_NoMemory();
    return -1;
  }
  int rc = evaluate_in(self, t, kind, key, targeting_key, attrs, dflt, a);
  scratch_give_back(t, own);
  return rc;
}
