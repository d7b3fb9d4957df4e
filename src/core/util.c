/* Growable arrays and version checks (see util.h). */
#include "util.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

int cf_vec_grow(void **items, size_t *cap, size_t need, size_t elem)
{
  if (need <= *cap)
    return 0;
  size_t ncap = *cap ? *cap : 8;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2 / elem)
      return CONFIDENCE_ENOMEM;
    ncap *= 2;
  }
  void *p = realloc(*items, ncap * elem);
  if (!p)
    return CONFIDENCE_ENOMEM;
  *items = p;
  *cap = ncap;
  return 0;
}

int cf_check_version_fail(unsigned version, unsigned current, const char *struct_name)
{
  return cf_error(CONFIDENCE_EINVAL, "%s version %u is not supported (this library knows 1 to %u)", struct_name,
                  version, current);
}

int cf_copy_versioned(void *dst, size_t dst_size, const void *src, unsigned version, const size_t *sizes,
                      unsigned current, const char *struct_name)
{
  int rc = cf_check_version(version, current, struct_name);
  if (rc)
    return rc;
  size_t n = sizes[version - 1] < dst_size ? sizes[version - 1] : dst_size;
  memset(dst, 0, dst_size);
  memcpy(dst, src, n);
  return 0;
}
