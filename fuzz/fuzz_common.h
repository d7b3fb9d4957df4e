/* Shared helpers of the libFuzzer targets: input readers, a dictionary of
 * names harvested from a state (secrets, flags, context keys, targeting
 * values, materializations), a context path setter, and a resolve driver
 * that calls every result accessor and aborts on a broken invariant. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "confidence/confidence.h"

/* A failed invariant is a crash libFuzzer records with its input. */
#define FZ_CHECK(cond)                                                                                  \
  do {                                                                                                  \
    if (!(cond))                                                                                        \
      fz_fail(__FILE__, __LINE__, #cond);                                                               \
  } while (0)
void fz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* ---- input consumption ---------------------------------------------------- */

/* Reads the fuzz input front to back; past the end everything reads as 0. */
typedef struct fz_in {
  const uint8_t *p;
  size_t n, i;
} fz_in;

uint8_t fz_u8(fz_in *in);
uint16_t fz_u16(fz_in *in);
uint32_t fz_u32(fz_in *in);
double fz_f64(fz_in *in);
/* Up to `want` bytes (fewer at the end); *got says how many. */
const uint8_t *fz_bytes(fz_in *in, size_t want, size_t *got);
bool fz_done(const fz_in *in);

/* ---- files and the shared conformance data -------------------------------- */

/* Whole file, owned (free()); NULL when unreadable. */
uint8_t *fz_read_file(const char *path, size_t *len);
/* Path of a file below shared/conformance: $CONFIDENCE_CONFORMANCE_DIR or the
 * directory compiled in (FUZZ_CONFORMANCE_DIR). Static buffer per call slot. */
const char *fz_conformance_path(const char *rel, char *buf, size_t bufsz);
/* The first line of a small text file (static storage), "" when missing. */
const char *fz_read_line(const char *path, char *buf, size_t bufsz);

/* ---- dictionary harvested from a state ------------------------------------ */

typedef struct fz_strs {
  char **items;
  size_t n, cap;
} fz_strs;

typedef struct fz_dict {
  fz_strs secrets, flags, paths, keys, strings, mats, rules, variants;
  double *numbers;
  size_t n_numbers, cap_numbers;
} fz_dict;

void fz_dict_init(fz_dict *d);
void fz_dict_free(fz_dict *d);
/* Decodes `data` as a ResolverState and as a ClientResolverState envelope
 * (whichever decode, after a nesting check) and adds what it finds.
 * Returns the number of interpretations that decoded. */
int fz_dict_add_state(fz_dict *d, const uint8_t *data, size_t len);
void fz_strs_add(fz_strs *s, const char *str);
/* Element i modulo the count, or `fallback` when empty. */
const char *fz_pick(const fz_strs *s, size_t i, const char *fallback);
/* The resolver-spec state (with its account_id), loaded once at start-up by
 * the targets that resolve against it; `d` is initialised with its names.
 * Exits with a message prefixed by `who` when the data is missing or does
 * not load. Owned: confidence_state_unref(). */
confidence_state *fz_load_spec_state(const char *who, fz_dict *d);

/* ---- values --------------------------------------------------------------- */

/* Sets `value` at a dot path of struct `ctx`, creating or replacing
 * intermediate structs (the library splits selectors the same way: every
 * '.' separates, empty pieces are keys). Takes ownership of `value`. */
void fz_set_path(confidence_value *ctx, const char *path, confidence_value *value);
/* Walks a value with every reader; returns false if it holds NaN or an
 * infinity (JSON cannot carry them). */
bool fz_walk_value(const confidence_value *v, int depth);
/* to_json -> from_json -> equal, to_json of the copy, equal(copy). */
void fz_value_roundtrip(const confidence_value *v);

/* ---- resolving ------------------------------------------------------------ */

/* Resolves `req` into `res` and checks every accessor of the outcome. For
 * DISCOVER requests that suspend it resumes with records built from the
 * reads (variants picked from `d` by `sel`). Returns the resolve code.
 * `digest` (may be NULL) receives a hash of the visible result. */
int fz_resolve_checked(const confidence_state *st, const confidence_resolve_request *req,
                       confidence_resolve_result *res, const fz_dict *d, unsigned sel, uint64_t *digest);

/* Checks the readers of a loaded state (account id, flags, logs). */
void fz_check_state(const confidence_state *st, const char *account);

/* AES-256-GCM: nonce(12) || ciphertext || tag(16), the CDN payload layout.
 * Owned output (free()); NULL on failure. */
uint8_t *fz_seal(const uint8_t *plain, size_t len, const char *key_hex, const uint8_t nonce[12], size_t *out_len);

#endif
