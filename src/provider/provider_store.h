/* The provider's materialization store: the configured store and the
 * discover -> read -> resume -> write loop around the resolver. One
 * pointer in struct confidence_provider; NULL when no store is configured,
 * and then evaluation is exactly what it was. */
#ifndef CF_PROVIDER_STORE_H
#define CF_PROVIDER_STORE_H

#include "confidence/provider.h"
#include "confidence/resolve.h"
#include "confidence/sys/store.h"

typedef struct cf_store_ctx cf_store_ctx;

#include "store_loop.h" /* CF_STORE_FAILED, CF_STORE_MSG */

/* Option checks (current layout): the store's vtable version, read
 * present, not together with use_remote_materialization_store. 0 or
 * CONFIDENCE_EINVAL. */
int cf_provider_store_validate(const confidence_provider_options *o);
/* Takes the configured store into p->store (NULL when none). 0, or
 * CONFIDENCE_ENOMEM (the store has then been freed). */
int cf_provider_store_init(confidence_provider *p, const confidence_provider_options *o);
/* Stops the writer thread (queued writes get up to the write timeout),
 * frees the store and the context. */
void cf_provider_store_free(confidence_provider *p);

/* Resolves `req` in discovery mode; when flags wait for materializations,
 * reads them from the store in one batch and resumes; then hands the
 * writes to the store. Returns what confidence_resolve returns, or
 * CF_STORE_FAILED with the reason in msg[CF_STORE_MSG]. */
int cf_provider_store_resolve(confidence_provider *p, const confidence_state *st, confidence_resolve_request *req,
                              confidence_resolve_result *res, char *msg);

/* The same for tests and the CLI, without a provider: a context around
 * `vt` (taken: freed by cf_store_ctx_free, also when this fails), with
 * the timeouts and write mode of `o` (current layout). NULL: out of memory. */
cf_store_ctx *cf_store_ctx_new(const confidence_store *vt, const confidence_provider_options *o);
void cf_store_ctx_free(cf_store_ctx *c);
int cf_store_ctx_resolve(cf_store_ctx *c, const confidence_state *st, confidence_resolve_request *req,
                         confidence_resolve_result *res, char *msg);

/* ---- store_remote.c: Confidence's InternalFlagLoggerService store ---- */
/* Fills `vt` with the remote store; user_data is the provider (its secret,
 * flag_log_grpc_url and transport). */
void cf_store_remote_init(confidence_store *vt, confidence_provider *p);

/* fork(): prepare takes the queue lock, the parent releases it, the child
 * re-creates it without the parent's writer thread and queued jobs. NULL
 * is a no-op. */
void cf_store_ctx_lock_for_fork(cf_store_ctx *c);
void cf_store_ctx_unlock_after_fork(cf_store_ctx *c);
void cf_store_ctx_after_fork_child(cf_store_ctx *c);

#endif
