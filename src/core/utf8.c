/* UTF-8 validation, shared by the provider's context checks and event
 * encoding. */
#include "utf8.h"

#include <stdint.h>

bool cf_utf8_valid(const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  /* Context keys and values are mostly short and ASCII: one branch-free
   * pass settles those. */
  unsigned char high = 0;
  for (size_t i = 0; i < len; i++)
    high |= p[i];
  if (high < 0x80)
    return true;
  while (p < end) {
    if (*p < 0x80) {
      p++;
      continue;
    }
    size_t n = (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || (size_t)(end - p) < n)
      return false;
    uint32_t c = *p & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
      if ((p[i] & 0xC0) != 0x80)
        return false;
      c = c << 6 | (p[i] & 0x3F);
    }
    /* overlong forms, surrogates and values past U+10FFFF */
    if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
      return false;
    p += n;
  }
  return true;
}
