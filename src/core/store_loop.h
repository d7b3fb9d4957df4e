/* The materialization loop over a store vtable (RESOLVER_SPEC §3.2, §5,
 * §6.5): resolve in discovery mode, read what the suspended resolve asks
 * for in one batch, resume with the answers, write the assignments. Part
 * of the core (no threads): the provider adds its asynchronous writer on
 * top (provider_store.c), the CLI uses it as is. Also the batch object
 * stores answer through (confidence/sys/store.h). */
#ifndef CF_STORE_LOOP_H
#define CF_STORE_LOOP_H

#include <stdatomic.h>
#include <stdint.h>

#include "confidence/resolve.h"
#include "confidence/sys/store.h"

/* Returned when the store (not the resolver) failed: the message is in
 * `msg`. Positive, so never a CONFIDENCE_E*. */
#define CF_STORE_FAILED 1
#define CF_STORE_MSG 256

typedef struct cf_store_counters {
  _Atomic uint64_t reads, read_failures, read_timeouts, writes, write_failures;
} cf_store_counters;

typedef struct cf_store_loop {
  confidence_store vt; /* the accepted vtable (copied at its version's size) */
  uint32_t read_ms, write_ms;
  cf_store_counters counts;
} cf_store_loop;

/* Checks `vt` (version 1..current, read present) and copies it into `l`
 * with the timeouts (0: 2 s read, 5 s write). 0 or CONFIDENCE_EINVAL. */
int cf_store_loop_init(cf_store_loop *l, const confidence_store *vt, uint32_t read_ms, uint32_t write_ms);

/* Copies of a result's writes, ops and strings in one allocation (the
 * state and the result may be gone when they are written); free(). */
typedef struct cf_store_writes {
  struct cf_store_writes *next; /* for queues */
  size_t count;
  const confidence_store_write_op **ptrs;
} cf_store_writes;
cf_store_writes *cf_store_writes_new(const confidence_resolve_result *res);

/* One write call within the write timeout; failures are only counted. */
void cf_store_write_now(cf_store_loop *l, const cf_store_writes *w);

/* Hands a resolve's writes on; NULL writes them now, inline. */
typedef void (*cf_store_write_fn)(void *ctx, const confidence_resolve_result *res);

/* Resolves `req` (its mode set to DISCOVER) through the store: at most one
 * batched read and one resume, then the writes (if the store writes).
 * Returns what confidence_resolve returns, or CF_STORE_FAILED with the
 * reason in msg[CF_STORE_MSG]. */
int cf_store_loop_resolve(cf_store_loop *l, const confidence_state *st, confidence_resolve_request *req,
                          confidence_resolve_result *res, char *msg, cf_store_write_fn write, void *write_ctx);

#endif
