/* fuzz_seal KEYHEX < plain > payload: wraps a file in the encrypted CDN
 * payload layout (nonce || AES-256-GCM ciphertext || tag) so the seed
 * corpus of fuzz_state_encrypted can be generated at fuzz time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz_seal KEYHEX < plain > payload\n");
    return 2;
  }
  size_t cap = 1 << 16, len = 0;
  uint8_t *buf = malloc(cap);
  while (buf) {
    len += fread(buf + len, 1, cap - len, stdin);
    if (len < cap)
      break;
    uint8_t *nb = realloc(buf, cap * 2);
    if (!nb)
      free(buf);
    buf = nb;
    cap *= 2;
  }
  if (!buf)
    return 1;
  uint8_t nonce[12] = {'f', 'u', 'z', 'z', '-', 's', 'e', 'e', 'd', 0, 0, 1};
  size_t out_len = 0;
  uint8_t *out = fz_seal(buf, len, argv[1], nonce, &out_len);
  free(buf);
  if (!out) {
    fprintf(stderr, "fuzz_seal: encryption failed (key must be 64 hex characters)\n");
    return 1;
  }
  int ok = fwrite(out, 1, out_len, stdout) == out_len;
  free(out);
  return ok ? 0 : 1;
}
