/* Decoded protobuf tree -> compiled snapshot. */
#ifndef CF_STATE_COMPILE_H
#define CF_STATE_COMPILE_H

#include "state_internal.h"

/* `pbstate` is a decoded ResolverState and `wire` the bytes it was decoded
 * from (used for change-detection fingerprints). Fills `st` (whose arena
 * receives everything); on failure returns a negative code and the caller
 * frees st. Bitsets are not inflated past `budget` arena bytes
 * (CONFIDENCE_ELIMIT). */
int cf_state_compile(const void *pbstate, const uint8_t *wire, size_t wire_len, const char *account_id,
                     size_t budget, confidence_state *st);

#endif
