/* Batch cases for `confidence eval` / `bench`: one JSON object per line. */
#ifndef CLI_CASES_H
#define CLI_CASES_H

#include <stdbool.h>
#include <stdio.h>

#include "confidence/confidence.h"

typedef struct cli_case {
  confidence_value *root; /* owns every string below */
  const char *secret;
  const char **flags;
  size_t n_flags;
  const confidence_value *context;
  bool apply;
  bool has_materializations;
  confidence_materialization_record *mats;
  size_t n_mats;
  char error[256]; /* non-empty: the line is not a valid case */
} cli_case;

/* Parses one line into `c` (always fills it; check c->error). */
void cli_case_parse(const char *line, size_t len, cli_case *c);
void cli_case_release(cli_case *c);
/* Fills a request for the case (borrowing from it). */
void cli_case_request(const cli_case *c, confidence_resolve_request *req);

/* Reads all lines of a file; returns the count or -1 (message on stderr). */
long cli_cases_load(const char *path, cli_case **out);

/* The eval output line for a result (or a failure message). Owned string. */
char *cli_result_json(const confidence_resolve_result *res, const char *error);

#endif
