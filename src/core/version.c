/* The run-time library version. */
#include "confidence/version.h"

const char *confidence_version(void) { return CONFIDENCE_VERSION_STRING; }
