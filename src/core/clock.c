/* Time sources and deadline arithmetic (see clock.h). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep */
#include "clock.h"

#include <errno.h>
#include <stdatomic.h>

static _Atomic(cf_clock_source) test_source;

static int64_t ns_of(clockid_t clock)
{
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cf_clock_ms(void)
{
  cf_clock_source src = atomic_load_explicit(&test_source, memory_order_relaxed);
  return src ? src() : ns_of(CLOCK_MONOTONIC) / 1000000;
}

int64_t cf_clock_mono_ns(void) { return ns_of(CLOCK_MONOTONIC); }

int64_t cf_clock_wall_ns(void) { return ns_of(CLOCK_REALTIME_COARSE); }

void cf_clock_set_source(cf_clock_source source) { atomic_store(&test_source, source); }

int64_t cf_deadline_in(uint32_t ms) { return cf_clock_ms() + ms; }

int64_t cf_deadline_left_ms(int64_t deadline)
{
  if (deadline == CF_NO_DEADLINE)
    return INT64_MAX;
  int64_t left = deadline - cf_clock_ms();
  return left > 0 ? left : 0;
}

uint32_t cf_deadline_timeout_ms(int64_t deadline, uint32_t cap)
{
  int64_t left = cf_deadline_left_ms(deadline);
  if (left >= cap)
    return cap;
  return left > 0 ? (uint32_t)left : 1;
}

struct timespec cf_deadline_abstime(int64_t deadline, cf_clock_kind clock)
{
  /* Through "time left" so that a replaced test source still maps onto the
   * real clock pthread waits on. Far deadlines are capped at a day. */
  int64_t left = cf_deadline_left_ms(deadline);
  if (left > 86400000)
    left = 86400000;
  int64_t ns = ns_of(clock == CF_CLOCK_REALTIME ? CLOCK_REALTIME : CLOCK_MONOTONIC) + left * 1000000;
  return (struct timespec){(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
}

void cf_sleep_us(uint32_t us)
{
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

void cf_sleep_ms(uint32_t ms)
{
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}
