/* Error codes, their names, and the per-thread detail message. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_message[512];

int cf_error(int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_message, sizeof last_message, fmt, ap);
  va_end(ap);
  return code;
}

void cf_error_clear(void) { last_message[0] = '\0'; }

const char *confidence_last_error_message(void) { return last_message; }

void cf_mask_secret(const char *secret, char out[16])
{
  size_t n = secret ? strlen(secret) : 0;
  if (n <= 6)
    snprintf(out, 16, "***");
  else
    snprintf(out, 16, "%.3s...%.3s", secret, secret + n - 3);
}

const char *confidence_strerror(int code)
{
  switch (code) {
  case CONFIDENCE_OK: return "CONFIDENCE_OK";
  case CONFIDENCE_EINVAL: return "CONFIDENCE_EINVAL";
  case CONFIDENCE_ENOMEM: return "CONFIDENCE_ENOMEM";
  case CONFIDENCE_EPARSE: return "CONFIDENCE_EPARSE";
  case CONFIDENCE_EDECRYPT: return "CONFIDENCE_EDECRYPT";
  case CONFIDENCE_ESTATE: return "CONFIDENCE_ESTATE";
  case CONFIDENCE_ESECRET: return "CONFIDENCE_ESECRET";
  case CONFIDENCE_ETOOMANY: return "CONFIDENCE_ETOOMANY";
  case CONFIDENCE_ERESOLVE: return "CONFIDENCE_ERESOLVE";
  case CONFIDENCE_EIO: return "CONFIDENCE_EIO";
  case CONFIDENCE_ELIMIT: return "CONFIDENCE_ELIMIT";
  case CONFIDENCE_ETIMEDOUT: return "CONFIDENCE_ETIMEDOUT";
  case CONFIDENCE_ENETWORK: return "CONFIDENCE_ENETWORK";
  default: return "CONFIDENCE_E_UNKNOWN";
  }
}

void confidence_string_free(char *s) { free(s); }
