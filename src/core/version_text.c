/* Version text parsed into the tuple that orders Confidence's semantic
 * versions in targeting range rules. */
#include "textconv.h"

#include <string.h>

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
      if (!cf_is_digit(s[i]) || i - start >= 10)
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
