/* libconfidence_redis: the materialization store in Redis (layout in
 * confidence/redis.h). A batch is one pipeline: HGET (or HEXISTS) plus an
 * EXPIRE per op, sent at once, then the replies read back. Connections
 * come from a small pool; one that errs is freed, the next call
 * reconnects. Uses only the public API of libconfidence. */
#define _GNU_SOURCE
#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "confidence/redis.h"

#define DEFAULT_TTL (90u * 24 * 3600)
#define DEFAULT_CONNECTIONS 8
#define INCLUDED_FIELD "@included"
#define KEY_STACK 512

typedef struct redis_store {
  confidence_store vt;
  char *host, *username, *password, *prefix;
  int port, database;
  char ttl[16]; /* EXPIRE's argument; "" when keys never expire */
  pthread_mutex_t mu;
  pthread_cond_t cond;
  redisContext **idle;
  size_t n_idle, open, max;
} redis_store;

static struct timeval to_timeval(uint32_t ms) { return (struct timeval){ms / 1000, (ms % 1000) * 1000}; }

static void set_error(confidence_store_batch *b, const char *what, const char *detail)
{
  char msg[256];
  snprintf(msg, sizeof msg, "redis %s: %s", what, detail && *detail ? detail : "failed");
  confidence_store_batch_set_error(b, msg);
}

/* AUTH and SELECT on a fresh connection; false (message set) on failure. */
static bool handshake(redis_store *s, redisContext *c, confidence_store_batch *b)
{
  redisReply *r = NULL;
  if (s->password) {
    r = s->username ? redisCommand(c, "AUTH %s %s", s->username, s->password) : redisCommand(c, "AUTH %s", s->password);
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    set_error(b, "AUTH", r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr); /* never the password */
    freeReplyObject(r);
    if (!ok)
      return false;
  }
  if (s->database) {
    r = redisCommand(c, "SELECT %d", s->database);
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    set_error(b, "SELECT", r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
    freeReplyObject(r);
    if (!ok)
      return false;
  }
  confidence_store_batch_set_error(b, "");
  return true;
}

/* An idle connection, a new one, or NULL (timed out / failed; message set). */
static redisContext *acquire(redis_store *s, confidence_store_batch *b)
{
  pthread_mutex_lock(&s->mu);
  while (!s->n_idle && s->open >= s->max) {
    uint32_t left = confidence_store_batch_timeout_ms(b);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += left / 1000;
    until.tv_nsec += (long)(left % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    if (left == 0 || pthread_cond_timedwait(&s->cond, &s->mu, &until) == ETIMEDOUT) {
      pthread_mutex_unlock(&s->mu);
      set_error(b, "pool", "no free connection in time");
      return NULL;
    }
  }
  if (s->n_idle) {
    redisContext *c = s->idle[--s->n_idle];
    pthread_mutex_unlock(&s->mu);
    return c;
  }
  s->open++;
  pthread_mutex_unlock(&s->mu);
  redisContext *c = redisConnectWithTimeout(s->host, s->port, to_timeval(confidence_store_batch_timeout_ms(b)));
  if (!c || c->err || !handshake(s, c, b)) {
    if (c && c->err)
      set_error(b, "connect", c->errstr);
    else if (!c)
      set_error(b, "connect", "out of memory");
    redisFree(c);
    pthread_mutex_lock(&s->mu);
    s->open--;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return NULL;
  }
  return c;
}

/* A connection for one batch, its socket timeout the batch's time left
 * (+1 ms: a zero timeout would mean none); NULL as acquire. */
static redisContext *acquire_for_batch(redis_store *s, confidence_store_batch *b)
{
  redisContext *c = acquire(s, b);
  if (c)
    redisSetTimeout(c, to_timeval(confidence_store_batch_timeout_ms(b) + 1));
  return c;
}

/* Back to the pool, or freed when it failed (the next call reconnects). */
static void release(redis_store *s, redisContext *c, bool broken)
{
  pthread_mutex_lock(&s->mu);
  if (broken || c->err) {
    redisFree(c);
    s->open--;
  } else {
    s->idle[s->n_idle++] = c;
  }
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->mu);
}

/* <prefix><materialization>:<unit> into buf (stack or malloc'd). */
static char *make_key(const redis_store *s, const char *mat, const char *unit, size_t unit_len, char *stack,
                      size_t *len)
{
  size_t p = strlen(s->prefix), m = strlen(mat);
  *len = p + m + 1 + unit_len;
  char *k = *len <= KEY_STACK ? stack : malloc(*len);
  if (!k)
    return NULL;
  memcpy(k, s->prefix, p);
  memcpy(k + p, mat, m);
  k[p + m] = ':';
  memcpy(k + p + m + 1, unit, unit_len);
  return k;
}

/* Appends `cmd key field [value...]` and, with a TTL, `EXPIRE key ttl`;
 * returns how many replies to expect (0: out of memory). */
static int append(redis_store *s, redisContext *c, const char *cmd, const char *mat, const char *unit,
                  size_t unit_len, const char **fields, size_t n_fields)
{
  char stack[KEY_STACK];
  size_t key_len;
  char *key = make_key(s, mat, unit, unit_len, stack, &key_len);
  if (!key)
    return 0;
  const char *argv[6] = {cmd, key};
  size_t lens[6] = {strlen(cmd), key_len};
  for (size_t i = 0; i < n_fields && i < 4; i++) {
    argv[2 + i] = fields[i];
    lens[2 + i] = strlen(fields[i]);
  }
  int replies = redisAppendCommandArgv(c, (int)(2 + n_fields), argv, lens) == REDIS_OK;
  if (replies && *s->ttl) {
    const char *ex[3] = {"EXPIRE", key, s->ttl};
    size_t ex_lens[3] = {6, key_len, strlen(s->ttl)};
    replies += redisAppendCommandArgv(c, 3, ex, ex_lens) == REDIS_OK;
  }
  if (key != stack)
    free(key);
  return replies;
}

/* Reads one reply; false (message set) when the connection failed. */
static bool next_reply(redisContext *c, redisReply **r, confidence_store_batch *b)
{
  if (redisGetReply(c, (void **)r) != REDIS_OK || !*r) {
    set_error(b, c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == ETIMEDOUT) ? "timeout" : "read",
              c->errstr);
    return false;
  }
  return true;
}

static int redis_read(const confidence_store_read_op *const *ops, size_t count, confidence_store_batch *b,
                      void *user_data)
{
  redis_store *s = user_data;
  redisContext *c = acquire_for_batch(s, b);
  if (!c)
    return CONFIDENCE_ENETWORK;
  int *replies = calloc(count, sizeof *replies);
  bool ok = replies != NULL;
  for (size_t i = 0; ok && i < count; i++) {
    bool variant = ops[i]->kind == CONFIDENCE_STORE_OP_VARIANT_READ;
    const char *field = variant ? ops[i]->rule : INCLUDED_FIELD;
    ok = (replies[i] = append(s, c, "HGET", ops[i]->materialization, ops[i]->unit, ops[i]->unit_len, &field, 1)) > 0;
  }
  bool io_ok = ok;
  for (size_t i = 0; io_ok && i < count; i++) /* every reply is read, so the connection stays in sync */
    for (int k = 0; io_ok && k < replies[i]; k++) {
      redisReply *r = NULL;
      io_ok = next_reply(c, &r, b);
      if (io_ok && k == 0 && r->type == REDIS_REPLY_STRING) {
        if (ops[i]->kind == CONFIDENCE_STORE_OP_VARIANT_READ)
          confidence_store_batch_set_variant(b, i, r->str);
        else
          confidence_store_batch_set_included(b, i, strcmp(r->str, "1") == 0);
      } else if (io_ok && r->type == REDIS_REPLY_ERROR) {
        set_error(b, "error", r->str);
        ok = false;
      }
      freeReplyObject(r);
    }
  release(s, c, !io_ok);
  free(replies);
  if (!replies)
    return CONFIDENCE_ENOMEM;
  return !io_ok ? (confidence_store_batch_timeout_ms(b) == 0 ? CONFIDENCE_ETIMEDOUT : CONFIDENCE_ENETWORK)
         : ok   ? 0
                : CONFIDENCE_EIO;
}

static int redis_write(const confidence_store_write_op *const *ops, size_t count, confidence_store_batch *b,
                       void *user_data)
{
  redis_store *s = user_data;
  redisContext *c = acquire_for_batch(s, b);
  if (!c)
    return CONFIDENCE_ENETWORK;
  int expected = 0;
  bool ok = true;
  for (size_t i = 0; ok && i < count; i++) {
    const char *fields[4] = {ops[i]->rule, ops[i]->variant, INCLUDED_FIELD, "1"};
    int n = append(s, c, "HSET", ops[i]->materialization, ops[i]->unit, ops[i]->unit_len, fields, 4);
    ok = n > 0;
    expected += n;
  }
  bool io_ok = true;
  for (int k = 0; io_ok && k < expected; k++) {
    redisReply *r = NULL;
    io_ok = next_reply(c, &r, b);
    if (io_ok && r->type == REDIS_REPLY_ERROR) {
      set_error(b, "error", r->str);
      ok = false;
    }
    freeReplyObject(r);
  }
  release(s, c, !io_ok);
  return !io_ok ? CONFIDENCE_ENETWORK : ok ? 0 : CONFIDENCE_EIO;
}

static void redis_free(void *user_data)
{
  redis_store *s = user_data;
  for (size_t i = 0; i < s->n_idle; i++)
    redisFree(s->idle[i]);
  free(s->idle);
  free(s->host);
  free(s->username);
  free(s->password);
  free(s->prefix);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cond);
  free(s);
}

static char *dup_or(const char *s, const char *dflt) { return s ? strdup(s) : dflt ? strdup(dflt) : NULL; }

int confidence_redis_store_new(const confidence_redis_store_options *user, confidence_store **out)
{
  if (!out)
    return CONFIDENCE_EINVAL;
  *out = NULL;
  if (user && (user->version < 1 || user->version > CONFIDENCE_REDIS_STORE_OPTIONS_VERSION))
    return CONFIDENCE_EINVAL;
  confidence_redis_store_options o = CONFIDENCE_REDIS_STORE_OPTIONS_INIT;
  if (user)
    o = *user; /* one version so far: its layout is ours */
  redis_store *s = calloc(1, sizeof *s);
  if (!s)
    return CONFIDENCE_ENOMEM;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cond, NULL);
  s->host = dup_or(o.host, "127.0.0.1");
  s->username = dup_or(o.username, NULL);
  s->password = dup_or(o.password, NULL);
  s->prefix = dup_or(o.key_prefix, "confidence:");
  s->port = o.port ? o.port : 6379;
  s->database = o.database;
  s->max = o.max_connections ? o.max_connections : DEFAULT_CONNECTIONS;
  s->idle = calloc(s->max, sizeof *s->idle);
  if (!o.disable_ttl)
    snprintf(s->ttl, sizeof s->ttl, "%u", o.ttl_seconds ? o.ttl_seconds : DEFAULT_TTL);
  s->vt = (confidence_store){CONFIDENCE_STORE_VERSION, redis_read, redis_write, redis_free, s};
  if (!s->host || !s->prefix || !s->idle || (o.username && !s->username) || (o.password && !s->password)) {
    redis_free(s);
    return CONFIDENCE_ENOMEM;
  }
  *out = &s->vt;
  return 0;
}

/* Splits "[[user]:password@]host[:port][/db]" in place. */
static bool parse_url(char *rest, confidence_redis_store_options *o)
{
  char *at = strrchr(rest, '@');
  if (at) {
    *at = '\0';
    char *colon = strchr(rest, ':');
    if (!colon)
      return false;
    *colon = '\0';
    o->username = *rest ? rest : NULL;
    o->password = colon + 1;
    rest = at + 1;
  }
  char *slash = strchr(rest, '/');
  if (slash) {
    *slash = '\0';
    o->database = atoi(slash + 1);
  }
  char *colon = strchr(rest, ':');
  if (colon) {
    *colon = '\0';
    o->port = atoi(colon + 1);
    if (o->port <= 0 || o->port > 65535)
      return false;
  }
  o->host = *rest ? rest : NULL;
  return true;
}

int confidence_redis_store_from_url(const char *url, confidence_store **out)
{
  if (!out || !url || strncmp(url, "redis://", 8) != 0)
    return CONFIDENCE_EINVAL;
  char *copy = strdup(url + 8);
  if (!copy)
    return CONFIDENCE_ENOMEM;
  confidence_redis_store_options o = CONFIDENCE_REDIS_STORE_OPTIONS_INIT;
  int rc = parse_url(copy, &o) ? confidence_redis_store_new(&o, out) : CONFIDENCE_EINVAL;
  free(copy); /* the store copied what it keeps */
  return rc;
}
