/* Number text with the reference resolver's exact semantics: Rust's f64
 * Display (shortest round-trip digits, positional) and FromStr grammar, which
 * differ from C's printf/strtod in many small ways, and its bool coercion. */
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
  while (i < len && cf_is_digit(s[i])) {
    i++;
    mant++;
  }
  if (i < len && s[i] == '.') {
    i++;
    while (i < len && cf_is_digit(s[i])) {
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
    while (i < len && cf_is_digit(s[i])) {
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
