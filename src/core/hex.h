/* Hexadecimal text <-> bytes. */
#ifndef CF_HEX_H
#define CF_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Value of one hex digit (either case), or -1. */
int cf_hex_digit(char c);
/* Writes 2*n lowercase digits and a NUL to out (2*n+1 bytes). */
void cf_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly 2*n digits from `hex` into n bytes; -1 on a non-digit. */
int cf_hex_decode(const char *hex, uint8_t *out, size_t n);

#endif
