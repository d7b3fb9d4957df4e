/* How this library names itself to Confidence: the Sdk message of flag
 * logs, telemetry and track events (custom id + library version). */
#ifndef CF_SDK_ID_H
#define CF_SDK_ID_H

#include "confidence/version.h"

#define CF_SDK_CUSTOM_ID "libconfidence-c"
#define CF_SDK_VERSION CONFIDENCE_VERSION_STRING

#endif
