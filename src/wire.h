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

#endif
