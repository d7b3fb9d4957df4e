/* MurmurHash3 x64-128 and bucketing (RESOLVER_SPEC.md 3.8): the spec's test
 * vectors, a cross-check against a second implementation written here from
 * the spec's description (every tail length, high bytes, unaligned input),
 * and the bloom-filter expectation of the spec suite (materializations/bf-seg
 * holds user1 but not user2/3/4), evaluated both by hand from state.json and
 * through the resolver on state.pb.
 * Usage: test_murmur CONFORMANCE_DIR */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "confidence/confidence.h"
#include "murmur3.h"

/* ---- spec vectors ------------------------------------------------------ */

typedef struct vec {
  const char *key;
  uint64_t h1, h2;
  uint64_t n, bucket; /* n == 0: no bucket given */
} vec;

static const vec VECTORS[] = {
    {"", 0x0000000000000000ULL, 0x0000000000000000ULL, 0, 0},
    {"hello", 0xcbd8a7b341bd9b02ULL, 0x5b1e906a48ae1d19ULL, 0, 0},
    {"MegaSalt-confidence-test|roug", 0x03218d7dfb23a053ULL, 0xd8fda05c32b2d74aULL, 1000000, 567493},
    {"MegaSalt-test-account|user1", 0xbe1e16ecc01474dbULL, 0x771110d687ee4bc2ULL, 1000000, 392909},
    {"country-se|user1", 0xe024e08a070f55fbULL, 0x743a1c7547d0d959ULL, 1000, 719},
    {"catch-all|user1", 0x2c93b90bf1d51b71ULL, 0x3a6cb9b0a3eac707ULL, 1000, 855},
    {"MegaSalt-test-account|user-definitely-not-in-bitset-xyz-abc-123", 0x5f4d9fdd13167a1cULL, 0x6ccd971ba1d92003ULL,
     1000000, 668961},
};

static void test_vectors(void)
{
  for (size_t i = 0; i < sizeof VECTORS / sizeof VECTORS[0]; i++) {
    const vec *v = &VECTORS[i];
    uint64_t h1 = 1, h2 = 2;
    cf_murmur3_128(v->key, strlen(v->key), &h1, &h2);
    CHECK(h1 == v->h1);
    CHECK(h2 == v->h2);
    if (h1 != v->h1 || h2 != v->h2)
      fprintf(stderr, "  \"%s\": h1=%016llx h2=%016llx\n", v->key, (unsigned long long)h1, (unsigned long long)h2);
    if (v->n) {
      CHECK(cf_bucket(h1, v->n) == v->bucket);
      /* The bucket is computed from the spec's h1 too (shift, then modulo). */
      CHECK((v->h1 >> 4) % v->n == v->bucket);
    }
  }
  /* Only h1 is used, shifted before the modulo (spec 8.1). */
  CHECK(cf_bucket(0x10, 1000) == 1);
  CHECK(cf_bucket(0xffffffffffffffffULL, 1000000) == (0x0fffffffffffffffULL % 1000000));
  CHECK(cf_bucket(0x8000000000000000ULL, 7) == (0x0800000000000000ULL % 7));
}

/* ---- a second implementation, from the spec text ----------------------- */

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t fmix(uint64_t k)
{
  k ^= k >> 33;
  k *= 0xFF51AFD7ED558CCDULL;
  k ^= k >> 33;
  k *= 0xC4CEB9FE1A85EC53ULL;
  k ^= k >> 33;
  return k;
}

static uint64_t le64(const unsigned char *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static void model_murmur(const unsigned char *p, size_t len, uint64_t *o1, uint64_t *o2)
{
  const uint64_t c1 = 0x87C37B91114253D5ULL, c2 = 0x4CF5AD432745937FULL;
  uint64_t h1 = 0, h2 = 0;
  size_t blocks = len / 16;
  for (size_t b = 0; b < blocks; b++) {
    uint64_t k1 = le64(p + 16 * b), k2 = le64(p + 16 * b + 8);
    k1 *= c1;
    k1 = rotl(k1, 31);
    k1 *= c2;
    h1 ^= k1;
    h1 = rotl(h1, 27);
    h1 += h2;
    h1 = h1 * 5 + 0x52DCE729;
    k2 *= c2;
    k2 = rotl(k2, 33);
    k2 *= c1;
    h2 ^= k2;
    h2 = rotl(h2, 31);
    h2 += h1;
    h2 = h2 * 5 + 0x38495AB5;
  }
  const unsigned char *tail = p + 16 * blocks;
  size_t rest = len % 16;
  uint64_t k1 = 0, k2 = 0;
  for (size_t j = 0; j < rest; j++) {
    if (j < 8)
      k1 |= (uint64_t)tail[j] << (8 * j);
    else
      k2 |= (uint64_t)tail[j] << (8 * (j - 8));
  }
  if (rest > 8) {
    k2 *= c2;
    k2 = rotl(k2, 33);
    k2 *= c1;
    h2 ^= k2;
  }
  if (rest > 0) {
    k1 *= c1;
    k1 = rotl(k1, 31);
    k1 *= c2;
    h1 ^= k1;
  }
  h1 ^= (uint64_t)len;
  h2 ^= (uint64_t)len;
  h1 += h2;
  h2 += h1;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 += h2;
  h2 += h1;
  *o1 = h1;
  *o2 = h2;
}

static void test_against_model(void)
{
  /* The model itself must reproduce the spec vectors before it can judge. */
  for (size_t i = 0; i < sizeof VECTORS / sizeof VECTORS[0]; i++) {
    uint64_t a, b;
    model_murmur((const unsigned char *)VECTORS[i].key, strlen(VECTORS[i].key), &a, &b);
    CHECK(a == VECTORS[i].h1 && b == VECTORS[i].h2);
  }
  unsigned char buf[80];
  uint32_t x = 2463534242u; /* xorshift32: deterministic bytes, many >= 0x80 */
  int mismatches = 0;
  for (size_t len = 0; len <= 64; len++) {
    for (int round = 0; round < 8; round++) {
      for (size_t i = 0; i < sizeof buf; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
      }
      if (round == 0)
        memset(buf, 0xff, sizeof buf); /* every tail byte has its top bit set */
      uint64_t a1, a2, m1, m2;
      cf_murmur3_128(buf, len, &a1, &a2);
      model_murmur(buf, len, &m1, &m2);
      if (a1 != m1 || a2 != m2)
        mismatches++;
      /* Unaligned input hashes the same. */
      unsigned char shifted[81];
      memcpy(shifted + 1, buf, len);
      uint64_t u1, u2;
      cf_murmur3_128(shifted + 1, len, &u1, &u2);
      if (u1 != a1 || u2 != a2)
        mismatches++;
    }
  }
  CHECK(mismatches == 0);
  /* A long key (several blocks plus a tail). */
  char longkey[1000];
  for (size_t i = 0; i < sizeof longkey; i++)
    longkey[i] = (char)('a' + i % 26);
  uint64_t a1, a2, m1, m2;
  cf_murmur3_128(longkey, sizeof longkey, &a1, &a2);
  model_murmur((const unsigned char *)longkey, sizeof longkey, &m1, &m2);
  CHECK(a1 == m1 && a2 == m2);
}

/* ---- bloom filter: by hand from state.json ------------------------------ */

static int b64(int c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

static size_t b64_decode(const char *s, unsigned char *out)
{
  size_t n = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (; *s && *s != '='; s++) {
    int v = b64((unsigned char)*s);
    if (v < 0)
      continue;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (unsigned char)(acc >> bits);
    }
  }
  return n;
}

/* Guava MURMUR128_MITZ_64 over the unsalted unit, bits per spec 1.5 step 4. */
static int model_bloom(const unsigned char *data, size_t n, uint64_t num_bits, int k, const char *unit)
{
  unsigned char *bits = malloc(n + 1);
  if (!bits)
    return -1;
  size_t whole = n - n % 8;
  for (size_t i = 0; i < n; i++)
    bits[i] = i < whole ? data[(i / 8) * 8 + 7 - i % 8] : data[i];
  uint64_t h1, h2;
  model_murmur((const unsigned char *)unit, strlen(unit), &h1, &h2);
  uint64_t c = h1;
  int in = 1;
  for (int i = 0; i < k && in; i++) {
    uint64_t idx = (c & 0x7FFFFFFFFFFFFFFFULL) % num_bits;
    if (idx >= 8 * n || !((bits[idx >> 3] >> (idx & 7)) & 1))
      in = 0;
    c += h2;
  }
  free(bits);
  return in;
}

static void test_bloom_by_hand(const char *dir)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/resolver-spec/state.json", dir);
  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  CHECK(root != NULL);
  if (!root) {
    fprintf(stderr, "  cannot read %s: %s\n", path, err.text);
    return;
  }
  json_t *bf = json_object_get(json_object_get(root, "bloomFilters"), "materializations/bf-seg");
  const char *data = json_string_value(json_object_get(bf, "data"));
  CHECK(data != NULL);
  CHECK(json_integer_value(json_object_get(bf, "strategy")) == 1);
  if (data) {
    unsigned char *bytes = malloc(strlen(data));
    size_t n = bytes ? b64_decode(data, bytes) : 0;
    uint64_t num_bits = (uint64_t)json_integer_value(json_object_get(bf, "bitCount"));
    int k = (int)json_integer_value(json_object_get(bf, "hashFunctionCount"));
    CHECK(n * 8 == 960 && num_bits == 960 && k == 7);
    CHECK(model_bloom(bytes, n, num_bits, k, "user1") == 1);
    CHECK(model_bloom(bytes, n, num_bits, k, "user2") == 0);
    CHECK(model_bloom(bytes, n, num_bits, k, "user3") == 0);
    CHECK(model_bloom(bytes, n, num_bits, k, "user4") == 0);
    free(bytes);
  }
  json_decref(root);
}

/* ---- bloom filter: through the resolver --------------------------------- */

static int resolve_bloom_flag(const confidence_state *st, const char *unit, int mode, int *suspended)
{
  const char *flag = "flags/bloom-filter-flag";
  confidence_value *ctx = confidence_value_new_struct();
  confidence_value_struct_set(ctx, "targeting_key", confidence_value_new_string(unit));
  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = "test-secret";
  req.flags = &flag;
  req.flag_count = 1;
  req.context = ctx;
  req.materialization_mode = mode;
  confidence_resolve_result *res = confidence_resolve_result_new();
  int rc = confidence_resolve(st, &req, res);
  int reason = -1;
  *suspended = confidence_resolve_result_suspended(res);
  if (rc == 0 && confidence_resolve_result_flag_count(res) == 1)
    reason = confidence_resolved_flag_reason(confidence_resolve_result_flag_at(res, 0));
  else
    fprintf(stderr, "  resolve for %s: rc=%d %s\n", unit, rc, confidence_resolve_result_error(res));
  confidence_resolve_result_free(res);
  confidence_value_free(ctx);
  return reason;
}

static void test_bloom_resolver(const char *dir)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/resolver-spec/state.pb", dir);
  confidence_state_options opts = CONFIDENCE_STATE_OPTIONS_INIT;
  opts.account_id = "test-account";
  opts.format = CONFIDENCE_STATE_FORMAT_RESOLVER_STATE;
  confidence_state *st = NULL;
  int rc = confidence_state_load_file(path, &opts, &st);
  CHECK(rc == 0 && st);
  if (!st) {
    fprintf(stderr, "  cannot load %s: %s\n", path, confidence_last_error_message());
    return;
  }
  /* The filter is consulted before any materialization store: no reads in
   * discovery mode and no MATERIALIZATION_NOT_SUPPORTED without a store. */
  static const int modes[] = {CONFIDENCE_MATERIALIZATIONS_DISCOVER, CONFIDENCE_MATERIALIZATIONS_UNSUPPORTED,
                              CONFIDENCE_MATERIALIZATIONS_STATIC};
  for (size_t m = 0; m < 3; m++) {
    int susp = 1;
    CHECK(resolve_bloom_flag(st, "user1", modes[m], &susp) == CONFIDENCE_RESOLVE_REASON_MATCH);
    CHECK(!susp);
    for (int u = 2; u <= 4; u++) {
      char unit[16];
      snprintf(unit, sizeof unit, "user%d", u);
      CHECK(resolve_bloom_flag(st, unit, modes[m], &susp) == CONFIDENCE_RESOLVE_REASON_NO_SEGMENT_MATCH);
      CHECK(!susp);
    }
  }
  confidence_state_unref(st);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: test_murmur CONFORMANCE_DIR\n");
    return 2;
  }
  test_vectors();
  test_against_model();
  test_bloom_by_hand(argv[1]);
  test_bloom_resolver(argv[1]);
  return check_finish();
}
