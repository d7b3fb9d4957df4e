/* The compiler shared by the files that turn a decoded ResolverState into
 * the snapshot: state_compile.c (entry point, flags, values), targeting_compile.c
 * (segments), bitset_compile.c (bitsets, bloom filters), client_compile.c. */
#ifndef CF_COMPILE_INTERNAL_H
#define CF_COMPILE_INTERNAL_H

#include "error.h"
#include "proto/confidence/flags/admin/v1/resolver.pb-c.h"
#include "state_internal.h"

typedef Confidence__Flags__Admin__V1__ResolverState PbState;
typedef Confidence__Flags__Admin__V1__Flag PbFlag;
typedef Confidence__Flags__Types__V1__FlagSchema PbSchema;

typedef struct cf_compiler {
  confidence_state *st;
  cf_arena *a;
  cf_strmap segments; /* name -> cf_segment* */
  cf_strmap bitsets;  /* segment name -> cf_bitset_entry* */
  cf_strmap blooms;   /* materialized segment -> cf_bloom* */
  size_t budget;      /* memory budget of the load ... */
  size_t reserved;    /* ... of which the decoded protobuf takes this much */
  int err;
} cf_compiler;

/* An inflated segment bitset, until the segment of that name takes it. */
typedef struct cf_bitset_entry {
  uint8_t *bits;
  uint64_t n_bits;
  bool all_ones;
  uint64_t fingerprint;
} cf_bitset_entry;

static inline void *cf_compile_oom(cf_compiler *c)
{
  c->err = cf_error(CONFIDENCE_ENOMEM, "out of memory compiling state");
  return NULL;
}

static inline bool cf_compile_fail_oom(cf_compiler *c)
{
  cf_compile_oom(c);
  return false;
}

/* state_compile.c: `s` copied into the arena (NULL as ""). */
cf_str cf_compile_intern(cf_compiler *c, const char *s);
/* Splits on every `sep`; empty pieces are kept (they are literal keys). */
const cf_str *cf_compile_split_path(cf_compiler *c, const char *s, char sep, uint32_t *n_out);
/* A variant or managed-context value; a struct gets its schema's missing
 * fields as null. NULL (and c->err set) on failure. */
confidence_value *cf_compile_value(cf_compiler *c, const Google__Protobuf__Value *pb, const PbSchema *schema);

/* bitset_compile.c: fill c->bitsets and c->blooms, within the memory budget. */
bool cf_compile_bitsets(cf_compiler *c, const PbState *pb);
bool cf_compile_blooms(cf_compiler *c, const PbState *pb);

/* targeting_compile.c: fills c->segments (later duplicates win); hashes[i]
 * is the wire hash of pb->segments_no_bitsets[i] (n_hashes of them). */
bool cf_compile_segments(cf_compiler *c, const PbState *pb, const uint64_t *hashes, size_t n_hashes);

/* client_compile.c: clients (enabled flags, managed context) and the secret
 * map; flag_pb[i] is the definition flags[i] was compiled from. */
bool cf_compile_clients(cf_compiler *c, const PbState *pb, cf_flag *flags, const PbFlag **flag_pb, uint32_t n_flags);

#endif
