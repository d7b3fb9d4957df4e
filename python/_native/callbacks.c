/* The provider's log and event callbacks, carried to Python through a queue
 * that one Python dispatcher thread drains (wait_callback): C threads never
 * wait for the GIL here, so a callback can neither deadlock a fork (the
 * library's atfork handlers take its locks while the forking thread holds
 * the GIL) nor touch a finalizing interpreter. The queue holds no Python
 * objects and is process-wide, as the C threads that feed it are. */
#include "native.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int native_callbacks_setup(void) { return pthread_atfork(q_prepare, q_parent, q_child); }

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

void native_on_log(int level, const char *message, void *user)
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

void native_on_event(const confidence_event *e, void *user)
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

/* The next item, or NULL once `timeout` seconds pass or wake_callbacks is called. */
static cb_item *q_pop(double timeout)
{
  cb_item *it = NULL;
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
  return it;
}

/* wait_callback(timeout_s) -> (pid, kind, level_or_type, status, message, flags) or None */
PyObject *native_wait_callback(PyObject *self, PyObject *args)
{
  (void)self;
  double timeout;
  if (!PyArg_ParseTuple(args, "d", &timeout))
    return NULL;
  /* NaN, negative and huge waits are clamped so the deadline arithmetic in
   * q_pop stays in range; the dispatcher waits in a loop anyway. */
  if (!(timeout > 0))
    timeout = 0;
  else if (timeout > 86400)
    timeout = 86400;
  cb_item *it;
  Py_BEGIN_ALLOW_THREADS
  it = q_pop(timeout);
  Py_END_ALLOW_THREADS
  if (!it)
    Py_RETURN_NONE;
  PyObject *flags = PyTuple_New((Py_ssize_t)it->nflags);
  if (!flags) {
    item_free(it);
    return NULL;
  }
  for (size_t i = 0; i < it->nflags; i++) {
    const char *f = it->flags[i] ? it->flags[i] : ""; /* a copy that failed for want of memory */
    PyObject *s = PyUnicode_DecodeUTF8(f, (Py_ssize_t)strlen(f), "replace");
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

PyObject *native_wake_callbacks(PyObject *self, PyObject *args)
{
  (void)self, (void)args;
  pthread_mutex_lock(&q_mu);
  q_wake = 1;
  pthread_cond_broadcast(&q_cv);
  pthread_mutex_unlock(&q_mu);
  Py_RETURN_NONE;
}

PyObject *native_callbacks_dropped(PyObject *self, PyObject *args)
{
  (void)self, (void)args;
  pthread_mutex_lock(&q_mu);
  unsigned long long d = q_dropped;
  pthread_mutex_unlock(&q_mu);
  return PyLong_FromUnsignedLongLong(d);
}
