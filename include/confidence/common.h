/* Export macro, error codes and per-thread error details shared by every
 * libconfidence header. */
#ifndef CONFIDENCE_COMMON_H
#define CONFIDENCE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(CONFIDENCE_BUILDING_SHARED)
#define CONFIDENCE_API __declspec(dllexport)
#elif defined(_WIN32) && !defined(CONFIDENCE_STATIC)
#define CONFIDENCE_API __declspec(dllimport)
#elif defined(__GNUC__)
#define CONFIDENCE_API __attribute__((visibility("default")))
#else
#define CONFIDENCE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Fallible calls return 0 on success or one of these negative codes. */
typedef enum confidence_return_code {
  CONFIDENCE_OK = 0,
  CONFIDENCE_EINVAL = -1,    /* an argument is missing or out of range */
  CONFIDENCE_ENOMEM = -2,    /* an allocation failed */
  CONFIDENCE_EPARSE = -3,    /* malformed protobuf or JSON input */
  CONFIDENCE_EDECRYPT = -4,  /* encrypted state: bad key or failed authentication */
  CONFIDENCE_ESTATE = -5,    /* decodable state that the resolver must reject */
  CONFIDENCE_ESECRET = -6,   /* the client secret is not in the state */
  CONFIDENCE_ETOOMANY = -7,  /* more than 1000 flags in one resolve */
  CONFIDENCE_ERESOLVE = -8,  /* the whole resolve failed (reference "internal error") */
  CONFIDENCE_EIO = -9,       /* a file could not be read */
  CONFIDENCE_ELIMIT = -10,   /* a limit was exceeded: nesting depth, size, memory budget */
  CONFIDENCE_ETIMEDOUT = -11, /* the wait ended before the operation completed */
  CONFIDENCE_ENETWORK = -12  /* a network exchange failed (see the log for details) */
} confidence_return_code;

/* Static name of an error code, e.g. "CONFIDENCE_EPARSE". Never NULL. */
CONFIDENCE_API const char *confidence_strerror(int code);

/* Detail message of the last failed call made on this thread (borrowed,
 * valid until the next libconfidence call on this thread; "" if none).
 * Secrets are masked in it. */
CONFIDENCE_API const char *confidence_last_error_message(void);

/* Frees a string the library returned as "owned". NULL is a no-op. */
CONFIDENCE_API void confidence_string_free(char *s);

#ifdef __cplusplus
}
#endif
#endif
