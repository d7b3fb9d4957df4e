/* Compile-time and run-time library version. */
#ifndef CONFIDENCE_VERSION_H
#define CONFIDENCE_VERSION_H

#include "common.h"

#define CONFIDENCE_VERSION_MAJOR 0
#define CONFIDENCE_VERSION_MINOR 1
#define CONFIDENCE_VERSION_PATCH 0
#define CONFIDENCE_VERSION_STRING "0.1.0"
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
