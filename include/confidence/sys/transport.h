/* Pluggable HTTP transport for implementers: the provider does every CDN
 * download, gRPC call and HTTP ingest through one `exchange` function. The
 * default is libcurl (HTTP/1.1, HTTP/2 over TLS, cleartext HTTP/2 with prior
 * knowledge); tests inject fakes to drive faults deterministically. */
#ifndef CONFIDENCE_SYS_TRANSPORT_H
#define CONFIDENCE_SYS_TRANSPORT_H

#include "../common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct confidence_http_header {
  const char *name;  /* lowercase */
  const char *value;
} confidence_http_header;

typedef struct confidence_http_request {
  const char *method; /* "GET" or "POST" */
  const char *url;
  const confidence_http_header *headers;
  size_t header_count;
  const void *body;
  size_t body_len;
  uint32_t timeout_ms;       /* whole exchange */
  int http2_prior_knowledge; /* cleartext HTTP/2 without upgrade (gRPC to http://) */
  /* Optional (NULL: never abandon): polled while the exchange waits, at
   * least every 50 ms by the built-in transport. Nonzero abandons the
   * exchange, which then fails with CONFIDENCE_ETIMEDOUT. The provider
   * sets it so that shutdown and free are bounded whatever the network
   * does; a transport that ignores it bounds them by its own timeouts. */
  int (*should_abort)(void *abort_user_data);
  void *abort_user_data;
} confidence_http_request;

/* Filled by the transport. `body` and the header arrays are allocated by
 * the transport and released through its free_response. Response headers
 * and HTTP/2 trailers both appear in `headers`, names lowercase. */
typedef struct confidence_http_response {
  long status; /* HTTP status; 0 when the exchange failed */
  void *body;
  size_t body_len;
  confidence_http_header *headers;
  size_t header_count;
  char error[256]; /* why the exchange failed, when status == 0 */
} confidence_http_response;

/* A vtable: `version` is checked (1..CONFIDENCE_TRANSPORT_VERSION) when a
 * provider is created; exchange and free_response are required. */
#define CONFIDENCE_TRANSPORT_VERSION 1
typedef struct confidence_transport {
  unsigned version;
  /* One request/response exchange. Called from the provider's background
   * threads (never from evaluation), possibly from two at once; may block
   * up to req->timeout_ms. Returns 0 when a response arrived (any status),
   * a negative CONFIDENCE_E* code when it did not (fill resp->error). */
  int (*exchange)(const confidence_http_request *req, confidence_http_response *resp, void *user_data);
  /* Releases what exchange allocated in `resp`. */
  void (*free_response)(confidence_http_response *resp, void *user_data);
  void *user_data;
  /* Optional: called once with user_data when the provider that accepted
   * this transport is freed (or its creation failed after accepting it).
   * The vtable itself must stay valid until then. */
  void (*free)(void *user_data);
} confidence_transport;

/* The built-in libcurl transport (static; never free it). It verifies TLS
 * peers with the CAs named by SSL_CERT_FILE / SSL_CERT_DIR, else
 * CURL_CA_BUNDLE, else the distribution's bundle (README, "TLS
 * certificates"); a provider given it (or no transport) decides them when
 * it is created, this vtable used directly decides once per process. */
CONFIDENCE_API const confidence_transport *confidence_transport_curl(void);

#ifdef __cplusplus
}
#endif
#endif
