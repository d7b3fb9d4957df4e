/* fuzz_state: input bytes -> confidence_state_load, then resolves against
 * whatever loaded.
 *
 * Built twice:
 *   fuzz_state            the input is a state: AUTO (with and without an
 *                         account id), RESOLVER_STATE and
 *                         CLIENT_RESOLVER_STATE formats.
 *   fuzz_state_encrypted  (FUZZ_ENCRYPTED) the input is an encrypted CDN
 *                         payload for a fixed key; additionally the input is
 *                         sealed with that key and must load exactly like the
 *                         plain input loaded as a ClientResolverState.
 *
 * Secrets cannot be listed through the public API, so the harness decodes the
 * input itself (protobuf-c, same schema) and resolves with every secret it
 * finds plus a few fixed ones, with contexts built from the attribute names
 * and targeting values found in the state, in all materialization modes. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static const char *const ACCOUNT = "fuzz-account";

static bool load_error_code(int rc)
{
  return rc == CONFIDENCE_EPARSE || rc == CONFIDENCE_EDECRYPT || rc == CONFIDENCE_ESTATE || rc == CONFIDENCE_ELIMIT ||
         rc == CONFIDENCE_ENOMEM || rc == CONFIDENCE_EINVAL;
}

static confidence_state *load(const uint8_t *data, size_t size, int format, const char *account, const char *key,
                              int *rc_out)
{
  confidence_state_options o;
  FZ_CHECK(confidence_state_options_init(&o, CONFIDENCE_STATE_OPTIONS_VERSION) == 0);
  o.format = format;
  o.account_id = account;
  o.encryption_key_hex = key;
  confidence_state *st = (confidence_state *)&o; /* must be overwritten */
  int rc = confidence_state_load(data, size, &o, &st);
  FZ_CHECK((rc == 0) == (st != NULL));
  if (rc) {
    FZ_CHECK(load_error_code(rc));
    FZ_CHECK(confidence_last_error_message()[0] != '\0');
  } else {
    fz_check_state(st, account);
  }
  if (rc_out)
    *rc_out = rc;
  return st;
}

/* Contexts that reach the targeting rules of the state at hand. */
static confidence_value *make_context(const fz_dict *d, int kind)
{
  confidence_value *ctx = confidence_value_new_struct();
  FZ_CHECK(ctx != NULL);
  for (size_t i = 0; i < d->paths.n && i < 64; i++) {
    const char *path = d->paths.items[i];
    confidence_value *v;
    switch (kind) {
    case 0: /* strings from the rules: equality and prefix matches */
      v = confidence_value_new_string(fz_pick(&d->strings, i, "user1"));
      break;
    case 1: /* numbers from the rules */
      v = confidence_value_new_number(d->n_numbers ? d->numbers[i % d->n_numbers] : (double)i);
      break;
    default: { /* a list mixing both, for any/all rules */
      v = confidence_value_new_list();
      confidence_value_list_append(v, confidence_value_new_string(fz_pick(&d->strings, i + 1, "x")));
      confidence_value_list_append(v, confidence_value_new_number(d->n_numbers ? d->numbers[(i + 1) % d->n_numbers] : 1));
      confidence_value_list_append(v, confidence_value_new_bool((int)(i & 1)));
      break;
    }
    }
    fz_set_path(ctx, path, v);
  }
  /* The default targeting key, unless a selector already set it. */
  if (!confidence_value_struct_get(ctx, "targeting_key"))
    confidence_value_struct_set(ctx, "targeting_key",
                                kind == 1 ? confidence_value_new_number(42) : confidence_value_new_string("user1"));
  return ctx;
}

static void exercise(const confidence_state *st, const uint8_t *data, size_t size)
{
  fz_dict d;
  fz_dict_init(&d);
  fz_dict_add_state(&d, data, size);
  fz_strs_add(&d.secrets, "test-secret");
  fz_strs_add(&d.secrets, "");

  confidence_value *ctxs[4] = {NULL, make_context(&d, 0), make_context(&d, 1), make_context(&d, 2)};
  confidence_resolve_result *res = confidence_resolve_result_new();
  FZ_CHECK(res != NULL);

  size_t n_secrets = d.secrets.n < 6 ? d.secrets.n : 6;
  unsigned sel = (unsigned)size;
  for (size_t s = 0; s < n_secrets; s++) {
    for (int c = 0; c < 4; c++) {
      for (int mode = 0; mode < 3; mode++) {
        /* Every mode for the first secret, one rotating mode for the rest. */
        if (s > 0 && mode != (int)((s + (size_t)c) % 3))
          continue;
        confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
        req.client_secret = d.secrets.items[s];
        req.context = ctxs[c];
        req.materialization_mode = mode;
        fz_resolve_checked(st, &req, res, &d, sel++, NULL);
      }
    }
  }

  /* A flag filter: known names (some twice), an unknown one and a NULL. */
  const char *names[12];
  size_t nn = 0;
  for (size_t i = 0; i < d.flags.n && nn < 8; i++)
    names[nn++] = d.flags.items[i];
  if (nn)
    names[nn++] = names[0];
  names[nn++] = "flags/no-such-flag";
  names[nn++] = NULL;
  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = fz_pick(&d.secrets, 0, "");
  req.flags = names;
  req.flag_count = nn;
  req.context = ctxs[1];
  req.materialization_mode = CONFIDENCE_MATERIALIZATIONS_DISCOVER;
  if (fz_resolve_checked(st, &req, res, &d, sel, NULL) == 0)
    FZ_CHECK(confidence_resolve_result_flag_count(res) <= nn);

  /* Whatever `res` held, a fresh result must see the same outcome. */
  confidence_resolve_result *fresh = confidence_resolve_result_new();
  FZ_CHECK(fresh != NULL);
  req.flags = NULL;
  req.flag_count = 0;
  req.materialization_mode = CONFIDENCE_MATERIALIZATIONS_UNSUPPORTED;
  uint64_t h1 = 0, h2 = 0;
  int rc1 = fz_resolve_checked(st, &req, res, &d, 0, &h1);
  int rc2 = fz_resolve_checked(st, &req, fresh, &d, 0, &h2);
  FZ_CHECK(rc1 == rc2 && h1 == h2);
  confidence_resolve_result_free(fresh);

  confidence_resolve_result_free(res);
  for (int c = 0; c < 4; c++)
    confidence_value_free(ctxs[c]);
  fz_dict_free(&d);
}

#ifndef FUZZ_ENCRYPTED

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  int rc_auto, rc_rs, rc_crs, rc_noacct;
  confidence_state *st = load(data, size, CONFIDENCE_STATE_FORMAT_AUTO, ACCOUNT, NULL, &rc_auto);
  if (st) {
    FZ_CHECK(confidence_state_ref(st) == st);
    confidence_state_unref(st);
    exercise(st, data, size);
    confidence_state_unref(st);
  }
  /* Without an account id only an envelope carrying one can load. */
  st = load(data, size, CONFIDENCE_STATE_FORMAT_AUTO, NULL, NULL, &rc_noacct);
  if (st)
    FZ_CHECK(confidence_state_account_id(st)[0] != '\0');
  confidence_state_unref(st);
  confidence_state_unref(load(data, size, CONFIDENCE_STATE_FORMAT_RESOLVER_STATE, ACCOUNT, NULL, &rc_rs));
  confidence_state_unref(load(data, size, CONFIDENCE_STATE_FORMAT_CLIENT_RESOLVER_STATE, ACCOUNT, NULL, &rc_crs));
  /* AUTO picks one of the two explicit formats. */
  if (rc_auto == 0)
    FZ_CHECK(rc_rs == 0 || rc_crs == 0);
  if (rc_noacct == 0)
    FZ_CHECK(rc_crs == 0);
  return 0;
}

#else

/* The fixed key the encrypted target decrypts with (and seals with). */
static const char FIXED_KEY[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char FIXED_KEY_UPPER_NL[] = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F\n";
static const char OTHER_KEY[] = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* 1. The input as a payload for the fixed key; AUTO with a key means
   *    encrypted and must agree. */
  int rc_enc, rc_auto;
  confidence_state *st = load(data, size, CONFIDENCE_STATE_FORMAT_ENCRYPTED, ACCOUNT, FIXED_KEY, &rc_enc);
  if (st) {
    exercise(st, data, size);
    confidence_state_unref(st);
  }
  confidence_state_unref(load(data, size, CONFIDENCE_STATE_FORMAT_AUTO, ACCOUNT, FIXED_KEY, &rc_auto));
  FZ_CHECK(rc_enc == rc_auto);

  /* 2. The input as the plaintext: sealed, it must load exactly as the
   *    plain bytes load as a ClientResolverState. */
  uint8_t nonce[12] = {0};
  for (size_t i = 0; i < size; i++)
    nonce[i % 12] ^= data[i];
  size_t sealed_len = 0;
  uint8_t *sealed = fz_seal(data, size, FIXED_KEY, nonce, &sealed_len);
  FZ_CHECK(sealed != NULL);
  int rc_sealed, rc_crs, rc_upper, rc_wrong;
  st = load(sealed, sealed_len, CONFIDENCE_STATE_FORMAT_ENCRYPTED, ACCOUNT, FIXED_KEY, &rc_sealed);
  confidence_state *plain = load(data, size, CONFIDENCE_STATE_FORMAT_CLIENT_RESOLVER_STATE, ACCOUNT, NULL, &rc_crs);
  FZ_CHECK(rc_sealed == rc_crs);
  if (st && plain) {
    FZ_CHECK(confidence_state_flag_count(st) == confidence_state_flag_count(plain));
    for (size_t i = 0; i < confidence_state_flag_count(st); i++)
      FZ_CHECK(strcmp(confidence_state_flag_name_at(st, i), confidence_state_flag_name_at(plain, i)) == 0);
    FZ_CHECK(confidence_state_log_destination_count(st) == confidence_state_log_destination_count(plain));
    if (rc_enc != 0)
      exercise(st, data, size);
  }
  confidence_state_unref(st);
  confidence_state_unref(plain);
  /* Key spelling: upper case and a trailing newline are accepted. */
  confidence_state_unref(load(sealed, sealed_len, CONFIDENCE_STATE_FORMAT_AUTO, ACCOUNT, FIXED_KEY_UPPER_NL, &rc_upper));
  FZ_CHECK(rc_upper == rc_sealed);
  confidence_state_unref(load(sealed, sealed_len, CONFIDENCE_STATE_FORMAT_ENCRYPTED, ACCOUNT, OTHER_KEY, &rc_wrong));
  FZ_CHECK(rc_wrong == CONFIDENCE_EDECRYPT);
  /* Truncated payloads never authenticate. */
  if (sealed_len > 0) {
    int rc_short;
    confidence_state_unref(
        load(sealed, sealed_len - 1, CONFIDENCE_STATE_FORMAT_ENCRYPTED, ACCOUNT, FIXED_KEY, &rc_short));
    FZ_CHECK(rc_short == CONFIDENCE_EDECRYPT);
  }
  free(sealed);
  return 0;
}

#endif
