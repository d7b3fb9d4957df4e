/* UTF-8 validation: what Confidence accepts in strings it is sent (context
 * keys and values, event names). */
#ifndef CF_UTF8_H
#define CF_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8: no overlong forms, surrogates
 * or code points past U+10FFFF. */
bool cf_utf8_valid(const char *s, size_t len);

#endif
