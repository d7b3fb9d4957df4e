/* The growable write buffer and its protobuf wire writes (wbuf.h). */
#include "wbuf.h"

#include <string.h>

#include "confidence/common.h"
#include "util.h"
#include "wire.h"

void cf_wbuf_fail(cf_wbuf *b, int err)
{
  if (!b->err)
    b->err = err;
}

bool cf_wbuf_reserve(cf_wbuf *b, size_t add)
{
  if (b->err)
    return false;
  if (b->limit && b->n + add > b->limit) {
    cf_wbuf_fail(b, CONFIDENCE_ELIMIT);
    return false;
  }
  if (cf_vec_reserve((void **)&b->p, &b->cap, b->n + add, 1)) {
    cf_wbuf_fail(b, CONFIDENCE_ENOMEM);
    return false;
  }
  return true;
}

void cf_wbuf_rewind(cf_wbuf *b, size_t n)
{
  if (n < b->n)
    b->n = n;
  b->err = 0;
}

void cf_wbuf_put_raw(cf_wbuf *b, const void *s, size_t len)
{
  if (len && cf_wbuf_reserve(b, len)) {
    memcpy(b->p + b->n, s, len);
    b->n += len;
  }
}

void cf_wbuf_put_varint(cf_wbuf *b, uint64_t v)
{
  if (cf_wbuf_reserve(b, 10))
    b->n += cf_wire_put_varint(b->p + b->n, v);
}

void cf_wbuf_put_tag(cf_wbuf *b, uint32_t field, int wire_type)
{
  cf_wbuf_put_varint(b, (uint64_t)field << 3 | (unsigned)wire_type);
}

void cf_wbuf_put_bytes_field(cf_wbuf *b, uint32_t field, const void *s, size_t len)
{
  cf_wbuf_put_tag(b, field, CF_WT_LEN);
  cf_wbuf_put_varint(b, len);
  cf_wbuf_put_raw(b, s, len);
}

size_t cf_wbuf_begin_msg(cf_wbuf *b, uint32_t field)
{
  cf_wbuf_put_tag(b, field, CF_WT_LEN);
  cf_wbuf_put_raw(b, "", 1);
  return b->n;
}

void cf_wbuf_end_msg(cf_wbuf *b, size_t start)
{
  if (b->err)
    return;
  size_t len = b->n - start;
  uint8_t tmp[10];
  size_t vl = cf_wire_put_varint(tmp, len);
  if (vl > 1) {
    if (!cf_wbuf_reserve(b, vl - 1))
      return;
    memmove(b->p + start + vl - 1, b->p + start, len);
    b->n += vl - 1;
  }
  memcpy(b->p + start - 1, tmp, vl);
}

void cf_wbuf_put_timestamp(cf_wbuf *b, uint32_t field, int64_t time_ns)
{
  int64_t seconds = time_ns / 1000000000, nanos = time_ns % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    seconds--;
  }
  size_t ts = cf_wbuf_begin_msg(b, field);
  if (seconds) { /* proto3: zero fields are not written */
    cf_wbuf_put_tag(b, 1, CF_WT_VARINT);
    cf_wbuf_put_varint(b, (uint64_t)seconds);
  }
  if (nanos) {
    cf_wbuf_put_tag(b, 2, CF_WT_VARINT);
    cf_wbuf_put_varint(b, (uint64_t)nanos);
  }
  cf_wbuf_end_msg(b, ts);
}
