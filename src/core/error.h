/* Per-thread error details behind confidence_last_error_message(). */
#ifndef CF_ERROR_H
#define CF_ERROR_H

#include "confidence/common.h"

/* Records a formatted detail message for this thread and returns `code`. */
int cf_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cf_error_clear(void);

/* Masks a secret for messages: "***" up to 6 bytes, else "abc...xyz". */
void cf_mask_secret(const char *secret, char out[16]);

#endif
