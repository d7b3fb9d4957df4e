/* The one clock of the library: monotonic milliseconds for intervals and
 * deadlines (replaceable in tests), wall-clock nanoseconds for event times,
 * and the conversion of a deadline into the absolute time pthread waits
 * take. A deadline is a cf_clock_ms() value; CF_NO_DEADLINE never passes. */
#ifndef CF_CLOCK_H
#define CF_CLOCK_H

#include <stdint.h>
#include <time.h>

#define CF_NO_DEADLINE INT64_MAX

/* Milliseconds on the monotonic clock (or the test source). */
int64_t cf_clock_ms(void);
/* Monotonic nanoseconds, for latency measurements (never replaced). */
int64_t cf_clock_mono_ns(void);
/* Wall-clock nanoseconds since the Unix epoch (coarse: event times). */
int64_t cf_clock_wall_ns(void);

/* Replaces the millisecond source (tests); NULL restores the real clock. */
typedef int64_t (*cf_clock_source)(void);
void cf_clock_set_source(cf_clock_source source);

/* now + ms. */
int64_t cf_deadline_in(uint32_t ms);
/* Milliseconds until the deadline, 0 once it passed, INT64_MAX for none. */
int64_t cf_deadline_left_ms(int64_t deadline);
/* Milliseconds until the deadline, capped at `cap` (at least 1 if not
 * passed, so it can serve as a timeout). */
uint32_t cf_deadline_timeout_ms(int64_t deadline, uint32_t cap);
/* The deadline as an absolute time on the monotonic clock (condition
 * variables set up that way) or the real-time clock (timed joins). */
typedef enum cf_clock_kind { CF_CLOCK_MONOTONIC, CF_CLOCK_REALTIME } cf_clock_kind;
struct timespec cf_deadline_abstime(int64_t deadline, cf_clock_kind clock);
/* Sleeps for `ms` milliseconds / `us` microseconds (EINTR resumes). */
void cf_sleep_ms(uint32_t ms);
void cf_sleep_us(uint32_t us);

#endif
