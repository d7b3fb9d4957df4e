/* Strict gzip decoding (segment bitsets arrive gzipped), as the reference accepts it. */
#ifndef CF_GZIP_H
#define CF_GZIP_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* Largest inflated bitset accepted (real ones are 125,000 bytes). */
#define CF_MAX_BITSET_BYTES ((size_t)64 << 20)

/* One gzip member with a bare 10-byte header; CRC32 and size verified.
 * Output goes to the arena. Returns 0 or CONFIDENCE_ESTATE with a message. */
int cf_gunzip_strict(const uint8_t *in, size_t len, cf_arena *a, uint8_t **out, size_t *out_len);

#endif
