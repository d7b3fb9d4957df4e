/* Bucketing of the resolve-latency histogram (latency_histogram.h). */
#include "latency_histogram.h"

#include <math.h>

int cf_latency_bucket(uint32_t us)
{
  if (us == 0)
    return 0;
  double b = floor(log((double)us) / CF_LATENCY_LN_RATIO);
  return b > CF_LATENCY_BUCKETS - 1 ? CF_LATENCY_BUCKETS - 1 : (int)b;
}

double cf_latency_bucket_upper(uint32_t i) { return exp((double)(i + 1) * CF_LATENCY_LN_RATIO); }
