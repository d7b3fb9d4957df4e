/* MurmurHash3 x64-128 (seed 0), the hash behind every bucket and bloom
 * filter in Confidence. */
#ifndef CF_MURMUR3_H
#define CF_MURMUR3_H

#include <stddef.h>
#include <stdint.h>

void cf_murmur3_128(const void *data, size_t len, uint64_t *h1, uint64_t *h2);

/* Only the low word is used for buckets, shifted before the modulo. */
static inline uint64_t cf_bucket(uint64_t h1, uint64_t n) { return (h1 >> 4) % n; }

#endif
