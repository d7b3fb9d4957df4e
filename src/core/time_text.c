/* Timestamp text with chrono's exact semantics: RFC 3339, the naive
 * strftime-style formats targeting accepts, and epoch numbers, over chrono's
 * calendar range and leap-second representation. */
#include "textconv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- calendar ----------------------------------------------------------- */

/* chrono's NaiveDate spans years -262144 ..= 262143. */
#define MIN_YEAR (-262144)
#define MAX_YEAR 262143

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int64_t y, int m)
{
  static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Days since 1970-01-01 (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int64_t min_epoch_secs(void) { return days_from_civil(MIN_YEAR, 1, 1) * 86400; }
static int64_t max_epoch_secs(void) { return days_from_civil(MAX_YEAR, 12, 31) * 86400 + 86399; }

typedef struct {
  int64_t year;
  int month, day, hour, minute, second;
  int32_t nanos;
} civil;

/* Validates the fields and converts to a UTC instant minus `offset_secs`. */
static bool civil_to_time(const civil *c, int64_t offset_secs, cf_time *out)
{
  if (c->year < MIN_YEAR || c->year > MAX_YEAR)
    return false;
  if (c->month < 1 || c->month > 12 || c->day < 1 || c->day > days_in_month(c->year, c->month))
    return false;
  if (c->hour > 23 || c->minute > 59 || c->second > 60)
    return false;
  int sec = c->second;
  int32_t nanos = c->nanos;
  if (sec == 60) { /* chrono keeps a leap second as :59 + 1e9 ns */
    sec = 59;
    nanos += 1000000000;
  }
  int64_t t = days_from_civil(c->year, c->month, c->day) * 86400 + c->hour * 3600 + c->minute * 60 +
              sec - offset_secs;
  if (t < min_epoch_secs() || t > max_epoch_secs())
    return false;
  out->secs = t;
  out->nanos = nanos;
  return true;
}

/* ---- chrono strftime-style naive parser --------------------------------- */

typedef struct {
  const char *s;
  size_t len, i;
} cursor;

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static void skip_ws(cursor *c)
{
  while (c->i < c->len && is_ws(c->s[c->i]))
    c->i++;
}

/* Between min_d and max_d digits; numeric fields may be preceded by spaces. */
static bool scan_num(cursor *c, size_t min_d, size_t max_d, int64_t *out)
{
  skip_ws(c);
  size_t n = 0;
  int64_t v = 0;
  while (c->i < c->len && n < max_d && cf_is_digit(c->s[c->i])) {
    if (v > (INT64_MAX - 9) / 10)
      return false;
    v = v * 10 + (c->s[c->i] - '0');
    c->i++;
    n++;
  }
  if (n < min_d)
    return false;
  *out = v;
  return true;
}

static bool scan_year(cursor *c, int64_t *out)
{
  skip_ws(c);
  if (c->i < c->len && (c->s[c->i] == '+' || c->s[c->i] == '-')) {
    bool neg = c->s[c->i] == '-';
    c->i++;
    int64_t v;
    if (!scan_num(c, 1, SIZE_MAX, &v))
      return false;
    *out = neg ? -v : v;
    return true;
  }
  return scan_num(c, 1, 4, out);
}

static bool scan_lit(cursor *c, char ch)
{
  if (c->i < c->len && c->s[c->i] == ch) {
    c->i++;
    return true;
  }
  return false;
}

static bool scan_small(cursor *c, int *out)
{
  int64_t v;
  if (!scan_num(c, 1, 2, &v))
    return false;
  *out = (int)v;
  return true;
}

static bool scan_date(cursor *c, civil *cv)
{
  return scan_year(c, &cv->year) && scan_lit(c, '-') && scan_small(c, &cv->month) && scan_lit(c, '-') &&
         scan_small(c, &cv->day);
}

/* `%.f`: nothing, or '.' then 1..9 digits used and any further digits skipped. */
static bool scan_frac(cursor *c, int32_t *nanos)
{
  *nanos = 0;
  if (!scan_lit(c, '.'))
    return true;
  size_t n = 0;
  int32_t v = 0;
  while (c->i < c->len && cf_is_digit(c->s[c->i])) {
    if (n < 9)
      v = v * 10 + (c->s[c->i] - '0');
    n++;
    c->i++;
  }
  if (n == 0)
    return false;
  for (size_t k = n; k < 9; k++)
    v *= 10;
  *nanos = v;
  return true;
}

/* Parses `%Y-%m-%d<sep>%H:%M:%S[%.f]`; sep 'T' is literal, ' ' skips spaces. */
static bool parse_naive_dt(const char *s, size_t len, char sep, bool frac, cf_time *out)
{
  cursor c = {s, len, 0};
  civil cv = {0};
  if (!scan_date(&c, &cv))
    return false;
  if (sep == ' ')
    skip_ws(&c);
  else if (!scan_lit(&c, sep))
    return false;
  if (!scan_small(&c, &cv.hour) || !scan_lit(&c, ':') || !scan_small(&c, &cv.minute) || !scan_lit(&c, ':') ||
      !scan_small(&c, &cv.second))
    return false;
  if (frac && !scan_frac(&c, &cv.nanos))
    return false;
  return c.i == len && civil_to_time(&cv, 0, out);
}

bool cf_parse_naive_date(const char *s, size_t len, cf_time *out)
{
  cursor c = {s, len, 0};
  civil cv = {0};
  return scan_date(&c, &cv) && c.i == len && civil_to_time(&cv, 0, out);
}

bool cf_parse_naive_datetime_t(const char *s, size_t len, cf_time *out)
{
  return parse_naive_dt(s, len, 'T', false, out) || parse_naive_dt(s, len, 'T', true, out);
}

/* ---- RFC 3339 ----------------------------------------------------------- */

static bool fixed_digits(const char *s, size_t n, int *out)
{
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!cf_is_digit(s[i]))
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool cf_parse_rfc3339(const char *s, size_t len, cf_time *out)
{
  civil cv = {0};
  int y;
  if (len < 20 || !fixed_digits(s, 4, &y) || s[4] != '-' || !fixed_digits(s + 5, 2, &cv.month) || s[7] != '-' ||
      !fixed_digits(s + 8, 2, &cv.day))
    return false;
  cv.year = y;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
    return false;
  if (!fixed_digits(s + 11, 2, &cv.hour) || s[13] != ':' || !fixed_digits(s + 14, 2, &cv.minute) ||
      s[16] != ':' || !fixed_digits(s + 17, 2, &cv.second))
    return false;
  cursor c = {s, len, 19};
  if (c.i < len && s[c.i] == '.') {
    if (c.i + 1 >= len || !cf_is_digit(s[c.i + 1]))
      return false;
    if (!scan_frac(&c, &cv.nanos))
      return false;
  }
  int64_t offset = 0;
  if (c.i < len && (s[c.i] == 'Z' || s[c.i] == 'z')) {
    c.i++;
  } else {
    int sign;
    if (c.i < len && s[c.i] == '+') {
      sign = 1;
      c.i++;
    } else if (c.i < len && s[c.i] == '-') {
      sign = -1;
      c.i++;
    } else if (c.i + 3 <= len && memcmp(s + c.i, "\xE2\x88\x92", 3) == 0) { /* U+2212 */
      sign = -1;
      c.i += 3;
    } else {
      return false;
    }
    int oh, om;
    if (c.i + 5 > len || !fixed_digits(s + c.i, 2, &oh) || s[c.i + 2] != ':' || !fixed_digits(s + c.i + 3, 2, &om))
      return false;
    if (oh > 23 || om > 59)
      return false;
    c.i += 5;
    offset = sign * (oh * 3600 + om * 60);
  }
  return c.i == len && civil_to_time(&cv, offset, out);
}

/* ---- targeting timestamp coercions -------------------------------------- */

bool cf_parse_timestamp(const char *s, size_t len, cf_time *out)
{
  size_t sep = 0;
  while (sep < len && s[sep] != 'T' && s[sep] != ' ')
    sep++;
  if (sep == len)
    return cf_parse_naive_date(s, len, out);
  size_t end = sep + 1;
  while (end < len && s[end] != 'T' && s[end] != ' ')
    end++;
  for (size_t i = sep + 1; i < end; i++)
    if (s[i] == 'Z' || s[i] == '+' || s[i] == '-')
      return cf_parse_rfc3339(s, len, out);
  return parse_naive_dt(s, len, 'T', false, out) || parse_naive_dt(s, len, 'T', true, out) ||
         parse_naive_dt(s, len, ' ', false, out) || parse_naive_dt(s, len, ' ', true, out);
}

bool cf_epoch_to_time(double x, cf_time *out)
{
  if (!isfinite(x))
    return false;
  int64_t n; /* Rust `as i64` truncates and saturates */
  if (x >= 9223372036854775808.0)
    n = INT64_MAX;
  else if (x <= -9223372036854775808.0)
    n = INT64_MIN;
  else
    n = (int64_t)x;
  if (n == INT64_MIN)
    return false;
  int64_t secs;
  int32_t nanos = 0;
  if (llabs(n) >= 1000000000000LL) {
    secs = n / 1000;
    int64_t rem = n % 1000;
    if (rem < 0) {
      rem += 1000;
      secs -= 1;
    }
    nanos = (int32_t)(rem * 1000000);
  } else {
    secs = n;
  }
  if (secs < min_epoch_secs() || secs > max_epoch_secs())
    return false;
  out->secs = secs;
  out->nanos = nanos;
  return true;
}
