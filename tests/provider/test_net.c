/* Tests of src/net.c and the libcurl transport. Part one drives net.c with
 * a scripted fake transport (framing, trailers, retries, backoff, ETags,
 * malformed frames). Part two runs the real transport against loopback
 * servers from tests/provider/net_servers.py (grpcio over h2c, Python http.server);
 * it fails, never skips, when Python or grpcio is missing.
 *
 * Usage: test_net [python [net_servers.py]]   (env CONFIDENCE_TEST_PYTHON
 * overrides the interpreter) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <openssl/evp.h>

#include "check.h"
#include "confidence/common.h"
#include "net.h"

#ifndef CONFIDENCE_NET_SERVERS
#define CONFIDENCE_NET_SERVERS "tests/provider/net_servers.py"
#endif
#ifndef CONFIDENCE_TEST_PYTHON
#define CONFIDENCE_TEST_PYTHON "python3"
#endif
#define PIP_HINT "pip install grpcio==1.85.1"

/* ======================= part one: a scripted fake transport ======================= */

#define FAKE_MAX_HEADERS 16

typedef struct fake_reply {
  int rc; /* what exchange returns; nonzero: `error` is the reason */
  long status;
  const char *headers[FAKE_MAX_HEADERS][2]; /* headers then trailers, NULL-terminated */
  const char *body;
  size_t body_len;
  const char *error;
} fake_reply;

typedef struct fake {
  const fake_reply *replies;
  size_t n, next;
  int frees;
  /* the last request */
  char method[8];
  char url[512];
  char header_names[FAKE_MAX_HEADERS][64];
  char header_values[FAKE_MAX_HEADERS][256];
  size_t header_count;
  uint8_t body[8192];
  size_t body_len;
  uint32_t timeout_ms;
  int h2pk;
} fake;

static int fake_exchange(const confidence_http_request *req, confidence_http_response *resp, void *user_data)
{
  fake *f = user_data;
  snprintf(f->method, sizeof f->method, "%s", req->method);
  snprintf(f->url, sizeof f->url, "%s", req->url);
  f->header_count = req->header_count < FAKE_MAX_HEADERS ? req->header_count : FAKE_MAX_HEADERS;
  for (size_t i = 0; i < f->header_count; i++) {
    snprintf(f->header_names[i], sizeof f->header_names[i], "%s", req->headers[i].name);
    snprintf(f->header_values[i], sizeof f->header_values[i], "%s", req->headers[i].value);
  }
  f->body_len = req->body_len < sizeof f->body ? req->body_len : sizeof f->body;
  if (f->body_len)
    memcpy(f->body, req->body, f->body_len);
  f->timeout_ms = req->timeout_ms;
  f->h2pk = req->http2_prior_knowledge;

  if (f->next >= f->n) {
    fprintf(stderr, "fake transport: script exhausted\n");
    check_failed++;
    snprintf(resp->error, sizeof resp->error, "script exhausted");
    return CONFIDENCE_ENETWORK;
  }
  const fake_reply *r = &f->replies[f->next++];
  if (r->rc) {
    snprintf(resp->error, sizeof resp->error, "%s", r->error ? r->error : "");
    return r->rc;
  }
  resp->status = r->status;
  size_t nh = 0;
  while (nh < FAKE_MAX_HEADERS && r->headers[nh][0])
    nh++;
  resp->headers = calloc(nh ? nh : 1, sizeof *resp->headers);
  for (size_t i = 0; i < nh; i++) {
    resp->headers[i].name = strdup(r->headers[i][0]);
    resp->headers[i].value = strdup(r->headers[i][1]);
  }
  resp->header_count = nh;
  size_t blen = r->body ? (r->body_len ? r->body_len : strlen(r->body)) : 0;
  resp->body = malloc(blen ? blen : 1);
  if (blen)
    memcpy(resp->body, r->body, blen);
  resp->body_len = blen;
  return 0;
}

static void fake_free(confidence_http_response *resp, void *user_data)
{
  fake *f = user_data;
  f->frees++;
  for (size_t i = 0; i < resp->header_count; i++) {
    free((char *)resp->headers[i].name);
    free((char *)resp->headers[i].value);
  }
  free(resp->headers);
  free(resp->body);
}

static confidence_transport fake_transport(fake *f, const fake_reply *replies, size_t n)
{
  memset(f, 0, sizeof *f);
  f->replies = replies;
  f->n = n;
  confidence_transport t = {CONFIDENCE_TRANSPORT_VERSION, fake_exchange, fake_free, f};
  return t;
}

static const char *fake_header(const fake *f, const char *name)
{
  for (size_t i = 0; i < f->header_count; i++)
    if (strcmp(f->header_names[i], name) == 0)
      return f->header_values[i];
  return NULL;
}

/* Records backoff sleeps; returns false once `allow` sleeps happened. */
typedef struct sleeps {
  uint32_t ms[16];
  int n;
  int allow;
} sleeps;

static bool record_sleep(uint32_t ms, void *user_data)
{
  sleeps *s = user_data;
  if (s->n >= s->allow)
    return false;
  if (s->n < 16)
    s->ms[s->n] = ms;
  s->n++;
  return true;
}

static cf_retry_policy policy(sleeps *s)
{
  memset(s, 0, sizeof *s);
  s->allow = 100;
  cf_retry_policy p = {3, 1000, 10000, 2.0, record_sleep, s};
  return p;
}

/* gRPC response pieces */
#define GRPC_CT {"content-type", "application/grpc"}
#define FRAME_HI "\0\0\0\0\2hi"
#define OK_REPLY {0, 200, {GRPC_CT, {"grpc-status", "0"}}, FRAME_HI, 7, NULL}
#define UNAVAILABLE_REPLY {0, 200, {GRPC_CT, {"grpc-status", "14"}, {"grpc-message", "busy"}}, NULL, 0, NULL}

static const uint8_t REQ_ABC[] = {'a', 'b', 'c'};

static void test_secret_hash(void)
{
  char h[65];
  cf_net_secret_hash("test-secret", h);
  CHECK_STR(h, "9caf06bb4436cdbfa20af9121a626bc1093c4f54b31c0fa937957856135345b6");
  cf_net_secret_hash("", h);
  CHECK_STR(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_fetch(void)
{
  fake f;
  cf_fetch out;

  /* 200 with an ETag, no If-None-Match on the first request */
  fake_reply first[] = {{0, 200, {{"etag", "\"v1\""}, {"content-type", "application/octet-stream"}}, "STATE", 0, NULL}};
  confidence_transport t = fake_transport(&f, first, 1);
  CHECK(cf_net_fetch_state(&t, "https://cdn.example/abc", NULL, 30000, &out) == CF_FETCH_NEW);
  CHECK_STR(f.method, "GET");
  CHECK_STR(f.url, "https://cdn.example/abc");
  CHECK(f.header_count == 0);
  CHECK(f.timeout_ms == 30000);
  CHECK(f.body_len == 0);
  CHECK(out.status == 200);
  CHECK(out.len == 5 && out.body && memcmp(out.body, "STATE", 5) == 0);
  CHECK_STR(out.etag, "\"v1\"");
  CHECK(f.frees == 1);
  free(out.body);
  free(out.etag);

  /* 304 with If-None-Match sent */
  fake_reply nm[] = {{0, 304, {{"etag", "\"v1\""}}, NULL, 0, NULL}};
  t = fake_transport(&f, nm, 1);
  CHECK(cf_net_fetch_state(&t, "https://cdn.example/abc", "\"v1\"", 30000, &out) == CF_FETCH_NOT_MODIFIED);
  CHECK_STR(fake_header(&f, "if-none-match"), "\"v1\"");
  CHECK(out.body == NULL && out.etag == NULL && out.status == 304);

  /* an empty cached ETag sends no header; a 200 without ETag leaves etag NULL */
  fake_reply noetag[] = {{0, 200, {{NULL, NULL}}, "", 0, NULL}};
  t = fake_transport(&f, noetag, 1);
  CHECK(cf_net_fetch_state(&t, "https://cdn.example/abc", "", 30000, &out) == CF_FETCH_NEW);
  CHECK(f.header_count == 0);
  CHECK(out.etag == NULL && out.body != NULL && out.len == 0);
  free(out.body);

  /* other statuses and transport failures */
  fake_reply bad[] = {{0, 503, {{NULL, NULL}}, "busy", 0, NULL},
                      {0, 200 + 4, {{NULL, NULL}}, NULL, 0, NULL},
                      {CONFIDENCE_ENETWORK, 0, {{NULL, NULL}}, NULL, 0, "Failed to connect to cdn.example port 443"}};
  t = fake_transport(&f, bad, 3);
  CHECK(cf_net_fetch_state(&t, "https://cdn.example/abc", NULL, 30000, &out) == CF_FETCH_FAILED);
  CHECK_STR(out.error, "CDN answered 503");
  CHECK(out.status == 503 && out.body == NULL);
  CHECK(cf_net_fetch_state(&t, "https://cdn.example/abc", NULL, 30000, &out) == CF_FETCH_FAILED);
  CHECK_STR(out.error, "CDN answered 204");
  CHECK(cf_net_fetch_state(&t, "https://cdn.example/abc", NULL, 30000, &out) == CF_FETCH_FAILED);
  CHECK_STR(out.error, "CDN request failed: Failed to connect to cdn.example port 443");
  CHECK(out.status == 0);
  CHECK(f.frees == 3); /* released after failures too */

  CHECK(cf_net_fetch_state(NULL, "https://cdn.example/abc", NULL, 30000, &out) == CF_FETCH_FAILED);
}

static void test_grpc_framing(void)
{
  fake f;
  cf_grpc_result r;
  fake_reply ok[] = {OK_REPLY, OK_REPLY, OK_REPLY, OK_REPLY};
  confidence_transport t = fake_transport(&f, ok, 4);

  CHECK(cf_grpc_unary(&t, "http://127.0.0.1:50051", "/pkg.Svc/Method", "ClientSecret abc", REQ_ABC, 3, 30000,
                      NULL, &r) == 0);
  CHECK_STR(f.method, "POST");
  CHECK_STR(f.url, "http://127.0.0.1:50051/pkg.Svc/Method");
  CHECK(f.h2pk == 1);
  static const uint8_t framed[] = {0, 0, 0, 0, 3, 'a', 'b', 'c'};
  CHECK(f.body_len == sizeof framed && memcmp(f.body, framed, sizeof framed) == 0);
  CHECK_STR(fake_header(&f, "content-type"), "application/grpc");
  CHECK_STR(fake_header(&f, "te"), "trailers");
  CHECK_STR(fake_header(&f, "authorization"), "ClientSecret abc");
  const char *gt = fake_header(&f, "grpc-timeout");
  CHECK(gt && gt[strlen(gt) - 1] == 'm' && atoi(gt) > 29000 && atoi(gt) <= 30000);
  CHECK(f.timeout_ms > 29000 && f.timeout_ms <= 30000);
  CHECK(r.grpc_status == 0 && r.http_status == 200 && r.attempts == 1);
  CHECK(r.len == 2 && r.body && memcmp(r.body, "hi", 2) == 0);
  free(r.body);

  /* TLS base URL with a trailing slash; no authorization, no timeout */
  CHECK(cf_grpc_unary(&t, "https://edge.example:443/", "/pkg.Svc/M", NULL, NULL, 0, 0, NULL, &r) == 0);
  CHECK_STR(f.url, "https://edge.example:443/pkg.Svc/M");
  CHECK(f.h2pk == 0);
  CHECK(fake_header(&f, "authorization") == NULL);
  CHECK(fake_header(&f, "grpc-timeout") == NULL);
  CHECK(f.timeout_ms == 0);
  static const uint8_t empty_frame[] = {0, 0, 0, 0, 0};
  CHECK(f.body_len == 5 && memcmp(f.body, empty_frame, 5) == 0);
  free(r.body);

  /* neither side has a slash */
  CHECK(cf_grpc_unary(&t, "https://edge.example", "pkg.Svc/M", NULL, NULL, 0, 0, NULL, &r) == 0);
  CHECK_STR(f.url, "https://edge.example/pkg.Svc/M");
  free(r.body);

  /* a larger message: big-endian length */
  static uint8_t big[300];
  memset(big, 7, sizeof big);
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, big, sizeof big, 30000, NULL, &r) == 0);
  CHECK(f.body_len == 305 && f.body[0] == 0 && f.body[1] == 0 && f.body[2] == 0 && f.body[3] == 1 &&
        f.body[4] == 44 && f.body[5] == 7 && f.body[304] == 7);
  free(r.body);
  CHECK(f.frees == 4);

  CHECK(cf_grpc_unary(NULL, "http://h:1", "/s/m", NULL, NULL, 0, 0, NULL, &r) == CONFIDENCE_EINVAL);
  CHECK(cf_grpc_unary(&t, NULL, "/s/m", NULL, NULL, 0, 0, NULL, &r) == CONFIDENCE_EINVAL);
}

static void test_grpc_responses(void)
{
  fake f;
  cf_grpc_result r;
  fake_reply replies[] = {
    /* empty message (WriteFlagLogsResponse{}) with trailers */
    {0, 200, {GRPC_CT, {"grpc-status", "0"}}, "\0\0\0\0\0", 5, NULL},
    /* trailers-only error: everything in one HEADERS frame */
    {0, 200, {GRPC_CT, {"grpc-status", "5"}, {"grpc-message", "flag%20not%20found"}}, NULL, 0, NULL},
    /* percent decoding: UTF-8, an escaped '%', an invalid escape kept */
    {0, 200, {GRPC_CT, {"grpc-status", "9"}, {"grpc-message", "caf%C3%A9 100%25 %zz %4"}}, NULL, 0, NULL},
    /* a status in both headers and trailers: trailers win */
    {0, 200, {GRPC_CT, {"grpc-status", "0"}, {"grpc-status", "7"}}, NULL, 0, NULL},
    /* no grpc-status at all */
    {0, 200, {GRPC_CT}, FRAME_HI, 7, NULL},
    /* HTML from a proxy */
    {0, 200, {{"content-type", "text/html"}}, "<html>", 0, NULL},
    /* malformed grpc-status */
    {0, 200, {GRPC_CT, {"grpc-status", "1x"}}, NULL, 0, NULL},
    /* content-type with a suffix is gRPC */
    {0, 200, {{"content-type", "application/grpc+proto"}, {"grpc-status", "0"}}, FRAME_HI, 7, NULL},
    /* HTTP statuses a gRPC client maps */
    {0, 401, {{NULL, NULL}}, NULL, 0, NULL},
    {0, 403, {{NULL, NULL}}, NULL, 0, NULL},
    {0, 404, {{NULL, NULL}}, NULL, 0, NULL},
    {0, 500, {{NULL, NULL}}, NULL, 0, NULL},
    {0, 400, {{NULL, NULL}}, NULL, 0, NULL},
  };
  confidence_transport t = fake_transport(&f, replies, sizeof replies / sizeof *replies);

  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 1000, NULL, &r) == 0);
  CHECK(r.grpc_status == 0 && r.len == 0 && r.body != NULL);
  free(r.body);

  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 1000, NULL, &r) != 0);
  CHECK(r.grpc_status == 5 && r.http_status == 200 && r.attempts == 1 && r.body == NULL);
  CHECK_STR(r.message, "flag not found");

  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 1000, NULL, &r) != 0);
  CHECK(r.grpc_status == 9);
  CHECK_STR(r.message, "caf\xc3\xa9 100% %zz %4");

  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 1000, NULL, &r) != 0);
  CHECK(r.grpc_status == 7);

  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 1000, NULL, &r) != 0);
  CHECK(r.grpc_status == -1 && r.body == NULL);
  CHECK_STR(r.message, "no grpc-status in the response");

  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 1000, NULL, &r) != 0);
  CHECK(r.grpc_status == -1);
  CHECK(strstr(r.message, "text/html") != NULL);

  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 1000, NULL, &r) != 0);
  CHECK(r.grpc_status == -1);

  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 1000, NULL, &r) == 0);
  CHECK(r.len == 2);
  free(r.body);

  static const struct {
    long http;
    int grpc;
  } mapped[] = {{401, 16}, {403, 7}, {404, 12}, {500, 2}, {400, 13}};
  for (size_t i = 0; i < sizeof mapped / sizeof *mapped; i++) {
    CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 1000, NULL, &r) != 0);
    CHECK(r.http_status == mapped[i].http && r.grpc_status == mapped[i].grpc && r.attempts == 1);
  }
  CHECK(f.next == f.n);
}

static void test_grpc_malformed(void)
{
  fake f;
  cf_grpc_result r;
  static const char two[] = "\0\0\0\0\1a\0\0\0\0\1b";
  fake_reply replies[] = {
    {0, 200, {GRPC_CT, {"grpc-status", "0"}}, "\0\0\0", 3, NULL},           /* short prefix */
    {0, 200, {GRPC_CT, {"grpc-status", "0"}}, "\0\0\0\0\x10" "ab", 7, NULL}, /* length > body */
    {0, 200, {GRPC_CT, {"grpc-status", "0"}}, "\0\xff\xff\xff\xff", 5, NULL}, /* 4 GiB declared */
    {0, 200, {GRPC_CT, {"grpc-status", "0"}}, "\1\0\0\0\1x", 6, NULL},       /* compressed */
    {0, 200, {GRPC_CT, {"grpc-status", "0"}}, "\2\0\0\0\1x", 6, NULL},       /* bad flag */
    {0, 200, {GRPC_CT, {"grpc-status", "0"}}, two, sizeof two - 1, NULL},   /* two messages */
    {0, 200, {GRPC_CT, {"grpc-status", "0"}}, NULL, 0, NULL},               /* no message */
    {0, 200, {GRPC_CT, {"grpc-status", "0"}}, FRAME_HI "\0", 8, NULL},      /* trailing byte */
  };
  const char *expect[] = {"truncated", "declares 16 bytes, 2 present", "declares 4294967295", "compressed",
                          "flag 2", "more than one", "no message", "truncated"};
  confidence_transport t = fake_transport(&f, replies, sizeof replies / sizeof *replies);
  for (size_t i = 0; i < sizeof replies / sizeof *replies; i++) {
    sleeps s;
    cf_retry_policy p = policy(&s);
    CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 1000, &p, &r) == CONFIDENCE_ENETWORK);
    CHECK(r.grpc_status == 13 && r.body == NULL && r.attempts == 1 && s.n == 0);
    if (!strstr(r.message, expect[i])) {
      check_failed++;
      fprintf(stderr, "malformed frame %zu: message \"%s\" lacks \"%s\"\n", i, r.message, expect[i]);
    }
  }
}

static void test_grpc_retries(void)
{
  fake f;
  cf_grpc_result r;
  sleeps s;
  cf_retry_policy p;

  /* UNAVAILABLE twice, then OK */
  fake_reply twice[] = {UNAVAILABLE_REPLY, UNAVAILABLE_REPLY, OK_REPLY};
  confidence_transport t = fake_transport(&f, twice, 3);
  p = policy(&s);
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", "ClientSecret abc", REQ_ABC, 3, 30000, &p, &r) == 0);
  CHECK(r.attempts == 3 && r.grpc_status == 0 && r.len == 2);
  CHECK(s.n == 2 && s.ms[0] == 1000 && s.ms[1] == 2000);
  CHECK(f.frees == 3);
  /* every attempt carries the same framed request */
  CHECK(f.body_len == 8 && memcmp(f.body + 5, "abc", 3) == 0);
  free(r.body);

  /* UNAVAILABLE three times: give up after 3 attempts */
  fake_reply thrice[] = {UNAVAILABLE_REPLY, UNAVAILABLE_REPLY, UNAVAILABLE_REPLY};
  t = fake_transport(&f, thrice, 3);
  p = policy(&s);
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 30000, &p, &r) == CONFIDENCE_ENETWORK);
  CHECK(r.attempts == 3 && r.grpc_status == 14 && r.body == NULL);
  CHECK_STR(r.message, "busy");
  CHECK(s.n == 2 && s.ms[0] == 1000 && s.ms[1] == 2000);

  /* INTERNAL is not retried */
  fake_reply internal[] = {{0, 200, {GRPC_CT, {"grpc-status", "13"}}, NULL, 0, NULL}};
  t = fake_transport(&f, internal, 1);
  p = policy(&s);
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 30000, &p, &r) != 0);
  CHECK(r.attempts == 1 && r.grpc_status == 13 && s.n == 0);

  /* backoff doubles and is capped at max_backoff_ms */
  fake_reply five[] = {UNAVAILABLE_REPLY, UNAVAILABLE_REPLY, UNAVAILABLE_REPLY, UNAVAILABLE_REPLY, OK_REPLY};
  t = fake_transport(&f, five, 5);
  p = policy(&s);
  p.max_attempts = 5;
  p.max_backoff_ms = 3000;
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 30000, &p, &r) == 0);
  CHECK(r.attempts == 5);
  CHECK(s.n == 4 && s.ms[0] == 1000 && s.ms[1] == 2000 && s.ms[2] == 3000 && s.ms[3] == 3000);
  free(r.body);

  /* the default sequence 1s, 2s, 4s, 8s, 10s, 10s */
  fake_reply seven[] = {UNAVAILABLE_REPLY, UNAVAILABLE_REPLY, UNAVAILABLE_REPLY, UNAVAILABLE_REPLY,
                        UNAVAILABLE_REPLY, UNAVAILABLE_REPLY, UNAVAILABLE_REPLY};
  t = fake_transport(&f, seven, 7);
  p = policy(&s);
  p.max_attempts = 7;
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 0, &p, &r) != 0);
  CHECK(r.attempts == 7 && s.n == 6);
  CHECK(s.ms[2] == 4000 && s.ms[3] == 8000 && s.ms[4] == 10000 && s.ms[5] == 10000);

  /* zero fields mean the reference's defaults (3 attempts, 1s x2, 10s cap) */
  t = fake_transport(&f, thrice, 3);
  memset(&s, 0, sizeof s);
  s.allow = 100;
  cf_retry_policy zero = {0};
  zero.sleep_ms = record_sleep;
  zero.sleep_user_data = &s;
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 30000, &zero, &r) != 0);
  CHECK(r.attempts == 3 && s.n == 2 && s.ms[0] == 1000 && s.ms[1] == 2000);

  /* sleep returning false (shutdown) stops the retries */
  t = fake_transport(&f, thrice, 3);
  p = policy(&s);
  s.allow = 0;
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 30000, &p, &r) != 0);
  CHECK(r.attempts == 1 && r.grpc_status == 14 && s.n == 0);
  CHECK_STR(r.message, "busy");
  t = fake_transport(&f, thrice, 3);
  p = policy(&s);
  s.allow = 1;
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 30000, &p, &r) != 0);
  CHECK(r.attempts == 2 && r.grpc_status == 14 && s.n == 1);

  /* no policy: one attempt */
  t = fake_transport(&f, thrice, 3);
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 30000, NULL, &r) != 0);
  CHECK(r.attempts == 1 && r.grpc_status == 14);

  /* HTTP 503/502/504/429 map to UNAVAILABLE and are retried */
  fake_reply http[] = {{0, 503, {{"content-type", "text/plain"}}, "overloaded", 0, NULL},
                       {0, 502, {{NULL, NULL}}, NULL, 0, NULL},
                       {0, 504, {{NULL, NULL}}, NULL, 0, NULL}};
  t = fake_transport(&f, http, 3);
  p = policy(&s);
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 30000, &p, &r) != 0);
  CHECK(r.attempts == 3 && r.grpc_status == 14 && r.http_status == 504 && s.n == 2);
  CHECK_STR(r.message, "unexpected HTTP status 504");
  fake_reply http429[] = {{0, 429, {{NULL, NULL}}, NULL, 0, NULL}, OK_REPLY};
  t = fake_transport(&f, http429, 2);
  p = policy(&s);
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 30000, &p, &r) == 0);
  CHECK(r.attempts == 2);
  free(r.body);

  /* transport failures (refused, timed out) are UNAVAILABLE, retried */
  fake_reply refused[] = {{CONFIDENCE_ENETWORK, 0, {{NULL, NULL}}, NULL, 0, "Connection refused"},
                          {CONFIDENCE_ETIMEDOUT, 0, {{NULL, NULL}}, NULL, 0, "Operation timed out"},
                          OK_REPLY};
  t = fake_transport(&f, refused, 3);
  p = policy(&s);
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 30000, &p, &r) == 0);
  CHECK(r.attempts == 3 && s.n == 2);
  free(r.body);
  t = fake_transport(&f, refused, 1);
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 30000, NULL, &r) == CONFIDENCE_ENETWORK);
  CHECK(r.grpc_status == 14 && r.http_status == 0);
  CHECK_STR(r.message, "Connection refused");

  /* the deadline covers the retries: no retry that cannot fit */
  t = fake_transport(&f, thrice, 3);
  p = policy(&s);
  CHECK(cf_grpc_unary(&t, "http://h:1", "/s/m", NULL, NULL, 0, 500, &p, &r) != 0);
  CHECK(r.attempts == 1 && s.n == 0);
}

static void test_post(void)
{
  fake f;
  long status = -1;
  char err[256];
  static const uint8_t body[] = {0x0a, 0x03, 'a', 'b', 'c'};
  fake_reply replies[] = {{0, 204, {{NULL, NULL}}, NULL, 0, NULL},
                          {0, 401, {{NULL, NULL}}, "{\"error\":\"bad\nsecret\"}", 0, NULL},
                          {CONFIDENCE_ETIMEDOUT, 0, {{NULL, NULL}}, NULL, 0, "Operation timed out after 1 ms"},
                          {0, 200, {{NULL, NULL}}, NULL, 0, NULL}};
  confidence_transport t = fake_transport(&f, replies, 4);
  CHECK(cf_http_post_proto(&t, "https://ingest.example/v1/x", "application/x-protobuf", "ClientSecret supersecret",
                           body, sizeof body, 30000, &status, err) == 0);
  CHECK(status == 204);
  CHECK_STR(f.method, "POST");
  CHECK_STR(f.url, "https://ingest.example/v1/x");
  CHECK(f.h2pk == 0 && f.timeout_ms == 30000);
  CHECK_STR(fake_header(&f, "content-type"), "application/x-protobuf");
  CHECK_STR(fake_header(&f, "authorization"), "ClientSecret supersecret");
  CHECK(f.body_len == sizeof body && memcmp(f.body, body, sizeof body) == 0);

  CHECK(cf_http_post_proto(&t, "https://ingest.example/v1/x", "application/protobuf", "ClientSecret supersecret",
                           body, sizeof body, 30000, &status, err) == CONFIDENCE_ENETWORK);
  CHECK(status == 401);
  CHECK_STR(err, "server answered 401: {\"error\":\"bad secret\"}");
  CHECK(strstr(err, "supersecret") == NULL);

  CHECK(cf_http_post_proto(&t, "https://ingest.example/v1/x", "application/protobuf", "ClientSecret supersecret",
                           body, sizeof body, 30000, &status, err) == CONFIDENCE_ETIMEDOUT); /* timeouts named apart */
  CHECK(status == 0);
  CHECK_STR(err, "POST failed: Operation timed out after 1 ms");

  /* NULL out-params are allowed */
  CHECK(cf_http_post_proto(&t, "https://ingest.example/v1/x", "application/x-protobuf", NULL, NULL, 0, 30000, NULL,
                           NULL) == 0);
  CHECK(fake_header(&f, "authorization") == NULL);
  CHECK(f.frees == 4);
}

/* ======================= part two: real servers on 127.0.0.1 ======================= */

static pid_t server_pid = -1;
static int server_stdin = -1;

static void stop_servers(void)
{
  if (server_pid <= 0)
    return;
  if (server_stdin >= 0)
    close(server_stdin); /* the script exits on EOF */
  server_stdin = -1;
  kill(server_pid, SIGTERM);
  int st;
  while (waitpid(server_pid, &st, 0) < 0 && errno == EINTR)
    ;
  server_pid = -1;
}

/* Starts tests/provider/net_servers.py; fills the ports or returns false with why. */
static bool start_servers(const char *python, const char *script, int *grpc_port, int *http_port, char *why,
                          size_t why_size)
{
  int out[2], in[2];
  if (pipe(out) != 0 || pipe(in) != 0) {
    snprintf(why, why_size, "pipe: %s", strerror(errno));
    return false;
  }
  pid_t parent = getpid();
  fflush(stdout); /* or the child could flush our buffered output into the pipe */
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(why, why_size, "fork: %s", strerror(errno));
    return false;
  }
  if (pid == 0) {
#ifdef __linux__
    /* dies with the test, even when the test crashes */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(1);
#endif
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    setenv("GRPC_VERBOSITY", "ERROR", 0);
    execlp(python, python, "-u", script, (char *)NULL);
    dprintf(1, "ERROR cannot run %s: %s\n", python, strerror(errno));
    _exit(127);
  }
  (void)parent;
  close(in[0]);
  close(out[1]);
  server_pid = pid;
  server_stdin = in[1];

  char line[256];
  size_t n = 0;
  struct pollfd pfd = {out[0], POLLIN, 0};
  bool ok = false;
  for (;;) {
    int pr = poll(&pfd, 1, 30000);
    if (pr <= 0) {
      snprintf(why, why_size, "%s did not report READY within 30 s", script);
      break;
    }
    ssize_t got = read(out[0], line + n, sizeof line - 1 - n);
    if (got <= 0) {
      line[n] = '\0';
      snprintf(why, why_size, "%s exited before READY%s%s", script, n ? ": " : "", line);
      break;
    }
    n += (size_t)got;
    line[n] = '\0';
    char *nl = strchr(line, '\n');
    if (nl) {
      *nl = '\0';
      ok = sscanf(line, "READY %d %d", grpc_port, http_port) == 2;
      if (!ok)
        snprintf(why, why_size, "%s", line);
      break;
    }
    if (n == sizeof line - 1) {
      snprintf(why, why_size, "unexpected output: %s", line);
      break;
    }
  }
  close(out[0]);
  if (!ok)
    stop_servers();
  return ok;
}

/* A port on 127.0.0.1 where nothing listens (bound, then released). */
static int free_port(void)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (s >= 0)
    close(s);
  return port;
}

/* A socket on 127.0.0.1 that completes TCP handshakes but never answers. */
static int silent_listener(int *port)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 8) != 0 ||
      getsockname(s, (struct sockaddr *)&a, &len) != 0) {
    if (s >= 0)
      close(s);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return s;
}

static double mono_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool fast_sleep(uint32_t ms, void *user_data)
{
  sleeps *s = user_data;
  if (s->n < 16)
    s->ms[s->n] = ms;
  s->n++;
  struct timespec ts = {0, 20 * 1000000L}; /* a real pause, shorter than asked */
  nanosleep(&ts, NULL);
  return true;
}

static const char *resp_header(const confidence_http_response *r, const char *name, int nth)
{
  for (size_t i = 0; i < r->header_count; i++)
    if (strcmp(r->headers[i].name, name) == 0 && nth-- == 0)
      return r->headers[i].value;
  return NULL;
}

typedef struct worker {
  char base[64];
  int ok;
} worker;

static void *worker_main(void *arg)
{
  worker *w = arg;
  const confidence_transport *t = confidence_transport_curl();
  for (int i = 0; i < 20; i++) {
    char msg[32];
    int n = snprintf(msg, sizeof msg, "msg-%d", i);
    cf_grpc_result r;
    if (cf_grpc_unary(t, w->base, "/test.Echo/Unary", "ClientSecret s3cr3t", (const uint8_t *)msg, (size_t)n,
                      10000, NULL, &r) == 0 &&
        r.len > (size_t)n && memcmp(r.body + r.len - (size_t)n, msg, (size_t)n) == 0)
      w->ok++;
    free(r.body);
  }
  return NULL;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
  for (unsigned i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void test_grpc_integration(int grpc_port)
{
  const confidence_transport *t = confidence_transport_curl();
  char base[64];
  snprintf(base, sizeof base, "http://127.0.0.1:%d", grpc_port);
  cf_grpc_result r;
  sleeps s;
  cf_retry_policy p;

  /* h2c prior knowledge, metadata and deadline arrive, body echoes */
  CHECK(cf_grpc_unary(t, base, "/test.Echo/Unary", "ClientSecret s3cr3t", (const uint8_t *)"hello", 5, 10000, NULL,
                      &r) == 0);
  CHECK(r.grpc_status == 0 && r.http_status == 200 && r.attempts == 1);
  const char *want = "auth=ClientSecret s3cr3t;deadline=yes;body=hello";
  CHECK(r.body && r.len == strlen(want) && memcmp(r.body, want, r.len) == 0);
  if (r.grpc_status != 0)
    fprintf(stderr, "gRPC Unary: status %d, http %ld: %s\n", r.grpc_status, r.http_status, r.message);
  free(r.body);

  /* empty request, and a 2 MiB response over many DATA frames */
  CHECK(cf_grpc_unary(t, base, "/test.Echo/Big", NULL, NULL, 0, 10000, NULL, &r) == 0);
  CHECK(r.len == 0 && r.body != NULL);
  free(r.body);
  CHECK(cf_grpc_unary(t, base, "/test.Echo/Big", NULL, (const uint8_t *)"2097152", 7, 10000, NULL, &r) == 0);
  CHECK(r.len == 2097152);
  bool pattern = r.body != NULL;
  for (size_t i = 0; pattern && i < r.len; i++)
    pattern = r.body[i] == (uint8_t)(i & 0xFF);
  CHECK(pattern);
  free(r.body);

  /* a large request (spans many DATA frames and flow-control windows) */
  size_t big_len = 1 << 20;
  uint8_t *big = malloc(big_len);
  memset(big, 'q', big_len);
  CHECK(cf_grpc_unary(t, base, "/test.Echo/Unary", NULL, big, big_len, 10000, NULL, &r) == 0);
  CHECK(r.len == big_len + strlen("auth=;deadline=yes;body="));
  free(r.body);
  free(big);

  /* status and percent-encoded message from trailers */
  CHECK(cf_grpc_unary(t, base, "/test.Echo/Fail", NULL, NULL, 0, 10000, NULL, &r) != 0);
  CHECK(r.grpc_status == 9 && r.http_status == 200);
  CHECK_STR(r.message, "caf\xc3\xa9 100% \n done");

  /* unknown method: grpcio answers trailers-only UNIMPLEMENTED at once,
   * often before our request body is out, which libcurl 7.88 can lose
   * (the transport asks up to three times; losing all is reported) */
  int unimplemented = 0, lost = 0;
  for (int i = 0; i < 10; i++) {
    CHECK(cf_grpc_unary(t, base, "/test.Echo/Nope", NULL, (const uint8_t *)"x", 1, 10000, NULL, &r) != 0);
    if (r.grpc_status == 12)
      unimplemented++;
    else if (r.grpc_status == 14 && strstr(r.message, "before reading the request body"))
      lost++;
    else
      fprintf(stderr, "gRPC Nope: status %d, http %ld: %s\n", r.grpc_status, r.http_status, r.message);
  }
  CHECK(unimplemented + lost == 10 && unimplemented >= 5);

  /* UNAVAILABLE twice, then OK */
  char key[64];
  int klen = snprintf(key, sizeof key, "k%ld:2", (long)getpid());
  p = policy(&s);
  p.sleep_ms = fast_sleep;
  CHECK(cf_grpc_unary(t, base, "/test.Echo/Flaky", NULL, (const uint8_t *)key, (size_t)klen, 10000, &p, &r) == 0);
  CHECK(r.attempts == 3 && s.n == 2 && s.ms[0] == 1000 && s.ms[1] == 2000);
  CHECK(r.len == 9 && r.body && memcmp(r.body, "attempt=3", 9) == 0);
  free(r.body);

  /* always UNAVAILABLE */
  klen = snprintf(key, sizeof key, "k%ld-always:99", (long)getpid());
  p = policy(&s);
  p.sleep_ms = fast_sleep;
  CHECK(cf_grpc_unary(t, base, "/test.Echo/Flaky", NULL, (const uint8_t *)key, (size_t)klen, 10000, &p, &r) != 0);
  CHECK(r.attempts == 3 && r.grpc_status == 14);
  CHECK_STR(r.message, "try again (3)");

  /* connection refused: UNAVAILABLE with the transport's reason, retried */
  char refused[64];
  snprintf(refused, sizeof refused, "http://127.0.0.1:%d", free_port());
  p = policy(&s);
  p.sleep_ms = fast_sleep;
  CHECK(cf_grpc_unary(t, refused, "/test.Echo/Unary", "ClientSecret s3cr3t", NULL, 0, 10000, &p, &r) != 0);
  CHECK(r.attempts == 3 && r.grpc_status == 14 && r.http_status == 0 && r.message[0]);
  CHECK(strstr(r.message, "s3cr3t") == NULL);

  /* a peer that never answers: the deadline ends the call, no retry fits */
  int port = 0, silent = silent_listener(&port);
  CHECK(silent >= 0);
  char silent_url[64];
  snprintf(silent_url, sizeof silent_url, "http://127.0.0.1:%d", port);
  p = policy(&s);
  double t0 = mono_s();
  CHECK(cf_grpc_unary(t, silent_url, "/test.Echo/Unary", NULL, NULL, 0, 400, &p, &r) != 0);
  double took = mono_s() - t0;
  CHECK(r.grpc_status == 14 && r.attempts == 1 && s.n == 0);
  CHECK(took >= 0.35 && took < 2.0);
  if (silent >= 0)
    close(silent);

  /* the server enforces our grpc-timeout (or curl gives up first) */
  t0 = mono_s();
  CHECK(cf_grpc_unary(t, base, "/test.Echo/Slow", NULL, NULL, 0, 500, NULL, &r) != 0);
  took = mono_s() - t0;
  CHECK(r.grpc_status == 4 || r.grpc_status == 14);
  CHECK(took < 2.0);

  /* two threads at once through the same static transport */
  worker w[2];
  pthread_t th[2];
  for (int i = 0; i < 2; i++) {
    memset(&w[i], 0, sizeof w[i]);
    snprintf(w[i].base, sizeof w[i].base, "%s", base);
    pthread_create(&th[i], NULL, worker_main, &w[i]);
  }
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  CHECK(w[0].ok == 20 && w[1].ok == 20);
}

static void test_http_integration(int http_port)
{
  const confidence_transport *t = confidence_transport_curl();
  char url[256];
  cf_fetch f;

  /* CDN: 200 + ETag, then 304 for the same ETag, 200 for a stale one */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/state/abc?v=v1", http_port);
  CHECK(cf_net_fetch_state(t, url, NULL, 10000, &f) == CF_FETCH_NEW);
  CHECK(f.status == 200 && f.len == 12 && memcmp(f.body, "STATE-v1-abc", 12) == 0);
  CHECK_STR(f.etag, "\"v1\"");
  free(f.body);
  free(f.etag);
  CHECK(cf_net_fetch_state(t, url, "\"v1\"", 10000, &f) == CF_FETCH_NOT_MODIFIED);
  CHECK(f.status == 304 && f.body == NULL);
  CHECK(cf_net_fetch_state(t, url, "\"v0\"", 10000, &f) == CF_FETCH_NEW);
  CHECK_STR(f.etag, "\"v1\"");
  free(f.body);
  free(f.etag);

  snprintf(url, sizeof url, "http://127.0.0.1:%d/noetag", http_port);
  CHECK(cf_net_fetch_state(t, url, NULL, 10000, &f) == CF_FETCH_NEW);
  CHECK(f.etag == NULL && f.len == 1);
  free(f.body);

  snprintf(url, sizeof url, "http://127.0.0.1:%d/status/503", http_port);
  CHECK(cf_net_fetch_state(t, url, NULL, 10000, &f) == CF_FETCH_FAILED);
  CHECK_STR(f.error, "CDN answered 503");

  snprintf(url, sizeof url, "http://127.0.0.1:%d/state/x", free_port());
  CHECK(cf_net_fetch_state(t, url, NULL, 10000, &f) == CF_FETCH_FAILED);
  CHECK(strncmp(f.error, "CDN request failed: ", 20) == 0 && f.status == 0);

  /* a 5 MiB body, with and without Content-Length */
  for (int cl = 0; cl <= 1; cl++) {
    snprintf(url, sizeof url, "http://127.0.0.1:%d/big?size=5242880&cl=%d", http_port, cl);
    CHECK(cf_net_fetch_state(t, url, NULL, 10000, &f) == CF_FETCH_NEW);
    CHECK(f.len == 5242880 && f.body[0] == 0x5a && f.body[f.len - 1] == 0x5a);
    free(f.body);
    free(f.etag);
  }

  /* the 64 MiB cap, announced (Content-Length) and discovered (streamed) */
  for (int cl = 0; cl <= 1; cl++) {
    snprintf(url, sizeof url, "http://127.0.0.1:%d/big?size=%d&cl=%d", http_port, (64 << 20) + 1, cl);
    CHECK(cf_net_fetch_state(t, url, NULL, 20000, &f) == CF_FETCH_FAILED);
    CHECK(strstr(f.error, "exceeds 64 MiB") != NULL);
  }

  /* a 1 MiB response header: named as such, not as "out of memory" */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/hugeheader", http_port);
  CHECK(cf_net_fetch_state(t, url, NULL, 10000, &f) == CF_FETCH_FAILED);
  CHECK(strstr(f.error, "header") != NULL && strstr(f.error, "too large") != NULL);
  CHECK(strstr(f.error, "Out of memory") == NULL);

  /* the raw transport: lowercase names, trimmed values, duplicates kept */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/headers", http_port);
  confidence_http_request req = {0};
  req.method = "GET";
  req.url = url;
  req.timeout_ms = 10000;
  confidence_http_response resp;
  CHECK(t->exchange(&req, &resp, t->user_data) == 0);
  CHECK(resp.status == 200 && resp.body_len == 2 && memcmp(resp.body, "ok", 2) == 0);
  CHECK_STR(resp_header(&resp, "x-mixed-case", 0), "Value");
  CHECK_STR(resp_header(&resp, "x-dup", 0), "1");
  CHECK_STR(resp_header(&resp, "x-dup", 1), "2");
  CHECK_STR(resp_header(&resp, "x-empty", 0), "");
  CHECK_STR(resp_header(&resp, "content-length", 0), "2");
  t->free_response(&resp, t->user_data);

  /* the transport refuses header injection and unknown methods */
  confidence_http_header evil = {"x-evil", "a\r\nInjected: 1"};
  req.headers = &evil;
  req.header_count = 1;
  CHECK(t->exchange(&req, &resp, t->user_data) == CONFIDENCE_EINVAL);
  t->free_response(&resp, t->user_data);
  req.headers = NULL;
  req.header_count = 0;
  req.method = "DELETE";
  CHECK(t->exchange(&req, &resp, t->user_data) == CONFIDENCE_EINVAL);
  t->free_response(&resp, t->user_data);
  req.method = "GET";
  req.url = "ftp://127.0.0.1/x";
  CHECK(t->exchange(&req, &resp, t->user_data) == CONFIDENCE_EINVAL && resp.status == 0 && resp.error[0]);
  t->free_response(&resp, t->user_data);

  /* ingest POST: the server checks body, content type and authorization */
  static uint8_t body[3000]; /* above curl's 1 KiB Expect: 100-continue threshold */
  for (size_t i = 0; i < sizeof body; i++)
    body[i] = (uint8_t)(i * 31);
  char sha[65], err[256];
  long status = 0;
  sha256_hex(body, sizeof body, sha);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ingest?sha256=%s", http_port, sha);
  CHECK(cf_http_post_proto(t, url, "application/x-protobuf", "ClientSecret s3cr3t", body, sizeof body, 10000, &status,
                           err) == 0);
  CHECK(status == 204);
  if (status != 204)
    fprintf(stderr, "POST: %s\n", err);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ingest?ct=application/protobuf&sha256=%s", http_port, sha);
  CHECK(cf_http_post_proto(t, url, "application/protobuf", "ClientSecret s3cr3t", body, sizeof body, 10000, &status,
                           err) == 0);
  sha256_hex("", 0, sha);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ingest?sha256=%s", http_port, sha);
  CHECK(cf_http_post_proto(t, url, "application/x-protobuf", "ClientSecret s3cr3t", NULL, 0, 10000, &status, err) ==
        0);
  CHECK(cf_http_post_proto(t, url, "application/x-protobuf", "ClientSecret wrong", NULL, 0, 10000, &status, err) ==
        CONFIDENCE_ENETWORK);
  CHECK(status == 401);
  CHECK_STR(err, "server answered 401: {\"error\":\"bad secret\"}");
}

static void run_integration(const char *python, const char *script)
{
  int grpc_port = 0, http_port = 0;
  char why[512];
  if (!start_servers(python, script, &grpc_port, &http_port, why, sizeof why)) {
    check_failed++;
    fprintf(stderr,
            "INTEGRATION TESTS FAILED TO START: %s\n"
            "  they need Python 3 with grpcio (%s) as %s; set CONFIDENCE_TEST_PYTHON to choose the interpreter\n",
            why, PIP_HINT, python);
    return;
  }
  test_grpc_integration(grpc_port);
  test_http_integration(http_port);
  stop_servers();
}

static void on_fatal(int sig)
{
  /* the script also exits on EOF and with the parent, but be prompt */
  if (server_pid > 0)
    kill(server_pid, SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

int main(int argc, char **argv)
{
  /* the loopback tests must not go through a proxy from the environment */
  static const char *proxies[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
  for (size_t i = 0; i < sizeof proxies / sizeof *proxies; i++)
    unsetenv(proxies[i]);
  const char *python = getenv("CONFIDENCE_TEST_PYTHON");
  if (!python || !*python)
    python = argc > 1 ? argv[1] : CONFIDENCE_TEST_PYTHON;
  const char *script = argc > 2 ? argv[2] : CONFIDENCE_NET_SERVERS;
  atexit(stop_servers);
  signal(SIGSEGV, on_fatal);
  signal(SIGABRT, on_fatal);
  signal(SIGINT, on_fatal);
  signal(SIGTERM, on_fatal);

  test_secret_hash();
  test_fetch();
  test_grpc_framing();
  test_grpc_responses();
  test_grpc_malformed();
  test_grpc_retries();
  test_post();
  run_integration(python, script);
  return check_finish();
}
