/* Minimal test harness: CHECK records a failure with its location and keeps
 * going; check_finish prints the closing "N passed, M failed" line and
 * returns the process exit status. */
#ifndef CONFIDENCE_TEST_CHECK_H
#define CONFIDENCE_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (cond) {                                                              \
      check_passed++;                                                        \
    } else {                                                                 \
      check_failed++;                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                        \
  } while (0)

#define CHECK_STR(a, b)                                                                          \
  do {                                                                                           \
    const char *check_a_ = (a), *check_b_ = (b);                                                 \
    if (check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0) {                               \
      check_passed++;                                                                            \
    } else {                                                                                     \
      check_failed++;                                                                            \
      fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\" (%s)\n", __FILE__, __LINE__,           \
              check_b_ ? check_b_ : "(null)", check_a_ ? check_a_ : "(null)", #a);               \
    }                                                                                            \
  } while (0)

static inline int check_finish(void)
{
  printf("%d passed, %d failed\n", check_passed, check_failed);
  return check_failed ? 1 : 0;
}

#endif
