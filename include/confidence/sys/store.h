/* Pluggable materialization store for implementers (libgit2's
 * sys/odb_backend.h is the model): where a provider keeps sticky
 * assignments and materialized-segment membership. The provider resolves
 * a flag that needs materializations in discovery mode, asks the store
 * for everything that resolve wants in ONE batched read, finishes the
 * resolve with the answers and hands what it assigned to ONE batched write
 * (docs/materializations.md). Flags without materializations never reach
 * the store.
 *
 * Shipped stores: in memory (confidence/store.h), Confidence's remote store
 * (provider option use_remote_materialization_store) and Redis
 * (libconfidence_redis, confidence/redis.h). */
#ifndef CONFIDENCE_SYS_STORE_H
#define CONFIDENCE_SYS_STORE_H

#include "../common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum confidence_store_op_kind {
  /* Which variant, if any, `unit` was assigned by `rule` of `materialization`. */
  CONFIDENCE_STORE_OP_VARIANT_READ = 1,
  /* Whether `unit` is in `materialization` (a materialized segment). */
  CONFIDENCE_STORE_OP_INCLUSION_READ = 2
} confidence_store_op_kind;

/* One read op. Handed out as borrowed const pointers, valid during the
 * call only, so the struct can grow. Units are targeting keys and may hold
 * NUL bytes: use unit_len. `rule` is "" for an inclusion read. */
typedef struct confidence_store_read_op {
  int kind; /* confidence_store_op_kind */
  const char *unit;
  size_t unit_len;
  const char *materialization;
  const char *rule;
} confidence_store_read_op;

/* One variant write: `unit` was assigned `variant` by `rule` of
 * `materialization`. Writing it also makes the unit included in the
 * materialization (as Confidence's own stores do). Borrowed, call only. */
typedef struct confidence_store_write_op {
  const char *unit;
  size_t unit_len;
  const char *materialization;
  const char *rule;
  const char *variant;
} confidence_store_write_op;

/* The provider's side of one read or write call: answers and the error
 * message go here. Only valid during the call it was passed to. */
typedef struct confidence_store_batch confidence_store_batch;

/* Answers op `i` of a read with a variant (copied; NULL or "" means no
 * assignment). An op left unanswered reads as "no assignment" / "not
 * included". Returns 0 or CONFIDENCE_EINVAL (i out of range, not a
 * variant read, or a write batch), CONFIDENCE_ENOMEM. */
CONFIDENCE_API int confidence_store_batch_set_variant(confidence_store_batch *batch, size_t i, const char *variant);
/* Answers inclusion read `i`. Returns 0 or CONFIDENCE_EINVAL. */
CONFIDENCE_API int confidence_store_batch_set_included(confidence_store_batch *batch, size_t i, int included);
/* The message the evaluation reports when the call fails (copied, up to
 * 255 bytes; never put a secret in it). Optional: without it the code's
 * name is reported. */
CONFIDENCE_API void confidence_store_batch_set_error(confidence_store_batch *batch, const char *message);
/* Milliseconds this call may still take: the provider's per-operation
 * timeout (read 2000, write 5000 by default) less what has passed. 0 once
 * it has run out. */
CONFIDENCE_API uint32_t confidence_store_batch_timeout_ms(const confidence_store_batch *batch);

/* A vtable: `version` is checked (1..CONFIDENCE_STORE_VERSION) when a
 * provider accepts the store; `read` is required, `write` optional.
 *
 * Threading: both callbacks are called from evaluating threads (the thread
 * calling confidence_provider_get_*), concurrently from any number of
 * them, and `write` also from the provider's store-writer thread when
 * writes are asynchronous. No library lock is held during a call.
 *
 * Blocking and timeouts: a call may block, but must return within
 * confidence_store_batch_timeout_ms(batch). The provider cannot preempt a
 * callback; it discards an answer that comes back late and reports the
 * evaluation as timed out, so a store that ignores its budget only delays
 * its own callers. */
#define CONFIDENCE_STORE_VERSION 1
typedef struct confidence_store {
  unsigned version;
  /* Answers `count` ops (1 or more) with confidence_store_batch_set_*.
   * Returns 0, or a negative CONFIDENCE_E* code (CONFIDENCE_ETIMEDOUT,
   * _ENETWORK, _EIO, _ENOMEM, ...): the evaluation then returns the
   * caller's default with error code GENERAL and the batch's message. */
  int (*read)(const confidence_store_read_op *const *ops, size_t count, confidence_store_batch *batch,
              void *user_data);
  /* Persists `count` assignments (1 or more). NULL: a read-only store (a
   * unit is then assigned afresh each time). Returns 0 or a negative code;
   * a failed write is counted (confidence_store_stats) and does not change
   * the evaluation's answer. */
  int (*write)(const confidence_store_write_op *const *ops, size_t count, confidence_store_batch *batch,
               void *user_data);
  /* Called exactly once, with user_data: when the provider holding the
   * store is freed, or by confidence_provider_new itself when it fails
   * (the options' store is the provider's from that call on, as
   * confidence_value_list_append takes its value), or by
   * confidence_store_free for a store never given to a provider. The struct
   * must stay valid until then. */
  void (*free)(void *user_data);
  void *user_data;
} confidence_store;
#define CONFIDENCE_STORE_INIT {CONFIDENCE_STORE_VERSION}

/* Releases a store no provider took: calls its free(user_data). NULL is a
 * no-op. */
CONFIDENCE_API void confidence_store_free(confidence_store *store);

#ifdef __cplusplus
}
#endif
#endif
