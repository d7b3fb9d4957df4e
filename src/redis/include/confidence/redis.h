/* libconfidence_redis: a materialization store in Redis, shared by every
 * server of a fleet (link -lconfidence_redis -lconfidence; pkg-config
 * confidence-redis). Built on hiredis and on the public store interface
 * (confidence/sys/store.h) only.
 *
 * Key layout: one hash per (materialization, unit),
 *   <prefix><materialization>:<unit>    (unit bytes as they are, NULs too)
 * with a field per rule holding the sticky variant and the field
 * "@included" = "1" when the unit is in the materialization. A variant
 * write sets both. Every read and write renews the key's TTL (Confidence
 * keeps materializations 90 days from their last use).
 *
 * Transport: plain TCP. Debian's hiredis (0.14.1) has no TLS, so neither
 * has this store: keep Redis on loopback or a private network, or tunnel.
 * Each batch is one pipelined round trip on a pooled connection; a
 * connection that fails is dropped and the next call reconnects. */
#ifndef CONFIDENCE_REDIS_H
#define CONFIDENCE_REDIS_H

#include "confidence/sys/store.h" /* installed next to this header */

#ifdef __cplusplus
extern "C" {
#endif

#define CONFIDENCE_REDIS_STORE_OPTIONS_VERSION 1
typedef struct confidence_redis_store_options {
  unsigned version;
  const char *host;          /* NULL: "127.0.0.1" */
  int port;                  /* 0: 6379 */
  const char *username;      /* NULL: AUTH with the password only (Redis < 6 style) */
  const char *password;      /* NULL: no AUTH. Never logged or put in messages. */
  int database;              /* SELECT'ed on connect when nonzero */
  const char *key_prefix;    /* NULL: "confidence:" */
  uint32_t ttl_seconds;      /* 0: 7776000 (90 days), renewed on every access */
  int disable_ttl;           /* nonzero: keys never expire */
  uint32_t max_connections;  /* 0: 8 (callers beyond wait for one, within their timeout) */
} confidence_redis_store_options;
#define CONFIDENCE_REDIS_STORE_OPTIONS_INIT {CONFIDENCE_REDIS_STORE_OPTIONS_VERSION}

/* A Redis store (no connection yet: the first call connects). Strings are
 * copied. On success *out is owned: give it to a provider
 * (materialization_store), which frees it, or free it with
 * confidence_store_free. Returns 0, CONFIDENCE_EINVAL (NULL out, unknown
 * options version) or CONFIDENCE_ENOMEM. */
CONFIDENCE_API int confidence_redis_store_new(const confidence_redis_store_options *opts, confidence_store **out);

/* The same from "redis://[[user]:password@]host[:port][/db]" (the CLI's
 * --store). Returns 0, CONFIDENCE_EINVAL (not such a URL) or
 * CONFIDENCE_ENOMEM. */
CONFIDENCE_API int confidence_redis_store_from_url(const char *url, confidence_store **out);

#ifdef __cplusplus
}
#endif
#endif
