/* Internal header of confidence._native: the module state, and what the
 * extension's files (module, convert, store_bridge, provider_type,
 * provider_options, callbacks, default_value, evaluate, resolve_details,
 * name_cache) share. Nothing here is visible outside the extension. */
#ifndef CONFIDENCE_PY_NATIVE_H
#define CONFIDENCE_PY_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdatomic.h>
#include <stdint.h>

#include <confidence/confidence.h>
#include <confidence/store.h>
#include <confidence/sys/store.h>

#if PY_VERSION_HEX >= 0x030D0000
#define PY_FINALIZING() Py_IsFinalizing()
#else
#define PY_FINALIZING() _Py_IsFinalizing()
#endif

/* Free-threaded CPython (3.13t and later) has no GIL to serialise access to a
 * Python container another thread may change: a critical section locks it
 * (and is suspended, not held, while the thread blocks or enters another).
 * With a GIL, and before 3.13, these are plain blocks. */
#ifndef Py_BEGIN_CRITICAL_SECTION
#define Py_BEGIN_CRITICAL_SECTION(op) {
#define Py_END_CRITICAL_SECTION() }
#endif

/* What the SDK's results are made of (set_sdk_types, resolve_details.c). */
enum { NATIVE_SDK_TARGETING_KEY = 9, NATIVE_SDK_ATTRIBUTES = 10, NATIVE_SDK_NAMES = 11 };
typedef struct native_sdk {
  PyObject *details_type;  /* FlagResolutionDetails */
  PyObject *reasons;       /* Reason members by C reason */
  PyObject *codes;         /* ErrorCode members by C code, None first */
  PyObject *field_kwnames; /* its six field names, for a call by keyword */
  PyObject *empty;         /* () */
  PyObject *names[NATIVE_SDK_NAMES]; /* interned: the fields, the arguments, the context's attributes */
  int plain;               /* a plain dataclass: filled in without calling it */
} native_sdk;

/* name_cache.c: a resource name as a Python string, from a table by content. */
#define NATIVE_NAME_CACHE 256 /* a power of two */
typedef struct native_cached_name {
  uint64_t hash;
  PyObject *str; /* an ASCII str, or NULL */
} native_cached_name;

/* The Python objects the module owns: one set per module object (no C globals).
 * Shared by every thread without a lock: the objects are set while the
 * package is imported (set_store_types, set_sdk_types; the tests call the
 * latter again, from one thread) and only read afterwards. release_gil may
 * change at any time, hence atomic. */
typedef struct native_state {
  PyObject *native_error;        /* confidence._native.NativeError */
  PyTypeObject *provider_type;   /* confidence._native.Provider (a heap type) */
  PyObject *variant_read_op;     /* the op classes handed to a Python store, */
  PyObject *inclusion_read_op;   /* set by set_store_types */
  PyObject *variant_write_op;
  atomic_int release_gil;        /* set_release_gil: may evaluation release the GIL at all */
  PyObject *metadata_keys[3];    /* interned "rule", "segment", "assignment_id" */
  native_sdk sdk;
  native_cached_name names[NATIVE_NAME_CACHE]; /* name_cache.c (unused without a GIL) */
} native_state;

/* The non-empty NUL-terminated `s` as a str (a new reference), decoded with
 * errors replaced, or NULL with an exception. */
PyObject *native_name(native_state *st, const char *s);
int native_names_traverse(native_state *st, visitproc visit, void *arg);
void native_names_clear(native_state *st);

extern PyModuleDef native_module_def;

static inline native_state *native_state_of(PyObject *module) { return (native_state *)PyModule_GetState(module); }

/* The module that defined `type` (Provider is not subclassable, so on 3.9
 * and 3.10, which lack PyType_GetModuleByDef, the type's own module is it). */
static inline PyObject *native_module_of_type(PyTypeObject *type)
{
#if PY_VERSION_HEX >= 0x030B0000
  return PyType_GetModuleByDef(type, &native_module_def);
#else
  return PyType_GetModule(type);
#endif
}

static inline native_state *native_state_of_type(PyTypeObject *type)
{
  return native_state_of(native_module_of_type(type));
}

/* convert.c: Python values <-> confidence_value trees. */

/* Where a conversion failed: the attribute path ("a.b[2]"), written from the
 * failing value outwards as the conversion unwinds, so a conversion that
 * succeeds writes nothing. Levels below NATIVE_PATH_LEVELS show as "...". */
#define NATIVE_PATH_LEVELS 12
typedef struct native_path {
  char buf[NATIVE_PATH_LEVELS * 40 + 8];
  size_t len; /* the path is the last `len` bytes of buf (zeroed: empty) */
} native_path;

/* Python -> value (NULL with a Python exception), made in arena `a`, or on
 * the heap and owned by the caller when `a` is NULL. `path` may be NULL. */
confidence_value *native_to_value(confidence_value_arena *a, PyObject *o, int depth, native_path *path);
PyObject *native_from_value(const confidence_value *v);
confidence_value *native_make_context(confidence_value_arena *a, PyObject *targeting_key, PyObject *attrs,
                                      native_path *path);
/* After a failed conversion of a context: for an Exception, replaces it with
 * a message naming the attribute path and its cause (a new str) and returns
 * it; for anything else (KeyboardInterrupt, SystemExit) leaves it set and
 * returns NULL. */
PyObject *native_conversion_message(const native_path *path);
PyObject *native_decode(const char *s, size_t n);

/* store_bridge.c: a Python materialization store behind the store vtable.
 * native_pystore_new returns the vtable (the store owns `obj` and `module`
 * references, released by its free). */
confidence_store *native_pystore_new(PyObject *module, PyObject *obj);
/* Marks the calling thread as evaluating (store exceptions that are not
 * Exceptions are kept to re-raise), and re-raises such an exception after. */
void native_store_enter(void);
int native_store_leave(void); /* -1 with the exception restored, else 0 */

/* callbacks.c: the log/event queue read by the Python dispatcher thread. */
enum { CB_LOG = 0, CB_EVENT = 1 };
int native_callbacks_setup(void); /* once per process: the queue's fork handlers */
void native_on_log(int level, const char *message, void *user);
void native_on_event(const confidence_event *e, void *user);
PyObject *native_wait_callback(PyObject *self, PyObject *args);
PyObject *native_wake_callbacks(PyObject *self, PyObject *args);
PyObject *native_callbacks_dropped(PyObject *self, PyObject *args);

/* provider_options.c: the options dict of Provider(options). */
typedef struct native_store_choice {
  const char *kind, *url; /* store_kind ("python", "memory", "redis") and store_url */
  uint32_t max_entries;   /* memory_max_entries */
} native_store_choice;
int native_read_options(PyObject *d, confidence_provider_options *o, native_store_choice *sc, int *release_gil);
/* The store `sc` names, NULL for the provider's default; -1 with an exception. */
int native_make_store(PyObject *module, PyObject *d, const native_store_choice *sc, confidence_store **out);

/* The typed getters, as Provider.get names them. */
enum { NATIVE_KIND_BOOL = 0, NATIVE_KIND_INT = 1, NATIVE_KIND_FLOAT = 2, NATIVE_KIND_STRING = 3, NATIVE_KIND_OBJECT = 4 };

/* default_value.c: the caller's default where it stands in for the value. */
/* "Value is not <type of the default>" (0.15.3's words); NULL with an
 * exception only for KeyboardInterrupt and the like. */
PyObject *native_type_mismatch_message(PyObject *dflt);
/* No variant was assigned: the default, checked and converted as a value
 * of `kind` would be. Returns a new reference; on a failed check or
 * conversion also sets *reason, *code and *message (a new str). NULL with
 * an exception only for what is not an Exception. */
PyObject *native_default_as_value(int kind, PyObject *dflt, int *reason, int *code, PyObject **message);

/* provider_type.c: confidence._native.Provider. */
typedef struct native_provider {
  PyObject_HEAD confidence_provider *p; /* freed with the object: no thread can be inside it then */
  unsigned long long id;
  PyObject *state_bytes; /* kept alive for the provider's lifetime */
  int release_gil;       /* a store that blocks in C (remote, Redis): let other threads run meanwhile */
} native_provider;
extern PyType_Spec native_provider_spec;
PyObject *native_raise_code(native_state *st, int rc);

/* evaluate.c: one typed evaluation, its answer as new references. */
typedef struct native_answer {
  PyObject *value, *message, *variant, *metadata; /* message, variant: None when there is none */
  int reason, code;                                /* the C enums */
} native_answer;
int native_provider_setup(void); /* once per process: the per-thread scratch key (details, context arena) */
/* 0 with *a filled (an error result included), or -1 with a Python
 * exception (out of memory, KeyboardInterrupt from a store). */
int native_evaluate(native_provider *self, int kind, PyObject *flag_key, PyObject *targeting_key, PyObject *attrs,
                    PyObject *dflt, native_answer *a);
void native_answer_clear(native_answer *a);
/* An answer made without the C side: the default, ERROR, `code` and
 * `message` (taken: a new str, or NULL after a failure). 0, or -1 with an
 * exception. */
int native_answer_error(native_answer *a, PyObject *dflt, int code, PyObject *message);

/* resolve_details.c: the typed resolve_*_details, METH_FASTCALL | METH_KEYWORDS. */
PyObject *native_set_sdk_types(PyObject *module, PyObject *args);
int native_sdk_traverse(native_sdk *s, visitproc visit, void *arg);
void native_sdk_clear(native_sdk *s);
PyObject *native_resolve_boolean_details(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *native_resolve_integer_details(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *native_resolve_float_details(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *native_resolve_string_details(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *native_resolve_object_details(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);

#endif
