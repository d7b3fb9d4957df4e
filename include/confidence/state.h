/* Loading Confidence's flag state into an immutable, reference-counted
 * snapshot that any number of threads can resolve against. */
#ifndef CONFIDENCE_STATE_H
#define CONFIDENCE_STATE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct confidence_state confidence_state;

typedef enum confidence_state_format {
  /* Encrypted when a key is given; otherwise a ClientResolverState if the
   * bytes decode as one, else a raw ResolverState. */
  CONFIDENCE_STATE_FORMAT_AUTO = 0,
  CONFIDENCE_STATE_FORMAT_RESOLVER_STATE = 1,        /* confidence.flags.admin.v1.ResolverState */
  CONFIDENCE_STATE_FORMAT_CLIENT_RESOLVER_STATE = 2, /* the CDN envelope */
  CONFIDENCE_STATE_FORMAT_ENCRYPTED = 3              /* nonce(12) || AES-256-GCM(envelope) || tag(16) */
} confidence_state_format;

typedef enum confidence_log_destination {
  CONFIDENCE_LOG_DESTINATION_EDGE = 1,
  CONFIDENCE_LOG_DESTINATION_CLOUDFLARE = 2
} confidence_log_destination;

/* Default memory budget of one loaded state (memory_budget_bytes = 0):
 * 1 GiB. Real states take a few MiB (a segment bitset is 125,000 bytes). */
#define CONFIDENCE_STATE_DEFAULT_MEMORY_BUDGET ((size_t)1 << 30)
/* Largest state confidence_state_load_file reads (the CDN body limit). */
#define CONFIDENCE_STATE_MAX_FILE_BYTES ((size_t)64 << 20)

/* 1: account_id, encryption_key_hex, format. 2: memory_budget_bytes. */
#define CONFIDENCE_STATE_OPTIONS_VERSION 2
typedef struct confidence_state_options {
  unsigned version;
  /* Bare account id ("my-account", not "accounts/my-account"). NULL or ""
   * takes the id from the CDN envelope. */
  const char *account_id;
  /* 64 hex characters (AES-256 key) for encrypted payloads, or NULL. */
  const char *encryption_key_hex;
  int format; /* confidence_state_format */
  /* Version 2. Most memory one load may use: the decoded protobuf, the
   * inflated segment bitsets and the compiled snapshot together. Checked
   * before each part is allocated (the gzip size trailers are summed
   * before anything is inflated); over it the load fails with
   * CONFIDENCE_ELIMIT. 0 = CONFIDENCE_STATE_DEFAULT_MEMORY_BUDGET,
   * SIZE_MAX = no budget. A provider holds two states during a reload. */
  size_t memory_budget_bytes;
} confidence_state_options;
#define CONFIDENCE_STATE_OPTIONS_INIT {CONFIDENCE_STATE_OPTIONS_VERSION}

/* Initialises `opts` for `version` (1 to CONFIDENCE_STATE_OPTIONS_VERSION),
 * writing only the fields that version has. Returns 0 or CONFIDENCE_EINVAL
 * (NULL opts or an unknown version). */
CONFIDENCE_API int confidence_state_options_init(confidence_state_options *opts, unsigned version);

/* Decodes, decrypts and compiles a state. `opts` may be NULL (defaults);
 * any version from 1 to CONFIDENCE_STATE_OPTIONS_VERSION is accepted and
 * only that version's fields are read. On success returns 0 and *out holds
 * an owned reference (release with confidence_state_unref). On failure *out
 * is NULL, details are in confidence_last_error_message(), and the code is:
 *   CONFIDENCE_EINVAL    NULL out, NULL data with len > 0, an unknown
 *                        options version or format, a malformed key, or no
 *                        account id;
 *   CONFIDENCE_EPARSE    malformed protobuf;
 *   CONFIDENCE_EDECRYPT  the encrypted payload failed authentication;
 *   CONFIDENCE_ESTATE    a decodable state the resolver rejects (bad
 *                        bitset, bloom filter, reference, ...);
 *   CONFIDENCE_ELIMIT    messages nest deeper than 100 levels, or the load
 *                        would exceed the memory budget (the message names
 *                        it);
 *   CONFIDENCE_ENOMEM    an allocation failed.
 * `data` is only read during the call. */
CONFIDENCE_API int confidence_state_load(const void *data, size_t len, const confidence_state_options *opts,
                                         confidence_state **out);
/* confidence_state_load on the contents of a regular file of at most
 * CONFIDENCE_STATE_MAX_FILE_BYTES. Besides the codes above: CONFIDENCE_EIO
 * when the file cannot be opened or read, or is not a regular file
 * (device, FIFO, directory); CONFIDENCE_ELIMIT when it is larger than
 * CONFIDENCE_STATE_MAX_FILE_BYTES; CONFIDENCE_EINVAL for a NULL path. */
CONFIDENCE_API int confidence_state_load_file(const char *path, const confidence_state_options *opts,
                                              confidence_state **out);

/* Adds a reference (thread-safe); returns `st`. */
CONFIDENCE_API confidence_state *confidence_state_ref(confidence_state *st);
/* Drops a reference; the last one frees the snapshot. NULL is a no-op. */
CONFIDENCE_API void confidence_state_unref(confidence_state *st);

/* Readers; strings are borrowed and live as long as the snapshot. */
CONFIDENCE_API const char *confidence_state_account_id(const confidence_state *st);
CONFIDENCE_API size_t confidence_state_flag_count(const confidence_state *st);
CONFIDENCE_API const char *confidence_state_flag_name_at(const confidence_state *st, size_t i);
/* Log destinations from the CDN envelope, primary first ([EDGE] if none). */
CONFIDENCE_API size_t confidence_state_log_destination_count(const confidence_state *st);
CONFIDENCE_API int confidence_state_log_destination_at(const confidence_state *st, size_t i);
/* Bytes held by the snapshot (arena, bitsets, bloom filters). */
CONFIDENCE_API size_t confidence_state_memory_bytes(const confidence_state *st);

#ifdef __cplusplus
}
#endif
#endif
