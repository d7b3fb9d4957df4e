/* Decoded protobuf tree -> compiled snapshot. */
#ifndef CF_STATE_COMPILE_H
#define CF_STATE_COMPILE_H

#include "state_internal.h"

/* `pbstate` is a decoded ResolverState and `wire` the bytes it was decoded
 * from (used for change-detection fingerprints). Fills `st` (whose arena
 * receives everything); on failure returns a negative code and the caller
 * frees st. `reserved` bytes of the memory `budget` are already in use
 * (the decoded protobuf); bitsets are not inflated past the rest
 * (CONFIDENCE_ELIMIT). */
int cf_state_compile(const void *pbstate, const uint8_t *wire, size_t wire_len, const char *account_id,
                     size_t budget, size_t reserved, confidence_state *st);

#endif
