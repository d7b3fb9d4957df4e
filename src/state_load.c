/* State loading: decrypt the CDN payload, unwrap the ClientResolverState
 * envelope, decode the ResolverState with protobuf-c (after a bounded
 * nesting check, since its decoder recurses), compile, and reference-count
 * the snapshot. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "proto/confidence/flags/admin/v1/resolver.pb-c.h"
#include "state_compile.h"
#include "wire.h"

/* Deeper than any real state (the targeting expressions nest the most). */
#define CF_MAX_PROTO_DEPTH 100
#define GCM_NONCE 12
#define GCM_TAG 16

int confidence_state_options_init(confidence_state_options *opts, unsigned version)
{
  if (!opts || version != CONFIDENCE_STATE_OPTIONS_VERSION)
    return cf_error(CONFIDENCE_EINVAL, "unsupported confidence_state_options version %u", version);
  confidence_state_options init = CONFIDENCE_STATE_OPTIONS_INIT;
  *opts = init;
  return 0;
}

/* ---- wire-format nesting check ------------------------------------------ */


/* Walks the message schema-aware and fails when messages nest deeper than
 * `budget`; malformed wire data is left for protobuf-c to report. */
static bool nesting_ok(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, int budget)
{
  if (budget < 0)
    return false;
  size_t i = 0;
  while (i < len) {
    uint64_t key, n;
    if (!cf_wire_read_varint(p, len, &i, &key))
      return true;
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
      const ProtobufCFieldDescriptor *f =
          key >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3)) : NULL;
      if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && !nesting_ok(f->descriptor, p + i, (size_t)n, budget - 1))
        return false;
      i += (size_t)n;
      break;
    }
    default:
      return true;
    }
  }
  return true;
}

static Confidence__Flags__Admin__V1__ResolverState *decode_state(const uint8_t *p, size_t len, int *err)
{
  if (!nesting_ok(&confidence__flags__admin__v1__resolver_state__descriptor, p, len, CF_MAX_PROTO_DEPTH)) {
    *err = cf_error(CONFIDENCE_ELIMIT, "state nests messages deeper than %d levels", CF_MAX_PROTO_DEPTH);
    return NULL;
  }
  Confidence__Flags__Admin__V1__ResolverState *s = confidence__flags__admin__v1__resolver_state__unpack(NULL, len, p);
  if (!s)
    *err = cf_error(CONFIDENCE_EPARSE, "malformed ResolverState protobuf (%zu bytes)", len);
  return s;
}

/* ---- decryption ---------------------------------------------------------- */

static int hex_nibble(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int parse_key(const char *hex, uint8_t key[32])
{
  size_t n = strlen(hex);
  while (n && (hex[n - 1] == '\n' || hex[n - 1] == '\r' || hex[n - 1] == ' '))
    n--;
  if (n != 64)
    return cf_error(CONFIDENCE_EINVAL, "encryption key must be 64 hex characters (AES-256), got %zu", n);
  for (size_t i = 0; i < 32; i++) {
    int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return cf_error(CONFIDENCE_EINVAL, "encryption key is not hexadecimal");
    key[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

/* nonce(12) || ciphertext || tag(16), AES-256-GCM, no associated data. */
static int decrypt_payload(const uint8_t *in, size_t len, const char *key_hex, uint8_t **out, size_t *out_len)
{
  uint8_t key[32];
  int rc = parse_key(key_hex, key);
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
  Confidence__Flags__Admin__V1__ResolverState *st = decode_state(env->state.data, env->state.len, &err);
  if (!st || (!must && st->n_flags == 0 && st->n_clients == 0)) {
    if (st)
      confidence__flags__admin__v1__resolver_state__free_unpacked(st, NULL);
    confidence__flags__admin__v1__client_resolver_state__free_unpacked(env, NULL);
    return must ? err : 1;
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
  out->state = decode_state(p, len, &err);
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
  if (opts) {
    if (opts->version != CONFIDENCE_STATE_OPTIONS_VERSION)
      return cf_error(CONFIDENCE_EINVAL, "unsupported confidence_state_options version %u", opts->version);
    o = *opts;
  }
  loaded l = {0};
  int rc = decode_input(data ? data : (const void *)"", len, &o, &l);
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

  rc = cf_state_compile(l.state, l.wire, l.wire_len, account, st);
  free_loaded(&l);
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
  FILE *f = fopen(path, "rb");
  if (!f)
    return cf_error(CONFIDENCE_EIO, "cannot open %s: %s", path, strerror(errno));
  size_t cap = 1 << 16, len = 0;
  uint8_t *buf = malloc(cap);
  while (buf) {
    len += fread(buf + len, 1, cap - len, f);
    if (len < cap)
      break;
    uint8_t *nb = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
    if (!nb) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = nb;
    cap *= 2;
  }
  int read_err = ferror(f);
  fclose(f);
  if (!buf)
    return cf_error(CONFIDENCE_ENOMEM, "out of memory reading %s", path);
  if (read_err) {
    free(buf);
    return cf_error(CONFIDENCE_EIO, "error reading %s", path);
  }
  int rc = confidence_state_load(buf, len, opts, out);
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
