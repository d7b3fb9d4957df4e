/* libconfidence: Confidence feature flags resolved locally, in C.
 * Umbrella header. */
#ifndef CONFIDENCE_H
#define CONFIDENCE_H

#include "common.h"
#include "version.h"
#include "value.h"
#include "state.h"
#include "resolve.h"
#include "provider.h"
#include "tracking.h"
#include "metrics.h"
#include "all_flags.h"
#include "store.h" /* materialization stores */

#endif
