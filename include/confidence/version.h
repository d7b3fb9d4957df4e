/* Compile-time and run-time library version.
 *
 * The three numbers below are the project's one version: CMake
 * (project(VERSION), confidence.pc) and pyproject.toml (the Python package's
 * metadata, through scikit-build-core's regex provider) read them from this
 * file, and confidence.__version__ is confidence_version(). A release changes
 * them here and nowhere else; ctest test_version checks that all agree. */
#ifndef CONFIDENCE_VERSION_H
#define CONFIDENCE_VERSION_H

#include "common.h"

#define CONFIDENCE_VERSION_MAJOR 0
#define CONFIDENCE_VERSION_MINOR 1
#define CONFIDENCE_VERSION_PATCH 0
/* Internal: the decimal text of a number macro. */
#define CONFIDENCE_VERSION_TEXT_(n) #n
#define CONFIDENCE_VERSION_TEXT(n) CONFIDENCE_VERSION_TEXT_(n)
/* "MAJOR.MINOR.PATCH" as a string literal, made from the numbers above. */
#define CONFIDENCE_VERSION_STRING               \
  CONFIDENCE_VERSION_TEXT(CONFIDENCE_VERSION_MAJOR) "." \
  CONFIDENCE_VERSION_TEXT(CONFIDENCE_VERSION_MINOR) "." \
  CONFIDENCE_VERSION_TEXT(CONFIDENCE_VERSION_PATCH)
/* MAJOR*10000 + MINOR*100 + PATCH */
#define CONFIDENCE_VERSION_NUMBER \
  (CONFIDENCE_VERSION_MAJOR * 10000 + CONFIDENCE_VERSION_MINOR * 100 + CONFIDENCE_VERSION_PATCH)
/* True when the headers are at least version MAJOR.MINOR.PATCH. */
#define CONFIDENCE_VERSION_CHECK(major, minor, patch) \
  (CONFIDENCE_VERSION_NUMBER >= ((major) * 10000 + (minor) * 100 + (patch)))

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the linked library, e.g. "0.1.0" (static string). */
CONFIDENCE_API const char *confidence_version(void);

#ifdef __cplusplus
}
#endif
#endif
