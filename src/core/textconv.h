/* Text <-> number/time/version conversions with the exact semantics of the
 * reference resolver (Rust f64 Display and FromStr, chrono timestamp parsing,
 * Confidence's semantic-version ordering). Locale-independent. One header
 * for three files: number_text.c, time_text.c and version_text.c. */
#ifndef CF_TEXTCONV_H
#define CF_TEXTCONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ASCII only: isdigit() follows the locale. */
static inline bool cf_is_digit(char c) { return c >= '0' && c <= '9'; }

/* ---- number_text.c -------------------------------------------------------- */

/* Enough for any double in positional notation ("-0.000...5e-324"). */
#define CF_NUMBUF 400

/* Rust `f64` Display: shortest round-trip digits, positional, "-0", "NaN",
 * "inf", "-inf". Returns the length written (NUL-terminated). */
size_t cf_fmt_f64(double x, char buf[CF_NUMBUF]);

/* Rust `f64::from_str`; false when the grammar rejects `s`. */
bool cf_parse_f64(const char *s, size_t len, double *out);

/* "true" -> true, "false" -> false, otherwise s == "TRUE". */
bool cf_parse_bool(const char *s, size_t len);

/* ---- time_text.c ---------------------------------------------------------- */

/* A UTC instant as chrono exposes it: nanos may exceed 1e9 for a leap second. */
typedef struct cf_time {
  int64_t secs;
  int32_t nanos;
} cf_time;

/* Targeting string -> timestamp (RFC 3339 or the naive formats); false = "null". */
bool cf_parse_timestamp(const char *s, size_t len, cf_time *out);
/* Targeting number -> timestamp (seconds, or milliseconds from 1e12 on). */
bool cf_epoch_to_time(double x, cf_time *out);
/* Whole input is a naive `%Y-%m-%d` date (used by schema guessing too). */
bool cf_parse_naive_date(const char *s, size_t len, cf_time *out);
/* `%Y-%m-%dT%H:%M:%S` with optional `%.f`. */
bool cf_parse_naive_datetime_t(const char *s, size_t len, cf_time *out);
bool cf_parse_rfc3339(const char *s, size_t len, cf_time *out);

/* ---- version_text.c ------------------------------------------------------- */

/* Version tuple for range comparisons; invalid text gives 0.0.0.0. */
void cf_parse_version(const char *s, size_t len, uint64_t out[4]);

#endif
