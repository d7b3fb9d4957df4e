/* Network operations of the provider, on top of a confidence_transport:
 * CDN state download with ETags, gRPC unary calls (framing, grpc-status,
 * UNAVAILABLE retries with backoff) and protobuf HTTP POSTs. */
#ifndef CF_NET_H
#define CF_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "confidence/sys/transport.h"

/* Result of a CDN fetch. */
typedef enum cf_fetch_outcome {
  CF_FETCH_NEW = 0,          /* 200: body holds the payload, etag the new ETag (may be empty) */
  CF_FETCH_NOT_MODIFIED = 1, /* 304 */
  CF_FETCH_FAILED = 2        /* network error or other status; message in `error` */
} cf_fetch_outcome;

typedef struct cf_fetch {
  uint8_t *body; /* malloc'd; free with free() */
  size_t len;
  char *etag;    /* malloc'd or NULL */
  long status;
  char error[256];
} cf_fetch;

/* GET `url` with If-None-Match when `etag` is non-NULL and non-empty. */
cf_fetch_outcome cf_net_fetch_state(const confidence_transport *t, const char *url, const char *etag,
                                    uint32_t timeout_ms, cf_fetch *out);

/* Lowercase hex SHA-256 of the secret: the CDN path. out: 65 bytes. */
void cf_net_secret_hash(const char *secret, char out[65]);

typedef struct cf_retry_policy {
  int max_attempts;            /* 3 */
  uint32_t initial_backoff_ms; /* 1000 */
  uint32_t max_backoff_ms;     /* 10000 */
  double multiplier;           /* 2.0 */
  /* Sleeps between attempts; returns false to abandon the retries (e.g.
   * shutdown). NULL: nanosleep. */
  bool (*sleep_ms)(uint32_t ms, void *user_data);
  void *sleep_user_data;
} cf_retry_policy;

/* Makes every exchange this thread starts from now on abandonable: the
 * transport polls fn(data) while it waits (fn NULL: never abandon). */
void cf_net_set_abort(int (*fn)(void *data), void *data);

/* Replaces every occurrence of `secret` in msg (NUL-terminated, in place)
 * with "***", and a tail of msg that begins the secret (a cut-off copy, 4
 * characters or more) too: server-provided text may echo it. */
void cf_scrub_secret(char *msg, const char *secret);

typedef struct cf_grpc_result {
  int grpc_status;     /* 0 OK; -1 when no gRPC status could be read */
  bool uncertain;      /* the last attempt got no answer after the request may
                        * have reached the server (timed out or abandoned) */
  long http_status;
  char message[256];   /* grpc-message or transport error */
  uint8_t *body;       /* response message without framing; malloc'd */
  size_t len;
  int attempts;
} cf_grpc_result;

/* Unary gRPC call: POST base_url + method_path with the 5-byte framed
 * message, `authorization` metadata, te: trailers. http:// base URLs use
 * cleartext HTTP/2 with prior knowledge. Retries UNAVAILABLE (14) per the
 * policy (NULL: no retries). Returns 0 when grpc-status is 0. */
int cf_grpc_unary(const confidence_transport *t, const char *base_url, const char *method_path,
                  const char *authorization, const uint8_t *req, size_t len, uint32_t timeout_ms,
                  const cf_retry_policy *retry, cf_grpc_result *out);

/* POST a protobuf body; success is a 2xx status. Returns 0 on success,
 * CONFIDENCE_ETIMEDOUT when no answer came in time (or the exchange was
 * abandoned), CONFIDENCE_ENETWORK otherwise, with the reason in err (the
 * secret in `authorization` scrubbed from what the server answered). */
int cf_http_post_proto(const confidence_transport *t, const char *url, const char *content_type,
                       const char *authorization, const uint8_t *body, size_t len, uint32_t timeout_ms,
                       long *status, char err[256]);

#endif
