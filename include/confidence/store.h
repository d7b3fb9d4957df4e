/* Materialization stores for the provider (sticky assignments and
 * materialized segments): the in-memory store shipped with the library and
 * the provider's store counters. The interface a store implements is in
 * confidence/sys/store.h; Redis is libconfidence_redis (confidence/redis.h);
 * Confidence's remote store is the provider option
 * use_remote_materialization_store. Guide: docs/materializations.md. */
#ifndef CONFIDENCE_STORE_H
#define CONFIDENCE_STORE_H

#include "provider.h"
#include "sys/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CONFIDENCE_MEMORY_STORE_OPTIONS_VERSION 1
typedef struct confidence_memory_store_options {
  unsigned version;
  /* 0: unlimited. Otherwise a write that would add entries past this many
   * (variants and inclusions together) fails with CONFIDENCE_ELIMIT;
   * entries already there are still updated. */
  size_t max_entries;
} confidence_memory_store_options;
#define CONFIDENCE_MEMORY_STORE_OPTIONS_INIT {CONFIDENCE_MEMORY_STORE_OPTIONS_VERSION}

/* A thread-safe store in this process's memory (64 shards, one mutex
 * each; never blocks on anything else). Writing a variant also marks the
 * unit included in the materialization. `opts` may be NULL (defaults). On
 * success *out is owned: hand it to a provider
 * (opts.materialization_store), which frees it, or free it with
 * confidence_store_free. Returns 0, CONFIDENCE_EINVAL (out NULL, unknown
 * options version) or CONFIDENCE_ENOMEM. */
CONFIDENCE_API int confidence_memory_store_new(const confidence_memory_store_options *opts, confidence_store **out);

/* Seeds or inspects a memory store (thread-safe; also while a provider
 * uses it). `unit_len` 0 means strlen(unit). put_variant also marks the
 * unit included. Return 0, CONFIDENCE_EINVAL (NULL argument, or not a
 * memory store), CONFIDENCE_ELIMIT (max_entries reached) or
 * CONFIDENCE_ENOMEM. */
CONFIDENCE_API int confidence_memory_store_put_variant(confidence_store *store, const char *unit, size_t unit_len,
                                                       const char *materialization, const char *rule,
                                                       const char *variant);
CONFIDENCE_API int confidence_memory_store_put_inclusion(confidence_store *store, const char *unit, size_t unit_len,
                                                         const char *materialization, int included);
/* Entries held (variants plus inclusions); 0 for NULL or another store. */
CONFIDENCE_API size_t confidence_memory_store_count(const confidence_store *store);

/* The provider's store counters, filled by confidence_provider_read_store_stats. */
#define CONFIDENCE_STORE_STATS_VERSION 1
typedef struct confidence_store_stats {
  unsigned version;         /* set by the caller (CONFIDENCE_STORE_STATS_INIT) */
  uint64_t reads;           /* batched read calls (one per evaluation that needed one) */
  uint64_t read_failures;   /* reads that returned an error or ran out of time (timeouts too) */
  uint64_t read_timeouts;   /* of those: ran past the read timeout */
  uint64_t writes;          /* batched write calls made (synchronous and from the writer thread) */
  uint64_t write_failures;  /* writes that returned an error or ran out of time */
  uint64_t writes_queued;   /* asynchronous writes waiting for the writer thread now */
  uint64_t writes_dropped;  /* asynchronous writes not made: queue full, or still queued when the provider was freed */
} confidence_store_stats;
#define CONFIDENCE_STORE_STATS_INIT {CONFIDENCE_STORE_STATS_VERSION}

/* Copies the counters into *out (only the fields of out->version; all
 * zero without a store). Returns 0 or CONFIDENCE_EINVAL (NULL, unknown
 * version). */
CONFIDENCE_API int confidence_provider_read_store_stats(const confidence_provider *p, confidence_store_stats *out);

#ifdef __cplusplus
}
#endif
#endif
