/* The provider's network operations over a confidence_transport: CDN
 * downloads with ETags, unary gRPC calls (length-prefixed framing,
 * grpc-status from trailers, UNAVAILABLE retries with exponential backoff)
 * and protobuf POSTs. No secret ever reaches a message written here. */
#define _POSIX_C_SOURCE 200809L /* strdup, strcasecmp, clock_gettime, nanosleep */
#include "net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "confidence/common.h"
#include "hex.h"

/* gRPC status codes we name. */
enum {
  GRPC_OK = 0,
  GRPC_UNKNOWN = 2,
  GRPC_PERMISSION_DENIED = 7,
  GRPC_UNIMPLEMENTED = 12,
  GRPC_INTERNAL = 13,
  GRPC_UNAVAILABLE = 14,
  GRPC_UNAUTHENTICATED = 16
};

/* Copies at most out_size-1 bytes of s, cutting on a UTF-8 character
 * boundary so a truncated message is still valid text. */
static void copy_message(char *out, size_t out_size, const char *s, size_t len)
{
  if (len >= out_size) {
    len = out_size - 1;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
      len--;
  }
  memcpy(out, s, len);
  out[len] = '\0';
}

/* Last header of that name (trailers follow headers, so they win). */
static const char *find_header(const confidence_http_response *r, const char *name)
{
  const char *found = NULL;
  for (size_t i = 0; i < r->header_count; i++)
    if (r->headers[i].name && strcasecmp(r->headers[i].name, name) == 0)
      found = r->headers[i].value ? r->headers[i].value : "";
  return found;
}

static _Thread_local int (*abort_fn)(void *);
static _Thread_local void *abort_data;

void cf_net_set_abort(int (*fn)(void *data), void *data)
{
  abort_fn = fn;
  abort_data = data;
}

void cf_scrub_secret(char *msg, const char *secret)
{
  size_t slen = secret ? strlen(secret) : 0;
  if (!msg || slen == 0)
    return;
  char *out = msg, *in = msg, *end = msg + strlen(msg);
  while (*in) {
    size_t left = (size_t)(end - in);
    size_t match = left >= slen ? slen : left;
    if (strncmp(in, secret, match) == 0 && (match == slen || match >= 4)) {
      /* "***" is never longer than what it replaces but for a tiny secret */
      size_t put = match < 3 ? match : 3;
      memcpy(out, "***", put);
      out += put;
      in += match;
    } else {
      *out++ = *in++;
    }
  }
  *out = '\0';
}

/* Runs one exchange. resp is zeroed first and always safe to release with
 * release() afterwards, whatever the transport did on failure. */
static int exchange(const confidence_transport *t, const confidence_http_request *in_req,
                    confidence_http_response *resp)
{
  memset(resp, 0, sizeof *resp);
  confidence_http_request req_copy = *in_req;
  confidence_http_request *req = &req_copy;
  req->should_abort = abort_fn;
  req->abort_user_data = abort_data;
  int rc = t->exchange(req, resp, t->user_data);
  resp->error[sizeof resp->error - 1] = '\0';
  if (rc == 0 && resp->body_len && !resp->body)
    rc = CONFIDENCE_ENETWORK; /* a broken transport; never read through NULL */
  if (rc != 0 && !resp->error[0])
    snprintf(resp->error, sizeof resp->error, "%s", confidence_strerror(rc));
  return rc;
}

static void release(const confidence_transport *t, confidence_http_response *resp)
{
  if (t->free_response)
    t->free_response(resp, t->user_data);
}

static bool transport_ok(const confidence_transport *t) { return t && t->exchange; }

/* ---- CDN ------------------------------------------------------------------ */

cf_fetch_outcome cf_net_fetch_state(const confidence_transport *t, const char *url, const char *etag,
                                    uint32_t timeout_ms, cf_fetch *out)
{
  if (!out)
    return CF_FETCH_FAILED;
  memset(out, 0, sizeof *out);
  if (!transport_ok(t) || !url) {
    snprintf(out->error, sizeof out->error, "invalid arguments");
    return CF_FETCH_FAILED;
  }
  confidence_http_header h[1];
  size_t nh = 0;
  if (etag && *etag)
    h[nh++] = (confidence_http_header){"if-none-match", etag};
  confidence_http_request req = {0};
  req.method = "GET";
  req.url = url;
  req.headers = h;
  req.header_count = nh;
  req.timeout_ms = timeout_ms;

  confidence_http_response resp;
  int rc = exchange(t, &req, &resp);
  cf_fetch_outcome outcome = CF_FETCH_FAILED;
  if (rc != 0) {
    /* The URL names the secret's hash; keep it out of the message anyway. */
    snprintf(out->error, sizeof out->error, "CDN request failed: %.200s", resp.error);
  } else {
    out->status = resp.status;
    if (resp.status == 200) {
      const char *tag = find_header(&resp, "etag");
      out->body = malloc(resp.body_len ? resp.body_len : 1);
      out->etag = tag ? strdup(tag) : NULL;
      if (!out->body || (tag && !out->etag)) {
        free(out->body);
        free(out->etag);
        out->body = NULL;
        out->etag = NULL;
        snprintf(out->error, sizeof out->error, "out of memory copying the CDN response");
      } else {
        if (resp.body_len)
          memcpy(out->body, resp.body, resp.body_len);
        out->len = resp.body_len;
        outcome = CF_FETCH_NEW;
      }
    } else if (resp.status == 304) {
      outcome = CF_FETCH_NOT_MODIFIED;
    } else {
      snprintf(out->error, sizeof out->error, "CDN answered %ld", resp.status);
    }
  }
  release(t, &resp);
  return outcome;
}

void cf_net_secret_hash(const char *secret, char out[65])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (!secret)
    secret = "";
  out[0] = '\0';
  if (!EVP_Digest(secret, strlen(secret), md, &md_len, EVP_sha256(), NULL) || md_len != 32)
    return;
  cf_hex_encode(md, 32, out);
}

/* ---- gRPC ----------------------------------------------------------------- */

/* The code a gRPC client reports when the HTTP status is not 200
 * (grpc/doc/http-grpc-status-mapping.md). */
static int grpc_status_from_http(long status)
{
  switch (status) {
  case 400: return GRPC_INTERNAL;
  case 401: return GRPC_UNAUTHENTICATED;
  case 403: return GRPC_PERMISSION_DENIED;
  case 404: return GRPC_UNIMPLEMENTED;
  case 429:
  case 502:
  case 503:
  case 504: return GRPC_UNAVAILABLE;
  default: return GRPC_UNKNOWN;
  }
}

/* grpc-message is percent-encoded UTF-8. An invalid escape is kept as is:
 * the spec asks decoders never to throw the message away. */
static void percent_decode(const char *in, char *out, size_t out_size)
{
  char buf[1024];
  size_t n = 0;
  for (size_t i = 0; in[i] && n < sizeof buf; i++) {
    int hi, lo;
    if (in[i] == '%' && (hi = cf_hex_digit(in[i + 1])) >= 0 && (lo = cf_hex_digit(in[i + 2])) >= 0) {
      buf[n++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      buf[n++] = in[i];
    }
  }
  copy_message(out, out_size, buf, n);
}

/* Strict decimal grpc-status; -1 when malformed. */
static int parse_grpc_status(const char *s)
{
  int v = 0;
  if (!*s)
    return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > 100000)
      return -1;
    v = v * 10 + (*s - '0');
  }
  return v;
}

/* Finds the single message of a unary response in its length-prefixed
 * frames. Returns false with a reason in err when framing is broken. */
static bool unframe_unary(const uint8_t *p, size_t n, const uint8_t **msg, size_t *msg_len, char *err,
                          size_t err_size)
{
  size_t off = 0, count = 0;
  while (off < n) {
    if (n - off < 5) {
      snprintf(err, err_size, "truncated gRPC frame prefix (%zu of 5 bytes)", n - off);
      return false;
    }
    uint8_t flag = p[off];
    uint32_t len = (uint32_t)p[off + 1] << 24 | (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 8 |
                   (uint32_t)p[off + 4];
    if (flag == 1) {
      snprintf(err, err_size, "compressed gRPC message, but no compression was requested");
      return false;
    }
    if (flag != 0) {
      snprintf(err, err_size, "invalid gRPC frame flag %u", (unsigned)flag);
      return false;
    }
    if (len > n - off - 5) {
      snprintf(err, err_size, "gRPC frame declares %lu bytes, %zu present", (unsigned long)len, n - off - 5);
      return false;
    }
    if (++count > 1) {
      snprintf(err, err_size, "more than one message in a unary gRPC response");
      return false;
    }
    *msg = p + off + 5;
    *msg_len = len;
    off += 5 + (size_t)len;
  }
  if (count == 0) {
    snprintf(err, err_size, "no message in the gRPC response");
    return false;
  }
  return true;
}

/* Reads the outcome of one exchange into out (status, message, body). */
static int grpc_read_response(int rc, const confidence_http_response *resp, cf_grpc_result *out)
{
  out->http_status = rc == 0 ? resp->status : 0;
  out->uncertain = false;
  if (rc != 0) {
    /* connection refused, reset, timed out: gRPC calls all of these
     * UNAVAILABLE, which makes them retryable */
    out->grpc_status = GRPC_UNAVAILABLE;
    out->uncertain = rc == CONFIDENCE_ETIMEDOUT;
    copy_message(out->message, sizeof out->message, resp->error, strlen(resp->error));
    return rc == CONFIDENCE_ENOMEM ? rc : CONFIDENCE_ENETWORK;
  }
  if (resp->status != 200) {
    out->grpc_status = grpc_status_from_http(resp->status);
    snprintf(out->message, sizeof out->message, "unexpected HTTP status %ld", resp->status);
    return CONFIDENCE_ENETWORK;
  }
  const char *ctype = find_header(resp, "content-type");
  if (ctype && strncasecmp(ctype, "application/grpc", 16) != 0) {
    out->grpc_status = -1;
    snprintf(out->message, sizeof out->message, "not a gRPC response (content-type %.64s)", ctype);
    return CONFIDENCE_ENETWORK;
  }
  const char *status = find_header(resp, "grpc-status");
  if (!status) {
    out->grpc_status = -1;
    snprintf(out->message, sizeof out->message, "no grpc-status in the response");
    return CONFIDENCE_ENETWORK;
  }
  out->grpc_status = parse_grpc_status(status);
  if (out->grpc_status < 0) {
    snprintf(out->message, sizeof out->message, "malformed grpc-status \"%.32s\"", status);
    return CONFIDENCE_ENETWORK;
  }
  const char *message = find_header(resp, "grpc-message");
  if (message)
    percent_decode(message, out->message, sizeof out->message);
  if (out->grpc_status != GRPC_OK)
    return CONFIDENCE_ENETWORK;

  const uint8_t *msg = NULL;
  size_t msg_len = 0;
  if (!unframe_unary(resp->body, resp->body_len, &msg, &msg_len, out->message, sizeof out->message)) {
    out->grpc_status = GRPC_INTERNAL;
    return CONFIDENCE_ENETWORK;
  }
  out->body = malloc(msg_len ? msg_len : 1);
  if (!out->body) {
    out->grpc_status = GRPC_INTERNAL;
    snprintf(out->message, sizeof out->message, "out of memory copying the gRPC response");
    return CONFIDENCE_ENOMEM;
  }
  if (msg_len)
    memcpy(out->body, msg, msg_len);
  out->len = msg_len;
  return 0;
}

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool default_sleep(uint32_t ms, void *user_data)
{
  (void)user_data;
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
  return true;
}

/* The secret in an "authorization: ClientSecret <secret>" value. */
static const char *secret_of(const char *authorization)
{
  const char *space = authorization ? strrchr(authorization, ' ') : NULL;
  return space ? space + 1 : authorization;
}

int cf_grpc_unary(const confidence_transport *t, const char *base_url, const char *method_path,
                  const char *authorization, const uint8_t *req, size_t len, uint32_t timeout_ms,
                  const cf_retry_policy *retry, cf_grpc_result *out)
{
  if (!out)
    return CONFIDENCE_EINVAL;
  memset(out, 0, sizeof *out);
  out->grpc_status = -1;
  if (!transport_ok(t) || !base_url || !method_path || (len && !req) || len > UINT32_MAX) {
    snprintf(out->message, sizeof out->message, "invalid arguments");
    return CONFIDENCE_EINVAL;
  }

  /* Zero fields take the defaults of the reference's service config. */
  int max_attempts = 1;
  double backoff = 1000, max_backoff = 10000, multiplier = 2.0;
  bool (*sleep_fn)(uint32_t, void *) = default_sleep;
  void *sleep_data = NULL;
  if (retry) {
    max_attempts = retry->max_attempts > 0 ? retry->max_attempts : 3;
    if (retry->initial_backoff_ms)
      backoff = retry->initial_backoff_ms;
    if (retry->max_backoff_ms)
      max_backoff = retry->max_backoff_ms;
    if (retry->multiplier > 0)
      multiplier = retry->multiplier;
    if (retry->sleep_ms) {
      sleep_fn = retry->sleep_ms;
      sleep_data = retry->sleep_user_data;
    }
  }

  size_t blen = strlen(base_url), plen = strlen(method_path);
  bool base_slash = blen && base_url[blen - 1] == '/', path_slash = plen && method_path[0] == '/';
  char *url = malloc(blen + plen + 2);
  uint8_t *frame = malloc(5 + len);
  if (!url || !frame) {
    free(url);
    free(frame);
    snprintf(out->message, sizeof out->message, "out of memory");
    return CONFIDENCE_ENOMEM;
  }
  snprintf(url, blen + plen + 2, "%.*s%s%s", (int)(base_slash && path_slash ? blen - 1 : blen), base_url,
           base_slash || path_slash ? "" : "/", method_path);
  frame[0] = 0; /* not compressed */
  frame[1] = (uint8_t)(len >> 24);
  frame[2] = (uint8_t)(len >> 16);
  frame[3] = (uint8_t)(len >> 8);
  frame[4] = (uint8_t)len;
  if (len)
    memcpy(frame + 5, req, len);

  confidence_http_header h[4];
  char grpc_timeout[24];
  size_t nh = 0;
  h[nh++] = (confidence_http_header){"content-type", "application/grpc"};
  h[nh++] = (confidence_http_header){"te", "trailers"};
  if (authorization && *authorization)
    h[nh++] = (confidence_http_header){"authorization", authorization};
  size_t timeout_slot = nh;
  if (timeout_ms)
    h[nh++] = (confidence_http_header){"grpc-timeout", grpc_timeout};

  confidence_http_request hreq = {0};
  hreq.method = "POST";
  hreq.url = url;
  hreq.headers = h;
  hreq.header_count = nh;
  hreq.body = frame;
  hreq.body_len = 5 + len;
  hreq.http2_prior_knowledge = strncasecmp(base_url, "http://", 7) == 0;

  /* timeout_ms bounds the whole call, retries and backoff included, as a
   * gRPC deadline does. */
  uint64_t deadline = timeout_ms ? now_ms() + timeout_ms : 0;
  int rc;
  for (int attempt = 1;; attempt++) {
    if (timeout_ms) {
      uint64_t now = now_ms();
      uint32_t left = now < deadline ? (uint32_t)(deadline - now) : 1;
      hreq.timeout_ms = left;
      /* grpc-timeout: at most 8 digits */
      if (left <= 99999999u)
        snprintf(grpc_timeout, sizeof grpc_timeout, "%um", (unsigned)left);
      else
        snprintf(grpc_timeout, sizeof grpc_timeout, "%uS", (unsigned)(left / 1000));
      h[timeout_slot].value = grpc_timeout;
    }
    confidence_http_response resp;
    out->message[0] = '\0';
    int xrc = exchange(t, &hreq, &resp);
    rc = grpc_read_response(xrc, &resp, out);
    release(t, &resp);
    /* grpc-message is the server's text: it may echo our metadata */
    cf_scrub_secret(out->message, secret_of(authorization));
    out->attempts = attempt;
    if (out->grpc_status != GRPC_UNAVAILABLE || attempt >= max_attempts || rc == CONFIDENCE_ENOMEM)
      break;
    uint32_t delay = (uint32_t)(backoff < max_backoff ? backoff : max_backoff);
    if (timeout_ms) {
      uint64_t now = now_ms();
      if (now + delay >= deadline)
        break; /* no time left for another attempt */
    }
    if (!sleep_fn(delay, sleep_data))
      break;
    backoff *= multiplier;
    if (backoff > max_backoff)
      backoff = max_backoff;
  }
  free(url);
  free(frame);
  return rc;
}

/* ---- HTTP ingest ------------------------------------------------------------ */

int cf_http_post_proto(const confidence_transport *t, const char *url, const char *content_type,
                       const char *authorization, const uint8_t *body, size_t len, uint32_t timeout_ms,
                       long *status, char err[256])
{
  char scratch[256];
  if (!err)
    err = scratch;
  err[0] = '\0';
  if (status)
    *status = 0;
  if (!transport_ok(t) || !url || (len && !body)) {
    snprintf(err, 256, "invalid arguments");
    return CONFIDENCE_EINVAL;
  }
  confidence_http_header h[2];
  size_t nh = 0;
  h[nh++] = (confidence_http_header){"content-type", content_type && *content_type ? content_type
                                                                                   : "application/x-protobuf"};
  if (authorization && *authorization)
    h[nh++] = (confidence_http_header){"authorization", authorization};
  confidence_http_request req = {0};
  req.method = "POST";
  req.url = url;
  req.headers = h;
  req.header_count = nh;
  req.body = body;
  req.body_len = len;
  req.timeout_ms = timeout_ms;

  confidence_http_response resp;
  int rc = exchange(t, &req, &resp);
  if (rc != 0) {
    snprintf(err, 256, "POST failed: %.200s", resp.error);
    rc = rc == CONFIDENCE_ENOMEM || rc == CONFIDENCE_ETIMEDOUT ? rc : CONFIDENCE_ENETWORK;
  } else {
    if (status)
      *status = resp.status;
    if (resp.status < 200 || resp.status > 299) {
      /* A short, printable excerpt of the answer helps tell a rejected
       * secret from a rejected payload. Servers echo requests in error
       * bodies: the secret is scrubbed before the excerpt is cut. */
      char window[1024], excerpt[97];
      size_t n = resp.body_len < sizeof window - 1 ? resp.body_len : sizeof window - 1;
      for (size_t i = 0; i < n; i++) {
        char c = ((const char *)resp.body)[i];
        window[i] = c >= 0x20 && c < 0x7f ? c : ' ';
      }
      window[n] = '\0';
      cf_scrub_secret(window, secret_of(authorization));
      copy_message(excerpt, sizeof excerpt, window, strlen(window));
      cf_scrub_secret(excerpt, secret_of(authorization));
      snprintf(err, 256, "server answered %ld%s%s", resp.status, excerpt[0] ? ": " : "", excerpt);
      rc = CONFIDENCE_ENETWORK;
    }
  }
  release(t, &resp);
  return rc;
}
