/* Number, timestamp and version text conversions. The reference resolver is
 * written in Rust; its coercions follow Rust's float grammar and chrono's
 * parsers, which differ from C's strtod/strptime in many small ways, so each
 * rule is implemented here explicitly. */
#define _GNU_SOURCE
#include "textconv.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- locale-independent strtod ------------------------------------------ */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void init_c_locale(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

static double strtod_c(const char *s, char **end)
{
  pthread_once(&c_locale_once, init_c_locale);
  if (c_locale)
    return strtod_l(s, end, c_locale);
  return strtod(s, end);
}

/* ---- Rust f64 Display --------------------------------------------------- */

/* Splits "%.*e" output into digits and a decimal exponent; the separator
 * may be locale-specific, so anything but digits before the 'e' is skipped. */
static int split_sci(const char *tmp, char digits[24], int *exp10)
{
  int n = 0;
  const char *p = tmp;
  while (*p && *p != 'e' && *p != 'E') {
    if (*p >= '0' && *p <= '9' && n < 23)
      digits[n++] = *p;
    p++;
  }
  *exp10 = (*p) ? atoi(p + 1) : 0;
  digits[n] = '\0';
  return n;
}

/* Parses digits d (n of them) with exponent e back to a double. */
static double digits_value(const char *d, int n, int e)
{
  char tmp[48];
  snprintf(tmp, sizeof tmp, "%.1s.%.*se%d", d, n - 1, d + 1, e);
  return strtod_c(tmp, NULL);
}

/* Adds delta (+1 or -1) to the last of n digits; false on overflow/underflow
 * of the leading digit (the neighbour then has another length). */
static bool step_digits(char *d, int n, int delta)
{
  for (int i = n - 1; i >= 0; i--) {
    int v = d[i] - '0' + delta;
    if (v >= 0 && v <= 9) {
      d[i] = (char)('0' + v);
      return i > 0 || v > 0;
    }
    d[i] = delta > 0 ? '0' : '9';
  }
  return false;
}

/* printf rounds an exact tie to even; Rust's shortest formatting rounds it
 * up. When x lies exactly halfway and the candidate was rounded down, take
 * the next digit string if it still reads back as x. */
static void round_half_up(double x, char *digits, int n, int e)
{
  char exact[800];
  /* Cheap look at 41 digits first; only a possible tie needs them all. */
  snprintf(exact, sizeof exact, "%.40e", x);
  if (n >= 40 || (exact[n + (n > 0)] != '5'))
    return;
  snprintf(exact, sizeof exact, "%.770e", x);
  char all[800];
  int e_exact;
  int total = 0;
  for (const char *p = exact; *p && *p != 'e' && *p != 'E'; p++)
    if (*p >= '0' && *p <= '9')
      all[total++] = *p;
  sscanf(strpbrk(exact, "eE") + 1, "%d", &e_exact);
  if (e_exact != e || total <= n || all[n] != '5' || memcmp(all, digits, (size_t)n) != 0)
    return;
  for (int i = n + 1; i < total; i++)
    if (all[i] != '0')
      return;
  char up[24];
  memcpy(up, digits, (size_t)n + 1);
  if (step_digits(up, n, 1) && digits_value(up, n, e) == x)
    memcpy(digits, up, (size_t)n + 1);
}

/* Shortest digit string that round-trips to x (Grisu/Ryu "shortest"): for
 * each length the correctly rounded candidate, else its neighbours (which
 * win when x sits on a power-of-two boundary), preferring the closest. */
static int shortest_digits(double x, char digits[24], int *exp10)
{
  char tmp[48];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, x);
    int n = split_sci(tmp, digits, exp10);
    if (digits_value(digits, n, *exp10) == x) {
      round_half_up(x, digits, n, *exp10);
      break;
    }
    if (prec == 17)
      break;
    char up[24], down[24];
    memcpy(up, digits, (size_t)n + 1);
    memcpy(down, digits, (size_t)n + 1);
    bool up_ok = step_digits(up, n, 1) && digits_value(up, n, *exp10) == x;
    bool down_ok = step_digits(down, n, -1) && digits_value(down, n, *exp10) == x;
    if (up_ok && down_ok) { /* both round-trip: the one nearer the exact value */
      snprintf(tmp, sizeof tmp, "%.1s.%.*se%d", up, n - 1, up + 1, *exp10);
      long double du = strtold(tmp, NULL) - (long double)x;
      snprintf(tmp, sizeof tmp, "%.1s.%.*se%d", down, n - 1, down + 1, *exp10);
      long double dd = (long double)x - strtold(tmp, NULL);
      up_ok = du < dd;
      down_ok = !up_ok;
    }
    if (up_ok || down_ok) {
      memcpy(digits, up_ok ? up : down, (size_t)n + 1);
      break;
    }
  }
  int n = (int)strlen(digits);
  while (n > 1 && digits[n - 1] == '0')
    n--;
  digits[n] = '\0';
  return n;
}

size_t cf_fmt_f64(double x, char buf[CF_NUMBUF])
{
  if (isnan(x))
    return (size_t)snprintf(buf, CF_NUMBUF, "NaN");
  if (isinf(x))
    return (size_t)snprintf(buf, CF_NUMBUF, x < 0 ? "-inf" : "inf");
  size_t o = 0;
  if (signbit(x)) {
    buf[o++] = '-';
    x = -x;
  }
  if (x == 0) {
    buf[o++] = '0';
    buf[o] = '\0';
    return o;
  }
  char d[24];
  int e;
  int n = shortest_digits(x, d, &e);
  if (e >= n - 1) { /* integral: digits then zeros */
    memcpy(buf + o, d, (size_t)n);
    o += (size_t)n;
    for (int i = 0; i < e - (n - 1); i++)
      buf[o++] = '0';
  } else if (e >= 0) { /* point inside the digits */
    memcpy(buf + o, d, (size_t)e + 1);
    o += (size_t)e + 1;
    buf[o++] = '.';
    memcpy(buf + o, d + e + 1, (size_t)(n - e - 1));
    o += (size_t)(n - e - 1);
  } else { /* 0.000ddd */
    buf[o++] = '0';
    buf[o++] = '.';
    for (int i = 0; i < -e - 1; i++)
      buf[o++] = '0';
    memcpy(buf + o, d, (size_t)n);
    o += (size_t)n;
  }
  buf[o] = '\0';
  return o;
}

/* ---- Rust f64 FromStr --------------------------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool ieq(const char *s, size_t len, const char *word)
{
  size_t wl = strlen(word);
  if (len != wl)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != word[i])
      return false;
  }
  return true;
}

bool cf_parse_f64(const char *s, size_t len, double *out)
{
  size_t i = 0;
  bool neg = false;
  if (i < len && (s[i] == '+' || s[i] == '-')) {
    neg = s[i] == '-';
    i++;
  }
  const char *rest = s + i;
  size_t rlen = len - i;
  if (ieq(rest, rlen, "inf") || ieq(rest, rlen, "infinity")) {
    *out = neg ? -INFINITY : INFINITY;
    return true;
  }
  if (ieq(rest, rlen, "nan")) {
    *out = NAN;
    return true;
  }
  size_t mant = 0;
  while (i < len && is_digit(s[i])) {
    i++;
    mant++;
  }
  if (i < len && s[i] == '.') {
    i++;
    while (i < len && is_digit(s[i])) {
      i++;
      mant++;
    }
  }
  if (mant == 0)
    return false;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-'))
      i++;
    size_t ed = 0;
    while (i < len && is_digit(s[i])) {
      i++;
      ed++;
    }
    if (ed == 0)
      return false;
  }
  if (i != len)
    return false;
  /* The grammar is a subset of strtod's, but strtod needs a terminator. */
  char small[128];
  char *copy = len < sizeof small ? small : malloc(len + 1);
  if (!copy)
    return false;
  memcpy(copy, s, len);
  copy[len] = '\0';
  *out = strtod_c(copy, NULL);
  if (copy != small)
    free(copy);
  return true;
}

bool cf_parse_bool(const char *s, size_t len)
{
  if (len == 4 && memcmp(s, "true", 4) == 0)
    return true;
  if (len == 5 && memcmp(s, "false", 5) == 0)
    return false;
  return len == 4 && memcmp(s, "TRUE", 4) == 0;
}

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
  while (c->i < c->len && n < max_d && is_digit(c->s[c->i])) {
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
  while (c->i < c->len && is_digit(c->s[c->i])) {
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
    if (!is_digit(s[i]))
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
    if (c.i + 1 >= len || !is_digit(s[c.i + 1]))
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

/* ---- versions ----------------------------------------------------------- */

void cf_parse_version(const char *s, size_t len, uint64_t out[4])
{
  memset(out, 0, 4 * sizeof out[0]);
  if (len == 0)
    return;
  const char *dash = memchr(s, '-', len);
  if (dash)
    len = (size_t)(dash - s);
  uint64_t parts[4];
  size_t digits[4];
  size_t np = 0, i = 0;
  for (;;) {
    if (np == 4)
      return;
    size_t start = i;
    uint64_t v = 0;
    while (i < len && s[i] != '.') {
      if (!is_digit(s[i]) || i - start >= 10)
        return;
      v = v * 10 + (uint64_t)(s[i] - '0');
      i++;
    }
    if (i == start)
      return;
    parts[np] = v;
    digits[np++] = i - start;
    if (i == len)
      break;
    i++; /* the dot; a trailing dot leaves an empty part and fails above */
  }
  if (np == 2) {
    out[0] = parts[0];
    out[1] = parts[1];
  } else if (np == 3) {
    out[0] = parts[0];
    out[1] = parts[1];
    if (digits[2] <= 3)
      out[2] = parts[2];
    else
      out[3] = parts[2];
  } else if (np == 4) {
    memcpy(out, parts, sizeof parts);
  }
}
