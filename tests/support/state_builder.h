/* Test states written byte by byte (field numbers from RESOLVER_SPEC 1.4),
 * independent of the library's decoder: a minimal protobuf writer, a client
 * with secret "s", one flag, and as many gzipped bitsets as a test wants
 * (the memory-budget and state-loading tests). Header-only; every function
 * is static, and those not every test calls are marked unused. */
#ifndef CONFIDENCE_TEST_STATE_BUILDER_H
#define CONFIDENCE_TEST_STATE_BUILDER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct sb_buf {
  uint8_t *p;
  size_t len, cap;
} sb_buf;

static void sb_raw(sb_buf *b, const void *data, size_t n)
{
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
      cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
      abort();
    b->p = p;
    b->cap = cap;
  }
  if (n)
    memcpy(b->p + b->len, data, n);
  b->len += n;
}

static void sb_varint(sb_buf *b, uint64_t v)
{
  uint8_t tmp[10];
  size_t n = 0;
  do {
    tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  sb_raw(b, tmp, n);
}

static void sb_uint(sb_buf *b, unsigned field, uint64_t v)
{
  sb_varint(b, (uint64_t)field << 3);
  sb_varint(b, v);
}

static void sb_bytes(sb_buf *b, unsigned field, const void *data, size_t n)
{
  sb_varint(b, (uint64_t)field << 3 | 2);
  sb_varint(b, n);
  sb_raw(b, data, n);
}

static void sb_str(sb_buf *b, unsigned field, const char *s) { sb_bytes(b, field, s, strlen(s)); }

/* Appends `sub` as a length-delimited field and frees it. */
static void sb_msg(sb_buf *b, unsigned field, sb_buf *sub)
{
  sb_bytes(b, field, sub->p, sub->len);
  free(sub->p);
  memset(sub, 0, sizeof *sub);
}

/* Client clients/c with secret "s" (credential clients/c/credentials/k). */
static void sb_client(sb_buf *state)
{
  sb_buf c = {0}, cred = {0}, secret = {0};
  sb_str(&c, 1, "clients/c");
  sb_msg(state, 6, &c);
  sb_str(&cred, 1, "clients/c/credentials/k");
  sb_str(&secret, 1, "s");
  sb_msg(&cred, 3, &secret);
  sb_msg(state, 7, &cred);
}

/* flags/f for clients/c: variant flags/f/variants/v = {}, one rule on
 * `segment`, blank selector, full bucket range. */
static void sb_flag(sb_buf *state, const char *segment)
{
  sb_buf f = {0}, var = {0}, val = {0}, rule = {0}, spec = {0}, as = {0}, va = {0}, br = {0};
  sb_str(&f, 1, "flags/f");
  sb_str(&var, 1, "flags/f/variants/v");
  sb_msg(&var, 2, &val); /* an empty, present Struct */
  sb_msg(&f, 3, &var);
  sb_uint(&f, 4, 1); /* ACTIVE */
  sb_str(&rule, 1, "flags/f/rules/r");
  sb_str(&rule, 2, segment);
  sb_uint(&rule, 11, 1);
  sb_uint(&spec, 1, 1000);
  sb_str(&as, 1, "a");
  sb_str(&va, 1, "flags/f/variants/v");
  sb_msg(&as, 2, &va);
  sb_uint(&br, 2, 1000);
  sb_msg(&as, 5, &br);
  sb_msg(&spec, 2, &as);
  sb_msg(&rule, 12, &spec);
  sb_msg(&f, 5, &rule);
  sb_str(&f, 12, "clients/c");
  sb_msg(state, 1, &f);
}

/* The client, and flags/f on segments/all (a segment with no targeting). */
static void sb_client_and_flag(sb_buf *state)
{
  sb_client(state);
  sb_flag(state, "segments/all");
  sb_buf seg = {0};
  sb_str(&seg, 1, "segments/all");
  sb_msg(state, 2, &seg);
}

/* A gzipped bitset for segment `name`. */
static void sb_bitset(sb_buf *state, const char *name, const uint8_t *gz, size_t gz_len)
{
  sb_buf b = {0};
  sb_str(&b, 1, name);
  sb_bytes(&b, 2, gz, gz_len);
  sb_msg(state, 5, &b);
}

/* gzip (bare header) of `n` zero bytes, streamed so the zeros are never
 * held in memory. */
static uint8_t *sb_gzip_zeros(size_t n, size_t *out_len)
{
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    abort();
  static const uint8_t zeros[1 << 16];
  sb_buf out = {0};
  uint8_t chunk[1 << 16];
  size_t left = n;
  int rc;
  do {
    size_t take = left < sizeof zeros ? left : sizeof zeros;
    left -= take;
    zs.next_in = (Bytef *)zeros;
    zs.avail_in = (uInt)take;
    do {
      zs.next_out = chunk;
      zs.avail_out = sizeof chunk;
      rc = deflate(&zs, left ? Z_NO_FLUSH : Z_FINISH);
      sb_raw(&out, chunk, sizeof chunk - zs.avail_out);
    } while (zs.avail_out == 0);
  } while (left);
  if (rc != Z_STREAM_END)
    abort();
  deflateEnd(&zs);
  *out_len = out.len;
  return out.p;
}

/* A ResolverState (client, flag, and `count` bitsets of `each` zero bytes
 * inflated); owned, free() it. */
static __attribute__((unused)) uint8_t *sb_state_with_bitsets(size_t count, size_t each, size_t *len)
{
  size_t gz_len = 0;
  uint8_t *gz = sb_gzip_zeros(each, &gz_len);
  sb_buf s = {0};
  sb_client_and_flag(&s);
  for (size_t i = 0; i < count; i++) {
    char name[32];
    snprintf(name, sizeof name, "segments/b%zu", i);
    sb_bitset(&s, name, gz, gz_len);
  }
  free(gz);
  *len = s.len;
  return s.p;
}

#endif
