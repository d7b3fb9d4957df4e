/* The built-in transport: one libcurl easy handle per exchange. It owns
 * libcurl's process-wide initialisation, the mapping of requests onto curl
 * options, and the collection of status, headers, HTTP/2 trailers and body.
 *
 * Choices worth knowing:
 * - A fresh handle per exchange: no state is shared between threads, so two
 *   background threads may exchange at once with no locking. The cost is a
 *   new connection (and TLS handshake) per exchange, which is negligible at
 *   the provider's cadence (a state poll or a log batch every few seconds).
 * - TLS peers are verified against the CAs ca_paths.c finds (SSL_CERT_FILE,
 *   SSL_CERT_DIR, the distribution's bundle), set on every handle for the
 *   server and for an HTTPS proxy alike: the CA path compiled into libcurl
 *   is never used, since a wheel's static libcurl has none and a grafted
 *   one carries its build host's. Without CAs an https:// exchange fails
 *   at once with a message naming the variables to set. A provider
 *   decides its CAs when it is created (cf_transport_curl_bind()); the
 *   public vtable, used on its own, decides once per process.
 * - Other libcurl defaults are kept where we do not say otherwise: the
 *   proxy environment variables (http_proxy, https_proxy, no_proxy,
 *   all_proxy) are honoured, as httpx honours them in the reference's
 *   Python provider.
 *   Cleartext HTTP/2 with prior knowledge cannot pass through an HTTP proxy.
 * - Redirects are not followed (the CDN and ingest endpoints do not
 *   redirect; httpx, which the reference uses, does not follow by default).
 * - Nothing is printed: no verbose mode, every callback is ours.
 * - libcurl 7.88 loses an HTTP/2 response that arrives before the request
 *   body went out; that one case is asked again, twice at most (perform()). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "transport_curl.h"

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "confidence/sys/transport.h"
#include "confidence/version.h"
#include "size_limits.h"

/* A response larger than this is an error rather than an allocation the
 * size a hostile or broken server chooses: the state size limit. */
#define CF_CURL_MAX_BODY CF_MAX_STATE_BYTES
/* Sane upper bound on response headers plus trailers. */
#define CF_CURL_MAX_HEADERS 512
/* Used when the request carries no timeout: a background thread must
 * never block forever. */
#define CF_CURL_DEFAULT_TIMEOUT_MS 30000u
#define CF_CURL_MAX_CONNECT_TIMEOUT_MS 10000u
/* How often an abandonable exchange asks whether to stop (run_abortable()). */
#define ABORT_POLL_MS 20
/* Attempts at an exchange whose early response libcurl lost (perform()). */
#define CF_CURL_EARLY_CLOSE_ROUNDS 3

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void) { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* The CAs of the public vtable, which has no provider to decide them. */
static pthread_once_t process_ca_once = PTHREAD_ONCE_INIT;
static cf_ca_paths process_ca;

static void process_ca_find(void) { cf_ca_paths_find(&process_ca); }

/* What the callbacks accumulate during one exchange. */
typedef struct exchange_ctx {
  char *body;
  size_t body_len, body_cap;
  confidence_http_header *headers;
  size_t header_count, header_cap;
  const char *abort_reason; /* set by a callback that stopped the transfer */
  bool oom;
} exchange_ctx;

static void headers_clear(exchange_ctx *c)
{
  /* name and value share one allocation, owned through name */
  for (size_t i = 0; i < c->header_count; i++)
    free((char *)c->headers[i].name);
  c->header_count = 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
  exchange_ctx *c = userdata;
  size_t n = size * nmemb;
  if (n == 0)
    return 0;
  if (n > CF_CURL_MAX_BODY - c->body_len) {
    c->abort_reason = "response body exceeds 64 MiB";
    return 0;
  }
  if (c->body_len + n > c->body_cap) {
    size_t cap = c->body_cap ? c->body_cap : 16384;
    while (cap < c->body_len + n)
      cap *= 2;
    if (cap > CF_CURL_MAX_BODY)
      cap = CF_CURL_MAX_BODY;
    char *p = realloc(c->body, cap);
    if (!p) {
      c->oom = true;
      c->abort_reason = "out of memory reading the response body";
      return 0;
    }
    c->body = p;
    c->body_cap = cap;
  }
  memcpy(c->body + c->body_len, data, n);
  c->body_len += n;
  return n;
}

static bool is_ows(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

/* Called once per header line, for response headers and (HTTP/2, HTTP/1.1
 * chunked) trailers alike, and for the status line of every response in
 * the exchange (1xx interim responses, proxy CONNECT replies). */
static size_t on_header(char *line, size_t size, size_t nitems, void *userdata)
{
  exchange_ctx *c = userdata;
  size_t n = size * nitems;
  if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
    /* A new response begins: only the final one's headers count. '/' is
     * not a token character, so no header line starts like this. */
    headers_clear(c);
    return n;
  }
  size_t end = n;
  while (end > 0 && is_ows(line[end - 1]))
    end--;
  if (end == 0)
    return n; /* the blank line closing a header block */

  if (line[0] == ' ' || line[0] == '\t') {
    /* obsolete HTTP/1.1 line folding: continue the previous value */
    if (c->header_count == 0)
      return n;
    size_t start = 0;
    while (start < end && is_ows(line[start]))
      start++;
    confidence_http_header *h = &c->headers[c->header_count - 1];
    size_t nlen = strlen(h->name), vlen = strlen(h->value), add = end - start;
    char *p = realloc((char *)h->name, nlen + 1 + vlen + 1 + add + 1);
    if (!p) {
      c->oom = true;
      c->abort_reason = "out of memory reading response headers";
      return 0;
    }
    char *v = p + nlen + 1;
    v[vlen] = ' ';
    memcpy(v + vlen + 1, line + start, add);
    v[vlen + 1 + add] = '\0';
    h->name = p;
    h->value = v;
    return n;
  }

  const char *colon = memchr(line, ':', end);
  if (!colon || colon == line)
    return n; /* not a header; ignore rather than fail the exchange */
  size_t nlen = (size_t)(colon - line);
  size_t vstart = nlen + 1;
  while (vstart < end && is_ows(line[vstart]))
    vstart++;
  size_t vlen = end - vstart;

  if (c->header_count >= CF_CURL_MAX_HEADERS) {
    c->abort_reason = "too many response headers";
    return 0;
  }
  if (c->header_count == c->header_cap) {
    size_t cap = c->header_cap ? c->header_cap * 2 : 16;
    confidence_http_header *p = realloc(c->headers, cap * sizeof *p);
    if (!p) {
      c->oom = true;
      c->abort_reason = "out of memory reading response headers";
      return 0;
    }
    c->headers = p;
    c->header_cap = cap;
  }
  char *buf = malloc(nlen + 1 + vlen + 1);
  if (!buf) {
    c->oom = true;
    c->abort_reason = "out of memory reading response headers";
    return 0;
  }
  for (size_t i = 0; i < nlen; i++)
    buf[i] = (char)tolower((unsigned char)line[i]);
  buf[nlen] = '\0';
  memcpy(buf + nlen + 1, line + vstart, vlen);
  buf[nlen + 1 + vlen] = '\0';
  c->headers[c->header_count].name = buf;
  c->headers[c->header_count].value = buf + nlen + 1;
  c->header_count++;
  return n;
}

static bool has_crlf(const char *s) { return s && strpbrk(s, "\r\n") != NULL; }

static int fail(confidence_http_response *resp, int code, const char *msg)
{
  snprintf(resp->error, sizeof resp->error, "%s", msg);
  return code;
}

static void curl_free_response(confidence_http_response *resp, void *user_data)
{
  (void)user_data;
  if (!resp)
    return;
  for (size_t i = 0; i < resp->header_count; i++)
    free((char *)resp->headers[i].name);
  free(resp->headers);
  free(resp->body);
  resp->headers = NULL;
  resp->header_count = 0;
  resp->body = NULL;
  resp->body_len = 0;
}

/* Builds the request header list. Returns false on allocation failure. */
static bool build_headers(const confidence_http_request *req, struct curl_slist **out)
{
  struct curl_slist *list = NULL, *next;
  /* libcurl would otherwise send "Expect: 100-continue" for larger HTTP/1.1
   * POST bodies and wait up to a second for an interim answer. */
  if (!(next = curl_slist_append(list, "Expect:")))
    goto oom;
  list = next;
  for (size_t i = 0; i < req->header_count; i++) {
    const char *name = req->headers[i].name, *value = req->headers[i].value;
    size_t nlen = strlen(name), vlen = value ? strlen(value) : 0;
    char *line = malloc(nlen + vlen + 3);
    if (!line)
      goto oom;
    if (vlen)
      snprintf(line, nlen + vlen + 3, "%s: %s", name, value);
    else
      snprintf(line, nlen + vlen + 3, "%s;", name); /* curl's syntax for an empty value */
    next = curl_slist_append(list, line);
    free(line);
    if (!next)
      goto oom;
    list = next;
  }
  *out = list;
  return true;
oom:
  curl_slist_free_all(list);
  return false;
}

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* curl_easy_perform, but asking req->should_abort every ABORT_POLL_MS
 * while the transfer waits; *aborted when it said stop. */
static CURLcode run_abortable(CURL *h, const confidence_http_request *req, bool *aborted)
{
  CURLM *m = curl_multi_init();
  if (!m)
    return CURLE_OUT_OF_MEMORY;
  if (curl_multi_add_handle(m, h) != CURLM_OK) {
    curl_multi_cleanup(m);
    return CURLE_OUT_OF_MEMORY;
  }
  CURLcode rc = CURLE_OK;
  int running = 1;
  while (running) {
    if (curl_multi_perform(m, &running) != CURLM_OK) {
      rc = CURLE_SEND_ERROR;
      break;
    }
    if (!running)
      break;
    if (req->should_abort(req->abort_user_data)) {
      *aborted = true;
      rc = CURLE_ABORTED_BY_CALLBACK;
      break;
    }
    curl_multi_poll(m, NULL, 0, ABORT_POLL_MS, NULL);
  }
  int queued;
  CURLMsg *msg;
  while (!*aborted && (msg = curl_multi_info_read(m, &queued)) != NULL)
    if (msg->msg == CURLMSG_DONE)
      rc = msg->data.result;
  curl_multi_remove_handle(m, h);
  curl_multi_cleanup(m);
  return rc;
}

/* One transfer on a fresh easy handle. *early_close reports libcurl 7.88's
 * lost early response: the server answered and closed the HTTP/2 stream
 * before reading our request body (as gRPC servers do for an unknown
 * method or rejected credentials), and libcurl, still uploading, fails
 * with CURLE_HTTP2_STREAM without delivering the response it received
 * (newer libcurl releases keep the response). */
static int perform(const confidence_http_request *req, struct curl_slist *hdrs, bool post, uint32_t timeout,
                   const cf_ca_paths *ca, confidence_http_response *resp, bool *early_close)
{
  *early_close = false;
  memset(resp, 0, sizeof *resp);
  CURL *h = curl_easy_init();
  if (!h)
    return fail(resp, CONFIDENCE_ENOMEM, "curl_easy_init failed");

  uint32_t connect_timeout = timeout < CF_CURL_MAX_CONNECT_TIMEOUT_MS ? timeout : CF_CURL_MAX_CONNECT_TIMEOUT_MS;
  exchange_ctx ctx = {0};
  char errbuf[CURL_ERROR_SIZE];
  errbuf[0] = '\0';

  CURLcode rc = CURLE_OK;
#define SET(opt, val)                     \
  do {                                    \
    if (rc == CURLE_OK)                   \
      rc = curl_easy_setopt(h, opt, val); \
  } while (0)
  SET(CURLOPT_URL, req->url);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_ERRORBUFFER, errbuf);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_TIMEOUT_MS, (long)timeout);
  SET(CURLOPT_CONNECTTIMEOUT_MS, (long)connect_timeout);
  SET(CURLOPT_HTTP_VERSION,
      (long)(req->http2_prior_knowledge ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_2TLS));
  SET(CURLOPT_USERAGENT, "libconfidence/" CONFIDENCE_VERSION_STRING);
  SET(CURLOPT_HTTPHEADER, hdrs);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, &ctx);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, &ctx);
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CF_CURL_MAX_BODY);
  /* NULL clears libcurl's compiled-in default, so only what ca names is trusted */
  SET(CURLOPT_CAINFO, ca->file[0] ? ca->file : NULL);
  SET(CURLOPT_CAPATH, ca->dir[0] ? ca->dir : NULL);
  SET(CURLOPT_PROXY_CAINFO, ca->file[0] ? ca->file : NULL);
  SET(CURLOPT_PROXY_CAPATH, ca->dir[0] ? ca->dir : NULL);
  if (post) {
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    SET(CURLOPT_POSTFIELDS, req->body_len ? (const char *)req->body : "");
  } else {
    SET(CURLOPT_HTTPGET, 1L);
  }
#undef SET
  bool aborted = false;
  if (rc == CURLE_OK)
    rc = req->should_abort ? run_abortable(h, req, &aborted) : curl_easy_perform(h);

  int result = 0;
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (rc == CURLE_OK) {
    resp->status = status;
    resp->body = ctx.body;
    resp->body_len = ctx.body_len;
    resp->headers = ctx.headers;
    resp->header_count = ctx.header_count;
    if (!resp->body) {
      /* an empty body is still a buffer the caller may read */
      resp->body = malloc(1);
      if (!resp->body) {
        curl_free_response(resp, NULL);
        resp->status = 0;
        result = fail(resp, CONFIDENCE_ENOMEM, "out of memory");
      }
    }
  } else {
    curl_off_t uploaded = 0;
    curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &uploaded);
    /* libcurl's "stream closed" path leaves no text in errbuf */
    *early_close = rc == CURLE_HTTP2_STREAM && !errbuf[0] && status == 0 && post &&
                   uploaded < (curl_off_t)req->body_len;
    if (aborted)
      snprintf(resp->error, sizeof resp->error, "exchange abandoned (the provider is shutting down)");
    else if (*early_close)
      snprintf(resp->error, sizeof resp->error,
               "the server closed the HTTP/2 stream before reading the request body; "
               "libcurl %s lost its early response",
               curl_version_info(CURLVERSION_NOW)->version);
    else if (ctx.abort_reason)
      snprintf(resp->error, sizeof resp->error, "%s", ctx.abort_reason);
    else if (rc == CURLE_FILESIZE_EXCEEDED)
      snprintf(resp->error, sizeof resp->error, "response body exceeds 64 MiB");
    else if (rc == CURLE_OUT_OF_MEMORY && !ctx.oom)
      /* libcurl 7.88 reports a header line over its 100 KB limit as "Out of
       * memory"; our own allocations did not fail, so that is the cause. */
      snprintf(resp->error, sizeof resp->error, "response header too large (over libcurl's 100 KB per line)");
    else
      snprintf(resp->error, sizeof resp->error, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (ctx.oom)
      result = CONFIDENCE_ENOMEM;
    else if (rc == CURLE_OPERATION_TIMEDOUT || aborted)
      result = CONFIDENCE_ETIMEDOUT;
    else if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
      result = CONFIDENCE_EINVAL;
    else
      result = CONFIDENCE_ENETWORK;
    headers_clear(&ctx);
    free(ctx.headers);
    free(ctx.body);
  }
  curl_easy_cleanup(h);
  return result;
}

static int curl_exchange(const confidence_http_request *req, confidence_http_response *resp, void *user_data)
{
  if (!resp)
    return CONFIDENCE_EINVAL;
  memset(resp, 0, sizeof *resp);
  if (!req || !req->url || !req->method || (req->header_count && !req->headers) ||
      (req->body_len && !req->body))
    return fail(resp, CONFIDENCE_EINVAL, "invalid request");
  bool post = strcmp(req->method, "POST") == 0;
  if (!post && strcmp(req->method, "GET") != 0)
    return fail(resp, CONFIDENCE_EINVAL, "unsupported method");
  /* Header injection guard: libcurl would send CR/LF verbatim. */
  for (size_t i = 0; i < req->header_count; i++) {
    const char *name = req->headers[i].name;
    if (!name || !*name || strchr(name, ':') || has_crlf(name) || has_crlf(req->headers[i].value))
      return fail(resp, CONFIDENCE_EINVAL, "invalid request header");
  }

  const cf_ca_paths *ca = user_data;
  if (!ca) {
    pthread_once(&process_ca_once, process_ca_find);
    ca = &process_ca;
  }
  /* Without CAs no TLS peer can be verified: say what to set rather than
   * let every handshake fail on an unknown issuer. */
  if (ca->error[0] && strncasecmp(req->url, "https:", 6) == 0)
    return fail(resp, CONFIDENCE_ENETWORK, ca->error);

  pthread_once(&curl_once, curl_init_once);
  if (curl_init_result != CURLE_OK)
    return fail(resp, CONFIDENCE_ENETWORK, "curl_global_init failed");

  struct curl_slist *hdrs = NULL;
  if (!build_headers(req, &hdrs))
    return fail(resp, CONFIDENCE_ENOMEM, "out of memory");

  uint32_t timeout = req->timeout_ms ? req->timeout_ms : CF_CURL_DEFAULT_TIMEOUT_MS;
  uint64_t start = now_ms();
  bool early_close;
  int result = perform(req, hdrs, post, timeout, ca, resp, &early_close);
  /* The server had not received the whole body, so it cannot have acted on
   * the request: ask again, within what is left of the timeout, to learn
   * its answer. The race needs the answer to arrive before our next write,
   * which takes a server on the same host; a few percent of such calls
   * lose it, so two more rounds make a loss rare. */
  for (int round = 1; early_close && round < CF_CURL_EARLY_CLOSE_ROUNDS; round++) {
    if (req->should_abort && req->should_abort(req->abort_user_data))
      break;
    uint64_t spent = now_ms() - start;
    if (spent >= timeout)
      break;
    result = perform(req, hdrs, post, (uint32_t)(timeout - spent), ca, resp, &early_close);
  }
  curl_slist_free_all(hdrs);
  return result;
}

static const confidence_transport curl_transport = {
  CONFIDENCE_TRANSPORT_VERSION, curl_exchange, curl_free_response, NULL,
};

const confidence_transport *confidence_transport_curl(void) { return &curl_transport; }

void cf_transport_curl_bind(confidence_transport *t, const cf_ca_paths *ca)
{
  *t = curl_transport;
  t->user_data = (void *)ca; /* read only: the vtable's user_data is not const */
}
