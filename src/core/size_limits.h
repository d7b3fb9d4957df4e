/* Size limits shared by the modules that take bytes from outside. */
#ifndef CF_SIZE_LIMITS_H
#define CF_SIZE_LIMITS_H

#include <stddef.h>

#include "confidence/state.h"

/* Largest state body accepted, from the CDN or from a file (real states are
 * a few MiB); transport_curl.c caps every response body at it. */
#define CF_MAX_STATE_BYTES CONFIDENCE_STATE_MAX_FILE_BYTES

#endif
