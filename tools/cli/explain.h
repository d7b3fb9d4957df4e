/* `confidence explain`: one flag resolved with the resolver's trace hook. */
#ifndef CLI_EXPLAIN_H
#define CLI_EXPLAIN_H

#include <stdbool.h>
#include <stdio.h>

#include "confidence/confidence.h"

/* The two context trees a resolve overlays, to tell where a value came from. */
typedef struct cf_eval_view {
  const confidence_value *request;
  const confidence_value *managed;
} cf_eval_view;

/* Prints the explanation of resolving `flag` (with or without "flags/") for
 * `secret` and `ctx` to `out`; returns 0, or 1 when the resolve failed. */
int cli_explain(const confidence_state *st, const char *secret, const char *flag, const confidence_value *ctx,
                bool json, FILE *out);

#endif
