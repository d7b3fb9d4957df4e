/* Gzip bitset decoding with zlib: header checks by hand (the reference
 * rejects optional header fields), raw inflate, then size and CRC checks. */
#include "gzip.h"

#include <zlib.h>

#include "error.h"

static uint32_t le32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int cf_gunzip_strict(const uint8_t *in, size_t len, cf_arena *a, uint8_t **out, size_t *out_len)
{
  if (len < 18)
    return cf_error(CONFIDENCE_ESTATE, "gzip data too short (%zu bytes)", len);
  if (in[0] != 0x1f || in[1] != 0x8b)
    return cf_error(CONFIDENCE_ESTATE, "not gzip data (bad magic)");
  if (in[2] != 8)
    return cf_error(CONFIDENCE_ESTATE, "gzip compression method %u is not deflate", in[2]);
  if (in[3] & 0xfe)
    return cf_error(CONFIDENCE_ESTATE, "gzip header flags 0x%02x are not supported", in[3]);
  uint32_t crc_expected = le32(in + len - 8), size_expected = le32(in + len - 4);
  if (size_expected > CF_MAX_BITSET_BYTES)
    return cf_error(CONFIDENCE_ESTATE, "gzip bitset of %u bytes exceeds the limit", size_expected);
  uint8_t *buf = cf_arena_alloc(a, size_expected + 1);
  if (!buf)
    return cf_error(CONFIDENCE_ENOMEM, "out of memory inflating bitset");

  z_stream zs = {0};
  if (inflateInit2(&zs, -15) != Z_OK)
    return cf_error(CONFIDENCE_ENOMEM, "zlib initialisation failed");
  zs.next_in = (Bytef *)(in + 10);
  zs.avail_in = (uInt)(len - 18);
  zs.next_out = buf;
  zs.avail_out = (uInt)size_expected + 1; /* one spare byte detects overlong output */
  int rc = inflate(&zs, Z_FINISH);
  size_t produced = zs.total_out;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END)
    return cf_error(CONFIDENCE_ESTATE, "corrupt deflate stream in gzip bitset");
  if (produced != size_expected)
    return cf_error(CONFIDENCE_ESTATE, "gzip size mismatch (%zu inflated, header says %u)", produced, size_expected);
  if ((uint32_t)crc32(0L, buf, (uInt)produced) != crc_expected)
    return cf_error(CONFIDENCE_ESTATE, "gzip CRC mismatch");
  *out = buf;
  *out_len = produced;
  return 0;
}
