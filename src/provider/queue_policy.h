/* When the provider's send queues (exposures, track events) are sent
 * before the next interval. */
#ifndef CF_QUEUE_POLICY_H
#define CF_QUEUE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* When a queue holding `n` of `bound` should be sent early; never when
 * empty, so that a bound of 1 is not always half full. */
static inline bool cf_half_full(uint64_t n, uint64_t bound) { return n > 0 && n >= bound / 2; }

#endif
