/* Apply dedup (RESOLVER_SPEC §4.6): the flag log sends an applied flag's
 * exposure once per window. Keys of the exposures seen within the window,
 * with the second each was first seen; used under the flag log's lock. */
#ifndef CF_APPLY_DEDUP_H
#define CF_APPLY_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

#include "flag_log.h"

/* Open addressing, key 0 = empty; expired keys leave only at a sweep,
 * which rebuilds the table. Zero-initialised = empty (allocated on use). */
typedef struct cf_dedup_table {
  uint64_t *keys;
  uint32_t *seen;
  size_t cap, n;
  int64_t last_sweep;
} cf_dedup_table;

/* True when the same exposure (an applied flag) was kept within the
 * window; else remembers it (the spec's rule: a full table keeps every
 * newcomer without remembering it). */
bool cf_dedup_seen(cf_dedup_table *t, const cf_exposure *e);
/* Removes keys at least a window old (at most every few seconds);
 * `now` in wall-clock seconds. */
void cf_dedup_sweep(cf_dedup_table *t, int64_t now);
void cf_dedup_free(cf_dedup_table *t);

#endif
