/* The in-memory materialization store: a hash table split into 64 shards,
 * each behind its own mutex, so concurrent evaluations of different units
 * rarely meet. Keys are (kind, unit, materialization, rule); a variant
 * write also marks the unit included, as Confidence's Go and Java stores do. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"
#include "confidence/store.h"

#define SHARDS 64
#define STACK_KEY 512

typedef struct entry {
  struct entry *next;
  uint64_t hash;
  char *variant; /* variant entries; owned */
  bool included; /* inclusion entries */
  size_t key_len;
  char key[];
} entry;

typedef struct shard {
  pthread_mutex_t mu;
  entry **buckets;
  size_t n_buckets, n;
} shard;

typedef struct memory_store {
  confidence_store vt; /* handed out as the store */
  size_t max_entries;
  _Atomic size_t count;
  shard shards[SHARDS];
} memory_store;

/* A key: kind, then unit (with its length: units may hold NUL bytes),
 * materialization and rule, each NUL-terminated. */
typedef struct key {
  char stack[STACK_KEY];
  char *s;
  size_t len;
  uint64_t hash;
} key;

static bool key_make(key *k, char kind, const char *unit, size_t unit_len, const char *mat, const char *rule)
{
  size_t mat_len = strlen(mat), rule_len = strlen(rule);
  k->len = 1 + sizeof unit_len + unit_len + mat_len + rule_len + 2;
  k->s = k->len <= STACK_KEY ? k->stack : malloc(k->len);
  if (!k->s)
    return false;
  char *p = k->s;
  *p++ = kind;
  memcpy(p, &unit_len, sizeof unit_len);
  p += sizeof unit_len;
  memcpy(p, unit, unit_len);
  p += unit_len;
  memcpy(p, mat, mat_len + 1);
  p += mat_len + 1;
  memcpy(p, rule, rule_len + 1);
  k->hash = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < k->len; i++)
    k->hash = (k->hash ^ (unsigned char)k->s[i]) * 1099511628211ull;
  return true;
}

static void key_done(key *k)
{
  if (k->s != k->stack)
    free(k->s);
}

static shard *shard_of(memory_store *m, const key *k) { return &m->shards[(k->hash >> 58) % SHARDS]; }

/* Under the shard's lock. */
static entry *find(shard *sh, const key *k)
{
  if (!sh->n_buckets)
    return NULL;
  for (entry *e = sh->buckets[k->hash % sh->n_buckets]; e; e = e->next)
    if (e->hash == k->hash && e->key_len == k->len && memcmp(e->key, k->s, k->len) == 0)
      return e;
  return NULL;
}

static bool grow(shard *sh)
{
  size_t n = sh->n_buckets ? sh->n_buckets * 2 : 64;
  entry **b = calloc(n, sizeof *b);
  if (!b)
    return false;
  for (size_t i = 0; i < sh->n_buckets; i++)
    for (entry *e = sh->buckets[i], *next; e; e = next) {
      next = e->next;
      e->next = b[e->hash % n];
      b[e->hash % n] = e;
    }
  free(sh->buckets);
  sh->buckets = b;
  sh->n_buckets = n;
  return true;
}

/* The entry for k, created when missing (under the shard's lock). */
static int find_or_add(memory_store *m, shard *sh, const key *k, entry **out)
{
  if ((*out = find(sh, k)) != NULL)
    return 0;
  if (m->max_entries && atomic_fetch_add(&m->count, 1) >= m->max_entries) {
    atomic_fetch_sub(&m->count, 1);
    return CONFIDENCE_ELIMIT;
  }
  if (!m->max_entries)
    atomic_fetch_add(&m->count, 1);
  entry *e = calloc(1, sizeof *e + k->len);
  if (!e || (sh->n >= sh->n_buckets && !grow(sh))) {
    free(e);
    atomic_fetch_sub(&m->count, 1);
    return CONFIDENCE_ENOMEM;
  }
  e->hash = k->hash;
  e->key_len = k->len;
  memcpy(e->key, k->s, k->len);
  e->next = sh->buckets[k->hash % sh->n_buckets];
  sh->buckets[k->hash % sh->n_buckets] = e;
  sh->n++;
  *out = e;
  return 0;
}

/* Sets a variant (variant != NULL) or an inclusion. */
static int put(memory_store *m, char kind, const char *unit, size_t unit_len, const char *mat, const char *rule,
               const char *variant, bool included)
{
  key k;
  if (!key_make(&k, kind, unit, unit_len, mat, rule))
    return CONFIDENCE_ENOMEM;
  char *copy = variant ? strdup(variant) : NULL;
  shard *sh = shard_of(m, &k);
  pthread_mutex_lock(&sh->mu);
  entry *e = NULL;
  int rc = variant && !copy ? CONFIDENCE_ENOMEM : find_or_add(m, sh, &k, &e);
  if (rc == 0 && variant) {
    free(e->variant);
    e->variant = copy;
    copy = NULL;
  } else if (rc == 0) {
    e->included = included;
  }
  pthread_mutex_unlock(&sh->mu);
  free(copy);
  key_done(&k);
  return rc;
}

static int put_assignment(memory_store *m, const char *unit, size_t unit_len, const char *mat, const char *rule,
                          const char *variant)
{
  int rc = put(m, 'v', unit, unit_len, mat, rule, variant, false);
  return rc ? rc : put(m, 'i', unit, unit_len, mat, "", NULL, true);
}

/* Answers one op under its shard's lock (the batch copies the variant). */
static int read_one(memory_store *m, const confidence_store_read_op *op, size_t i, confidence_store_batch *b)
{
  bool variant_read = op->kind == CONFIDENCE_STORE_OP_VARIANT_READ;
  key k;
  if (!key_make(&k, variant_read ? 'v' : 'i', op->unit, op->unit_len, op->materialization, variant_read ? op->rule : ""))
    return CONFIDENCE_ENOMEM;
  shard *sh = shard_of(m, &k);
  pthread_mutex_lock(&sh->mu);
  entry *e = find(sh, &k);
  int rc = 0;
  if (e && variant_read)
    rc = confidence_store_batch_set_variant(b, i, e->variant);
  else if (e)
    rc = confidence_store_batch_set_included(b, i, e->included);
  pthread_mutex_unlock(&sh->mu);
  key_done(&k);
  return rc;
}

static int mem_read(const confidence_store_read_op *const *ops, size_t count, confidence_store_batch *b,
                    void *user_data)
{
  for (size_t i = 0; i < count; i++) {
    int rc = read_one(user_data, ops[i], i, b);
    if (rc)
      return rc;
  }
  return 0;
}

static int mem_write(const confidence_store_write_op *const *ops, size_t count, confidence_store_batch *b,
                     void *user_data)
{
  for (size_t i = 0; i < count; i++) {
    const confidence_store_write_op *op = ops[i];
    int rc = put_assignment(user_data, op->unit, op->unit_len, op->materialization, op->rule, op->variant);
    if (rc) {
      confidence_store_batch_set_error(b, rc == CONFIDENCE_ELIMIT ? "memory store is full" : "out of memory");
      return rc;
    }
  }
  return 0;
}

static void mem_free(void *user_data)
{
  memory_store *m = user_data;
  for (size_t s = 0; s < SHARDS; s++) {
    shard *sh = &m->shards[s];
    for (size_t i = 0; i < sh->n_buckets; i++)
      for (entry *e = sh->buckets[i], *next; e; e = next) {
        next = e->next;
        free(e->variant);
        free(e);
      }
    free(sh->buckets);
    pthread_mutex_destroy(&sh->mu);
  }
  free(m);
}

int confidence_memory_store_new(const confidence_memory_store_options *user_opts, confidence_store **out)
{
  static const size_t sizes[CONFIDENCE_MEMORY_STORE_OPTIONS_VERSION] = {sizeof(confidence_memory_store_options)};
  if (!out)
    return cf_error(CONFIDENCE_EINVAL, "out must not be NULL");
  *out = NULL;
  confidence_memory_store_options opts = CONFIDENCE_MEMORY_STORE_OPTIONS_INIT;
  if (user_opts && cf_copy_versioned(&opts, sizeof opts, user_opts, user_opts->version, sizes,
                                     CONFIDENCE_MEMORY_STORE_OPTIONS_VERSION, "confidence_memory_store_options"))
    return CONFIDENCE_EINVAL;
  memory_store *m = calloc(1, sizeof *m);
  if (!m)
    return cf_error(CONFIDENCE_ENOMEM, "out of memory");
  m->max_entries = opts.max_entries;
  for (size_t s = 0; s < SHARDS; s++)
    pthread_mutex_init(&m->shards[s].mu, NULL);
  m->vt = (confidence_store){CONFIDENCE_STORE_VERSION, mem_read, mem_write, mem_free, m};
  *out = &m->vt;
  return 0;
}

static memory_store *as_memory(const confidence_store *s)
{
  return s && s->read == mem_read ? (memory_store *)s->user_data : NULL;
}

int confidence_memory_store_put_variant(confidence_store *store, const char *unit, size_t unit_len,
                                        const char *materialization, const char *rule, const char *variant)
{
  memory_store *m = as_memory(store);
  if (!m || !unit || !materialization || !rule || !variant)
    return cf_error(CONFIDENCE_EINVAL, "a memory store and every string are required");
  return put_assignment(m, unit, unit_len ? unit_len : strlen(unit), materialization, rule, variant);
}

int confidence_memory_store_put_inclusion(confidence_store *store, const char *unit, size_t unit_len,
                                          const char *materialization, int included)
{
  memory_store *m = as_memory(store);
  if (!m || !unit || !materialization)
    return cf_error(CONFIDENCE_EINVAL, "a memory store, unit and materialization are required");
  return put(m, 'i', unit, unit_len ? unit_len : strlen(unit), materialization, "", NULL, included != 0);
}

size_t confidence_memory_store_count(const confidence_store *store)
{
  memory_store *m = as_memory(store);
  return m ? atomic_load(&m->count) : 0;
}
