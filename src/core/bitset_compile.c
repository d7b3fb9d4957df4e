/* Loads the per-segment allocation bitsets (gzipped, inflated here within
 * the state memory budget) and the materialized-segment bloom filters into
 * the compiler, for the segments and criteria that refer to them. */
#include <stdio.h>
#include <string.h>

#include "compile_internal.h"
#include "gzip.h"
#include "murmur3.h"

/* Oneof cases carry the field numbers of their members. */
enum { BITSET_GZIPPED = 2, BITSET_FULL = 3 };
enum { BLOOM_MURMUR128_MITZ_64 = 1 };

/* Inflated size a gzipped bitset declares in its trailer (ISIZE).
 * Inflating never yields more: a longer stream fails the size check. 0 for
 * a member cf_gunzip_strict rejects anyway (too short, over the per-bitset
 * cap), so that it reports the corruption, not the budget. */
static size_t bitset_isize(const ProtobufCBinaryData *gz)
{
  if (gz->len < 18)
    return 0;
  const uint8_t *t = gz->data + gz->len - 4;
  size_t n = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
  return n <= CF_MAX_BITSET_BYTES ? n : 0;
}

static bool over_budget(cf_compiler *c, size_t more, const char *what)
{
  size_t used = c->a->total + c->reserved;
  if (used <= c->budget && more <= c->budget - used)
    return false;
  c->err = cf_error(CONFIDENCE_ELIMIT,
                    "%s would take %zu more bytes on top of %zu, over the state memory budget of %zu bytes "
                    "(confidence_state_options.memory_budget_bytes)",
                    what, more, used, c->budget);
  return true;
}

bool cf_compile_bitsets(cf_compiler *c, const PbState *pb)
{
  if (!cf_strmap_init(&c->bitsets, c->a, pb->n_bitsets))
    return cf_compile_fail_oom(c);
  /* All trailers first, so an over-budget state is refused before anything
   * is inflated; the running check below covers what compiling adds. */
  size_t declared = 0;
  for (size_t i = 0; i < pb->n_bitsets; i++) {
    size_t n = (int)pb->bitsets[i]->bitset_case == BITSET_GZIPPED ? bitset_isize(&pb->bitsets[i]->gzipped_bitset) : 0;
    declared = declared > SIZE_MAX - n ? SIZE_MAX : declared + n;
  }
  if (over_budget(c, declared, "the inflated segment bitsets"))
    return false;
  for (size_t i = 0; i < pb->n_bitsets; i++) {
    const Confidence__Flags__Admin__V1__ResolverState__PackedBitset *pbs = pb->bitsets[i];
    const char *seg = pbs->segment ? pbs->segment : "";
    if ((int)pbs->bitset_case == BITSET_FULL) {
      if (!pbs->full_bitset) {
        c->err = cf_error(CONFIDENCE_ESTATE, "bitset of segment '%s' has full_bitset=false", seg);
        return false;
      }
      continue; /* no entry: everyone is allocated */
    }
    if ((int)pbs->bitset_case != BITSET_GZIPPED)
      continue;
    cf_bitset_entry *e = cf_arena_alloc(c->a, sizeof *e);
    if (!e)
      return cf_compile_fail_oom(c);
    size_t n_bytes;
    if (over_budget(c, bitset_isize(&pbs->gzipped_bitset), "inflating the segment bitsets"))
      return false;
    int rc = cf_gunzip_strict(pbs->gzipped_bitset.data, pbs->gzipped_bitset.len, &c->st->arena, &e->bits, &n_bytes);
    if (rc) {
      char detail[512]; /* cf_error writes the buffer the detail lives in */
      snprintf(detail, sizeof detail, "%s", confidence_last_error_message());
      c->err = cf_error(rc, "bitset of segment '%s': %s", seg, detail);
      return false;
    }
    e->n_bits = (uint64_t)n_bytes * 8;
    /* The gzip trailer (CRC-32 and size) already identifies the content. */
    const uint8_t *trailer = pbs->gzipped_bitset.data + pbs->gzipped_bitset.len - 8;
    uint64_t unused;
    cf_murmur3_128(trailer, 8, &e->fingerprint, &unused);
    e->all_ones = true;
    for (size_t k = 0; k < n_bytes && e->all_ones; k++)
      e->all_ones = e->bits[k] == 0xff;
    cf_str key = cf_compile_intern(c, seg);
    if (c->err)
      return false;
    cf_strmap_put(&c->bitsets, key, e);
  }
  return true;
}

bool cf_compile_blooms(cf_compiler *c, const PbState *pb)
{
  if (!cf_strmap_init(&c->blooms, c->a, pb->n_bloom_filters))
    return cf_compile_fail_oom(c);
  for (size_t i = 0; i < pb->n_bloom_filters; i++) {
    const Confidence__Flags__Admin__V1__ResolverState__BloomFilter *bf = pb->bloom_filters[i];
    if (bf->strategy != BLOOM_MURMUR128_MITZ_64)
      continue;
    /* Guava keeps numHashFunctions in a byte (1..255); more would make every
     * membership test loop up to 2^32 times. */
    if (bf->hash_function_count < 1 || bf->hash_function_count > 255) {
      c->err = cf_error(CONFIDENCE_ESTATE, "bloom filter '%s' has %d hash functions (1..255 allowed)",
                        bf->materialized_segment ? bf->materialized_segment : "", (int)bf->hash_function_count);
      return false;
    }
    if (over_budget(c, bf->data.len + sizeof(cf_bloom), "the bloom filters"))
      return false;
    cf_bloom *b = cf_arena_alloc(c->a, sizeof *b);
    uint8_t *bits = cf_arena_alloc(c->a, bf->data.len + 1);
    if (!b || !bits)
      return cf_compile_fail_oom(c);
    /* Guava writes its long[] big-endian: reverse each whole 8-byte chunk. */
    size_t n = bf->data.len, whole = n - n % 8;
    for (size_t k = 0; k < whole; k += 8)
      for (size_t j = 0; j < 8; j++)
        bits[k + j] = bf->data.data[k + 7 - j];
    if (n > whole)
      memcpy(bits + whole, bf->data.data + whole, n - whole);
    b->name = cf_compile_intern(c, bf->materialized_segment);
    b->bits = bits;
    b->n_bytes = n;
    b->num_bits = (uint64_t)bf->bit_count;
    b->k = (uint32_t)bf->hash_function_count;
    if (c->err)
      return false;
    cf_strmap_put(&c->blooms, b->name, b);
  }
  return true;
}
