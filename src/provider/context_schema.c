/* Evaluation-context schemas for resolve analytics (RESOLVER_SPEC §4.4):
 * the flattened field paths with their kinds, plus a guess at what a
 * string means (country code, date, timestamp, version). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "context_schema.h"
#include "util.h"
#include "value_internal.h"
#include "textconv.h"

/* ISO 3166-1 alpha-2 codes, as isocountry 0.3.2 lists them. */
static const char COUNTRIES[] =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ "
    "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO "
    "FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE "
    "JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO "
    "MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW "
    "PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM "
    "TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

static char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c; }

/* Entries are "XX " except the last; the loop is bounded by the table size,
 * not by its terminator, so a code that is absent never reads past it. */
static bool is_country(const char *v, size_t len)
{
  if (len != 2)
    return false;
  char c0 = ascii_upper(v[0]), c1 = ascii_upper(v[1]);
  for (size_t i = 0; i + 2 <= sizeof COUNTRIES - 1; i += 3)
    if (COUNTRIES[i] == c0 && COUNTRIES[i + 1] == c1)
      return true;
  return false;
}

static bool path_mentions_country(const char *path)
{
  size_t n = strlen(path);
  for (size_t i = 0; i + 7 <= n; i++) {
    size_t j = 0;
    while (j < 7 && (path[i + j] >= 'A' && path[i + j] <= 'Z' ? path[i + j] + 32 : path[i + j]) == "country"[j])
      j++;
    if (j == 7)
      return true;
  }
  return false;
}

/* Rust's u32::from_str: optional '+', digits, at most 4294967295. */
static bool is_u32(const char *s, size_t n)
{
  if (n == 0)
    return false;
  size_t i = s[0] == '+' ? 1 : 0;
  if (i == n)
    return false;
  uint64_t v = 0;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
    if (v > 4294967295ULL)
      return false;
  }
  return true;
}

/* Exactly three dot-separated u32 values. */
static bool is_version(const char *v, size_t len)
{
  size_t parts = 0, start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && v[i] != '.')
      continue;
    if (++parts > 3 || !is_u32(v + start, i - start))
      return false;
    start = i + 1;
  }
  return parts == 3;
}

static int guess_semantic(const char *path, const char *v, size_t len)
{
  if (path_mentions_country(path))
    return is_country(v, len) ? CF_SEM_COUNTRY : CF_SEM_NONE;
  cf_time t;
  if (len >= 10 && cf_parse_naive_date(v, len, &t))
    return CF_SEM_DATE;
  if (len >= 15) {
    if (cf_parse_rfc3339(v, len, &t))
      return CF_SEM_TIMESTAMP;
    const char *tp = memchr(v, 'T', len);
    if (tp) {
      size_t tlen = len - (size_t)(tp - v);
      bool zoned = v[len - 1] == 'Z' || memchr(tp, '+', tlen) || memchr(tp, '-', tlen);
      if (!zoned && cf_parse_naive_datetime_t(v, len, &t))
        return CF_SEM_TIMESTAMP;
    }
  }
  return is_version(v, len) ? CF_SEM_VERSION : CF_SEM_NONE;
}

typedef struct builder {
  cf_schema *s;
  size_t cap;
  bool failed;
} builder;

static void add_field(builder *b, const char *path, int kind, int semantic)
{
  if (b->failed)
    return;
  if (cf_vec_reserve((void **)&b->s->fields, &b->cap, b->s->n + 1, sizeof *b->s->fields)) {
    b->failed = true;
    return;
  }
  char *p = strdup(path);
  if (!p) {
    b->failed = true;
    return;
  }
  b->s->fields[b->s->n++] = (cf_schema_field){p, kind, semantic};
}

static int kind_of(const confidence_value *v)
{
  switch (confidence_value_type_of(v)) {
  case CONFIDENCE_VALUE_NULL: return CF_KIND_NULL;
  case CONFIDENCE_VALUE_NUMBER: return CF_KIND_NUMBER;
  case CONFIDENCE_VALUE_STRING: return CF_KIND_STRING;
  case CONFIDENCE_VALUE_BOOL: return CF_KIND_BOOL;
  default: return 0;
  }
}

static void visit(builder *b, const char *path, const confidence_value *v, int depth);

static int cmp_keys(const void *x, const void *y)
{
  const cf_field *a = *(const cf_field *const *)x, *c = *(const cf_field *const *)y;
  size_t n = a->key_len < c->key_len ? a->key_len : c->key_len;
  int r = memcmp(a->key, c->key, n);
  return r ? r : (a->key_len > c->key_len) - (a->key_len < c->key_len);
}

static void visit_struct(builder *b, const char *prefix, const confidence_value *obj, int depth)
{
  size_t n = obj->u.obj.n;
  const cf_field **sorted = malloc((n ? n : 1) * sizeof *sorted);
  if (!sorted) {
    b->failed = true;
    return;
  }
  for (size_t i = 0; i < n; i++)
    sorted[i] = &obj->u.obj.fields[i];
  qsort(sorted, n, sizeof *sorted, cmp_keys);
  size_t plen = strlen(prefix);
  for (size_t i = 0; i < n && !b->failed; i++) {
    char *path = malloc(plen + sorted[i]->key_len + 2);
    if (!path) {
      b->failed = true;
      break;
    }
    memcpy(path, prefix, plen);
    size_t o = plen;
    if (plen)
      path[o++] = '.';
    memcpy(path + o, sorted[i]->key, sorted[i]->key_len);
    path[o + sorted[i]->key_len] = '\0';
    visit(b, path, sorted[i]->value, depth + 1);
    free(path);
  }
  free(sorted);
}

static void visit(builder *b, const char *path, const confidence_value *v, int depth)
{
  if (depth > 64) /* deeper contexts are not worth describing */
    return;
  switch (confidence_value_type_of(v)) {
  case CONFIDENCE_VALUE_STRUCT:
    visit_struct(b, path, v, depth);
    return;
  case CONFIDENCE_VALUE_LIST: {
    /* A list counts as its first element when every element with a kind
     * shares the first such element's kind; structs and lists record
     * nothing. */
    size_t n = v->u.list.n;
    int first = 0;
    for (size_t i = 0; i < n; i++) {
      int k = kind_of(v->u.list.items[i]);
      if (!k && confidence_value_type_of(v->u.list.items[i]) != CONFIDENCE_VALUE_NULL)
        return; /* struct or list element */
      if (!first)
        first = k;
      else if (k && k != first)
        return;
    }
    if (n && first)
      visit(b, path, v->u.list.items[0], depth + 1);
    return;
  }
  case CONFIDENCE_VALUE_STRING:
    add_field(b, path, CF_KIND_STRING, guess_semantic(path, v->u.s.ptr, v->u.s.len));
    return;
  default:
    add_field(b, path, kind_of(v), CF_SEM_NONE);
    return;
  }
}

static int cmp_paths(const void *x, const void *y)
{
  return strcmp(((const cf_schema_field *)x)->path, ((const cf_schema_field *)y)->path);
}

cf_schema *cf_schema_derive(const confidence_value *ctx)
{
  cf_schema *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  builder b = {s, 0, false};
  if (confidence_value_type_of(ctx) == CONFIDENCE_VALUE_STRUCT)
    visit_struct(&b, "", ctx, 0);
  if (b.failed) {
    cf_schema_free(s);
    return NULL;
  }
  /* The walk sorts each struct's keys, but the map is ordered by whole
   * paths: "a.b" sorts after "a-" ('.' > '-') though "a" < "a-". */
  if (s->n > 1)
    qsort(s->fields, s->n, sizeof *s->fields, cmp_paths);
  return s;
}

void cf_schema_free(cf_schema *s)
{
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++)
    free(s->fields[i].path);
  free(s->fields);
  free(s);
}
