/* The provider's one growable write buffer, with the protobuf wire writes
 * built on it: track events, PublishEvents requests, flag-log batches and
 * the metrics text are all written through it. */
#ifndef CF_WBUF_H
#define CF_WBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer; `err` holds the first failure (CONFIDENCE_E*):
 * later writes are ignored. `limit` 0: no size limit. */
typedef struct cf_wbuf {
  uint8_t *p;
  size_t n, cap, limit;
  int err;
} cf_wbuf;

/* Records a failure (the first one is kept). */
void cf_wbuf_fail(cf_wbuf *b, int err);
/* Room for `add` more bytes; false (failure recorded) past the limit or
 * out of memory, or when a write already failed. */
bool cf_wbuf_reserve(cf_wbuf *b, size_t add);
/* Drops what was written after the first `n` bytes and forgets a failure
 * since: a message that did not fit leaves the buffer as it was before. */
void cf_wbuf_rewind(cf_wbuf *b, size_t n);

void cf_wbuf_put_raw(cf_wbuf *b, const void *s, size_t len);

/* Protobuf wire format. */
enum { CF_WT_VARINT = 0, CF_WT_FIXED64 = 1, CF_WT_LEN = 2 };
void cf_wbuf_put_varint(cf_wbuf *b, uint64_t v);
void cf_wbuf_put_tag(cf_wbuf *b, uint32_t field, int wire_type);
void cf_wbuf_put_bytes_field(cf_wbuf *b, uint32_t field, const void *s, size_t len);
/* A nested message as field `field`: begin returns where its content
 * starts, end writes its length (one byte is reserved, widened when the
 * content needs a longer varint, so the wire stays canonical). */
size_t cf_wbuf_begin_msg(cf_wbuf *b, uint32_t field);
void cf_wbuf_end_msg(cf_wbuf *b, size_t start);
/* Appends google.protobuf.Timestamp{seconds, nanos} as field `field`. */
void cf_wbuf_put_timestamp(cf_wbuf *b, uint32_t field, int64_t time_ns);

#endif
