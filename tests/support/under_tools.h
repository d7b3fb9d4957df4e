/* What a test run is under: sanitizer builds and valgrind. Tests that bound
 * time, rate or memory (bounds meant for uninstrumented runs), or do what a
 * tool cannot run, ask here instead of guessing on their own. */
#ifndef CONFIDENCE_TEST_UNDER_TOOLS_H
#define CONFIDENCE_TEST_UNDER_TOOLS_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ThreadSanitizer: gcc defines __SANITIZE_THREAD__, clang has the feature. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

/* AddressSanitizer, likewise. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* Any sanitizer: tests/CMakeLists.txt defines UNDER_SANITIZER for every
 * CONFIDENCE_SANITIZE build (UBSan alone included); an ASan or TSan build
 * made some other way is caught here. */
#if !defined(UNDER_SANITIZER) && (defined(UNDER_ASAN) || defined(UNDER_TSAN))
#define UNDER_SANITIZER 1
#endif

/* Valgrind (~20-50x slower): its client request where its header is
 * installed, and its preload library in LD_PRELOAD either way. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CONFIDENCE_TEST_HAVE_VALGRIND_H 1
#endif
#endif

static inline bool under_valgrind(void)
{
#ifdef CONFIDENCE_TEST_HAVE_VALGRIND_H
  if (RUNNING_ON_VALGRIND)
    return true;
#endif
  const char *preload = getenv("LD_PRELOAD");
  return preload && strstr(preload, "vgpreload");
}

#define UNDER_VALGRIND() under_valgrind()

#endif
