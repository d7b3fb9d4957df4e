/* Protobuf wire-format varints, for the few places that read or write the
 * wire directly (nesting checks, fingerprints, batch assembly). */
#ifndef CF_WIRE_H
#define CF_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads a varint at p[*i], advancing *i; false when truncated or too long. */
static inline bool cf_wire_read_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *out)
{
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *i < len; shift += 7) {
    uint8_t b = p[(*i)++];
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

/* Writes v as a varint (at most 10 bytes); returns the bytes written. */
static inline size_t cf_wire_put_varint(uint8_t *out, uint64_t v)
{
  size_t n = 0;
  do {
    out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return n;
}

/* Largest tag + length header of a length-delimited field. */
#define CF_WIRE_MAX_LEN_HEADER 15

/* Writes the tag (wire type 2) and length of a length-delimited field;
 * returns the bytes written (at most CF_WIRE_MAX_LEN_HEADER). */
static inline size_t cf_wire_put_len_header(uint8_t *out, uint32_t field, uint64_t len)
{
  size_t n = cf_wire_put_varint(out, (uint64_t)field << 3 | 2);
  return n + cf_wire_put_varint(out + n, len);
}

#endif
