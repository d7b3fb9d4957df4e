/* State loading: decrypt the CDN payload, unwrap the ClientResolverState
 * envelope, decode the ResolverState with protobuf-c (after a bounded
 * nesting check, since its decoder recurses), compile, and reference-count
 * the snapshot. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "hex.h"
#include "size_limits.h"
#include "proto/confidence/flags/admin/v1/resolver.pb-c.h"
#include "state_compile.h"
#include "util.h"
#include "wire.h"

/* Deeper than any real state (the targeting expressions nest the most). */
#define CF_MAX_PROTO_DEPTH 100
#define GCM_NONCE 12
#define GCM_TAG 16

int confidence_state_options_init(confidence_state_options *opts, unsigned version)
{
  if (!opts)
    return cf_error(CONFIDENCE_EINVAL, "opts must not be NULL");
  int rc = cf_check_version(version, CONFIDENCE_STATE_OPTIONS_VERSION, "confidence_state_options");
  if (rc)
    return rc;
  /* A version-1 caller's struct ends after `format`: write no further. */
  opts->version = version;
  opts->account_id = NULL;
  opts->encryption_key_hex = NULL;
  opts->format = CONFIDENCE_STATE_FORMAT_AUTO;
  if (version >= 2)
    opts->memory_budget_bytes = 0;
  return 0;
}

/* The options a caller's struct of any known version stands for, reading
 * only the fields its version has. */
static int read_options(const confidence_state_options *opts, confidence_state_options *o)
{
  if (!opts)
    return 0;
  int rc = cf_check_version(opts->version, CONFIDENCE_STATE_OPTIONS_VERSION, "confidence_state_options");
  if (rc)
    return rc;
  o->account_id = opts->account_id;
  o->encryption_key_hex = opts->encryption_key_hex;
  o->format = opts->format;
  if (opts->version >= 2)
    o->memory_budget_bytes = opts->memory_budget_bytes;
  return 0;
}

/* ---- wire-format nesting check ------------------------------------------ */


static size_t add_sat(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

/* Upper estimate of what protobuf-c allocates for one field occurrence of
 * `n` wire bytes: a slot in a repeated array, the copied bytes, or a kept
 * unknown field, plus a malloc header. */
#define CF_ALLOC_OVERHEAD 16
static size_t field_cost(const ProtobufCFieldDescriptor *f, uint64_t wire_type, size_t n)
{
  if (!f)
    return sizeof(ProtobufCMessageUnknownField) + n + CF_ALLOC_OVERHEAD;
  size_t cost = f->label == PROTOBUF_C_LABEL_REPEATED ? sizeof(void *) : 0;
  if (wire_type == 2 && f->type != PROTOBUF_C_TYPE_MESSAGE)
    cost += f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES ? n + 1 + CF_ALLOC_OVERHEAD
                                                                                  : 8 * n; /* packed */
  return cost;
}

/* Walks the message schema-aware and fails when messages nest deeper than
 * `depth`; adds an upper estimate of the decoded size to *bytes so memory
 * is checked before protobuf-c allocates it. Malformed wire data is left
 * for protobuf-c to report. */
static bool nesting_ok(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, int depth, size_t *bytes)
{
  if (depth < 0)
    return false;
  *bytes = add_sat(*bytes, d->sizeof_message + CF_ALLOC_OVERHEAD);
  size_t i = 0;
  while (i < len) {
    uint64_t key, n;
    if (!cf_wire_read_varint(p, len, &i, &key))
      return true;
    const ProtobufCFieldDescriptor *f =
        key >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3)) : NULL;
    size_t start = i;
    switch (key & 7) {
    case 0:
      if (!cf_wire_read_varint(p, len, &i, &n))
        return true;
      break;
    case 1:
      i += 8;
      break;
    case 5:
      i += 4;
      break;
    case 2: {
      if (!cf_wire_read_varint(p, len, &i, &n) || n > len - i)
        return true;
      if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && !nesting_ok(f->descriptor, p + i, (size_t)n, depth - 1, bytes))
        return false;
      *bytes = add_sat(*bytes, field_cost(f, 2, (size_t)n));
      i += (size_t)n;
      continue;
    }
    default:
      return true;
    }
    *bytes = add_sat(*bytes, field_cost(f, key & 7, i > len ? len - start : i - start));
  }
  return true;
}

/* `budget` bounds the decoded size; *decoded receives its estimate. */
static Confidence__Flags__Admin__V1__ResolverState *decode_state(const uint8_t *p, size_t len, size_t budget,
                                                                 size_t *decoded, int *err)
{
  *decoded = 0;
  if (!nesting_ok(&confidence__flags__admin__v1__resolver_state__descriptor, p, len, CF_MAX_PROTO_DEPTH, decoded)) {
    *err = cf_error(CONFIDENCE_ELIMIT, "state nests messages deeper than %d levels", CF_MAX_PROTO_DEPTH);
    return NULL;
  }
  if (*decoded > budget) {
    *err = cf_error(CONFIDENCE_ELIMIT,
                    "decoding the state would take about %zu bytes, over its memory budget of %zu bytes "
                    "(confidence_state_options.memory_budget_bytes)",
                    *decoded, budget);
    return NULL;
  }
  Confidence__Flags__Admin__V1__ResolverState *s = confidence__flags__admin__v1__resolver_state__unpack(NULL, len, p);
  if (!s)
    *err = cf_error(CONFIDENCE_EPARSE, "malformed ResolverState protobuf (%zu bytes)", len);
  return s;
}

/* ---- decryption ---------------------------------------------------------- */

int cf_state_parse_key(const char *hex, uint8_t key[32])
{
  size_t n = strlen(hex);
  while (n && (hex[n - 1] == '\n' || hex[n - 1] == '\r' || hex[n - 1] == ' '))
    n--;
  if (n != 64)
    return cf_error(CONFIDENCE_EINVAL, "encryption key must be 64 hex characters (AES-256), got %zu", n);
  if (cf_hex_decode(hex, key, 32))
    return cf_error(CONFIDENCE_EINVAL, "encryption key is not hexadecimal");
  return 0;
}

/* nonce(12) || ciphertext || tag(16), AES-256-GCM, no associated data. */
static int decrypt_payload(const uint8_t *in, size_t len, const char *key_hex, uint8_t **out, size_t *out_len)
{
  uint8_t key[32];
  int rc = cf_state_parse_key(key_hex, key);
  if (rc)
    return rc;
  if (len < GCM_NONCE)
    return cf_error(CONFIDENCE_EDECRYPT, "encrypted state too short (missing nonce)");
  if (len < GCM_NONCE + GCM_TAG)
    return cf_error(CONFIDENCE_EDECRYPT, "encrypted state too short (missing tag)");
  size_t ct_len = len - GCM_NONCE - GCM_TAG;
  if (ct_len > INT32_MAX)
    return cf_error(CONFIDENCE_ELIMIT, "encrypted state too large");
  uint8_t *plain = malloc(ct_len + 1);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int ok = plain && ctx;
  int n = 0, fin = 0;
  ok = ok && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_NONCE, NULL) == 1;
  ok = ok && EVP_DecryptInit_ex(ctx, NULL, NULL, key, in) == 1;
  ok = ok && EVP_DecryptUpdate(ctx, plain, &n, in + GCM_NONCE, (int)ct_len) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG, (void *)(in + len - GCM_TAG)) == 1;
  int authentic = ok && EVP_DecryptFinal_ex(ctx, plain + n, &fin) == 1;
  EVP_CIPHER_CTX_free(ctx);
  memset(key, 0, sizeof key);
  if (!authentic) {
    free(plain);
    if (!ok)
      return cf_error(CONFIDENCE_ENOMEM, "AES-GCM setup failed");
    return cf_error(CONFIDENCE_EDECRYPT, "encrypted state failed authentication (wrong key or corrupt payload)");
  }
  *out = plain;
  *out_len = (size_t)n + (size_t)fin;
  return 0;
}

/* ---- envelope ------------------------------------------------------------ */

typedef struct loaded {
  Confidence__Flags__Admin__V1__ClientResolverState *envelope; /* NULL for a raw state */
  Confidence__Flags__Admin__V1__ResolverState *state;
  const uint8_t *wire; /* the ResolverState bytes, alive until free_loaded */
  size_t wire_len;
  size_t budget;  /* in: the memory budget of the load */
  size_t decoded; /* out: estimated bytes of the decoded protobuf */
} loaded;

static int unwrap_envelope(const uint8_t *p, size_t len, bool must, loaded *out)
{
  Confidence__Flags__Admin__V1__ClientResolverState *env =
      confidence__flags__admin__v1__client_resolver_state__unpack(NULL, len, p);
  /* Unknown fields are skipped (a newer envelope must still load); the
   * inner ResolverState decode below is what tells an envelope apart. */
  if (!env || (!must && env->state.len == 0)) {
    if (env)
      confidence__flags__admin__v1__client_resolver_state__free_unpacked(env, NULL);
    return must ? cf_error(CONFIDENCE_EPARSE, "malformed ClientResolverState protobuf (%zu bytes)", len) : 1;
  }
  int err = 0;
  Confidence__Flags__Admin__V1__ResolverState *st =
      decode_state(env->state.data, env->state.len, out->budget, &out->decoded, &err);
  if (!st || (!must && st->n_flags == 0 && st->n_clients == 0)) {
    if (st)
      confidence__flags__admin__v1__resolver_state__free_unpacked(st, NULL);
    confidence__flags__admin__v1__client_resolver_state__free_unpacked(env, NULL);
    /* An envelope whose state is too deep or too big is still an envelope:
     * report that rather than retrying the bytes as a raw state. */
    return must || (!st && err == CONFIDENCE_ELIMIT) ? err : 1;
  }
  out->envelope = env;
  out->state = st;
  out->wire = env->state.data;
  out->wire_len = env->state.len;
  return 0;
}

static int decode_input(const uint8_t *p, size_t len, const confidence_state_options *o, loaded *out)
{
  int format = o->format;
  if (format == CONFIDENCE_STATE_FORMAT_AUTO && o->encryption_key_hex && *o->encryption_key_hex)
    format = CONFIDENCE_STATE_FORMAT_ENCRYPTED;
  if (format == CONFIDENCE_STATE_FORMAT_ENCRYPTED) {
    if (!o->encryption_key_hex)
      return cf_error(CONFIDENCE_EINVAL, "an encrypted state needs an encryption key");
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    int rc = decrypt_payload(p, len, o->encryption_key_hex, &plain, &plain_len);
    if (rc)
      return rc;
    rc = unwrap_envelope(plain, plain_len, true, out);
    free(plain);
    return rc;
  }
  if (format == CONFIDENCE_STATE_FORMAT_CLIENT_RESOLVER_STATE)
    return unwrap_envelope(p, len, true, out);
  if (format == CONFIDENCE_STATE_FORMAT_AUTO) {
    int rc = unwrap_envelope(p, len, false, out);
    if (rc <= 0)
      return rc;
  } else if (format != CONFIDENCE_STATE_FORMAT_RESOLVER_STATE) {
    return cf_error(CONFIDENCE_EINVAL, "unknown state format %d", format);
  }
  int err = 0;
  out->state = decode_state(p, len, out->budget, &out->decoded, &err);
  out->wire = p;
  out->wire_len = len;
  return out->state ? 0 : err;
}

/* ---- public entry points -------------------------------------------------- */

static void free_loaded(loaded *l)
{
  if (l->state)
    confidence__flags__admin__v1__resolver_state__free_unpacked(l->state, NULL);
  if (l->envelope)
    confidence__flags__admin__v1__client_resolver_state__free_unpacked(l->envelope, NULL);
}

int confidence_state_load(const void *data, size_t len, const confidence_state_options *opts, confidence_state **out)
{
  if (!out)
    return cf_error(CONFIDENCE_EINVAL, "out must not be NULL");
  *out = NULL;
  if (!data && len)
    return cf_error(CONFIDENCE_EINVAL, "no state data given");
  confidence_state_options o = CONFIDENCE_STATE_OPTIONS_INIT;
  int rc = read_options(opts, &o);
  if (rc)
    return rc;
  size_t budget = o.memory_budget_bytes ? o.memory_budget_bytes : CONFIDENCE_STATE_DEFAULT_MEMORY_BUDGET;
  loaded l = {0};
  l.budget = budget;
  rc = decode_input(data ? data : (const void *)"", len, &o, &l);
  if (rc)
    return rc;

  const char *account = o.account_id && *o.account_id ? o.account_id : NULL;
  if (!account && l.envelope && l.envelope->account && *l.envelope->account)
    account = l.envelope->account;
  if (!account) {
    free_loaded(&l);
    return cf_error(CONFIDENCE_EINVAL, "no account id: pass one, or load a ClientResolverState that carries it");
  }
  confidence_state *st = calloc(1, sizeof *st);
  if (!st) {
    free_loaded(&l);
    return cf_error(CONFIDENCE_ENOMEM, "out of memory loading state");
  }
  atomic_init(&st->refs, 1);
  /* Log destinations: [0] primary, [1] fallback; 2 is Cloudflare, anything
   * else is the edge. */
  size_t nd = l.envelope ? l.envelope->n_log_destinations : 0;
  for (size_t i = 0; i < nd && i < 2; i++)
    st->log_destinations[i] =
        l.envelope->log_destinations[i] == 2 ? CONFIDENCE_LOG_DESTINATION_CLOUDFLARE : CONFIDENCE_LOG_DESTINATION_EDGE;
  st->n_log_destinations = nd ? (nd < 2 ? (uint32_t)nd : 2) : 1;
  if (!nd)
    st->log_destinations[0] = CONFIDENCE_LOG_DESTINATION_EDGE;

  /* The decoded tree lives until compiling ends: both share the budget. */
  rc = cf_state_compile(l.state, l.wire, l.wire_len, account, budget, l.decoded, st);
  free_loaded(&l);
  if (!rc && st->arena.total > budget - l.decoded)
    rc = cf_error(CONFIDENCE_ELIMIT,
                  "the compiled state takes %zu bytes, over its memory budget of %zu bytes "
                  "(confidence_state_options.memory_budget_bytes)",
                  st->arena.total, budget);
  if (rc) {
    cf_arena_release(&st->arena);
    free(st);
    return rc;
  }
  st->bytes = sizeof *st + st->arena.total;
  *out = st;
  cf_error_clear();
  return 0;
}

int confidence_state_load_file(const char *path, const confidence_state_options *opts, confidence_state **out)
{
  if (out)
    *out = NULL;
  if (!path || !out)
    return cf_error(CONFIDENCE_EINVAL, "path and out must not be NULL");
  /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is rejected
   * below like every other file that is not regular. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return cf_error(CONFIDENCE_EIO, "cannot open %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return cf_error(CONFIDENCE_EIO, "cannot stat %s: %s", path, strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return cf_error(CONFIDENCE_EIO, "%s is not a regular file (%s)", path,
                    S_ISDIR(sb.st_mode) ? "a directory" : S_ISFIFO(sb.st_mode) ? "a FIFO" : "a device or socket");
  }
  if (sb.st_size < 0 || (uint64_t)sb.st_size > CF_MAX_STATE_BYTES) {
    close(fd);
    return cf_error(CONFIDENCE_ELIMIT, "%s has %lld bytes, more than the %zu a state may have", path,
                    (long long)sb.st_size, (size_t)CF_MAX_STATE_BYTES);
  }
  /* Read to EOF but never past the cap, in case the file grows meanwhile. */
  size_t cap = (size_t)sb.st_size + 1, len = 0;
  uint8_t *buf = malloc(cap);
  int rc = buf ? 0 : cf_error(CONFIDENCE_ENOMEM, "out of memory reading %s", path);
  while (!rc) {
    if (len == cap) {
      if (cap > CF_MAX_STATE_BYTES) {
        rc = cf_error(CONFIDENCE_ELIMIT, "%s grew past the %zu bytes a state may have", path, (size_t)CF_MAX_STATE_BYTES);
        break;
      }
      size_t ncap = cap * 2 > CF_MAX_STATE_BYTES + 1 ? CF_MAX_STATE_BYTES + 1 : cap * 2;
      uint8_t *nb = realloc(buf, ncap);
      if (!nb) {
        rc = cf_error(CONFIDENCE_ENOMEM, "out of memory reading %s", path);
        break;
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n == 0)
      break;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      rc = cf_error(CONFIDENCE_EIO, "error reading %s: %s", path, strerror(errno));
    else
      len += (size_t)n;
  }
  close(fd);
  if (!rc)
    rc = confidence_state_load(buf, len, opts, out);
  free(buf);
  return rc;
}

confidence_state *confidence_state_ref(confidence_state *st)
{
  if (st)
    atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
  return st;
}

void confidence_state_unref(confidence_state *st)
{
  if (!st)
    return;
  if (atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) != 1)
    return;
  cf_arena_release(&st->arena);
  free(st);
}

const char *confidence_state_account_id(const confidence_state *st) { return st ? st->account_id.s : ""; }
size_t confidence_state_flag_count(const confidence_state *st) { return st ? st->n_flags : 0; }

const char *confidence_state_flag_name_at(const confidence_state *st, size_t i)
{
  return st && i < st->n_flags ? st->flags[i].name.s : NULL;
}

size_t confidence_state_log_destination_count(const confidence_state *st) { return st ? st->n_log_destinations : 0; }

int confidence_state_log_destination_at(const confidence_state *st, size_t i)
{
  return st && i < st->n_log_destinations ? st->log_destinations[i] : CONFIDENCE_EINVAL;
}

size_t confidence_state_memory_bytes(const confidence_state *st) { return st ? st->bytes : 0; }
