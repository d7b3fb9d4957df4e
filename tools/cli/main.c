/* The `confidence` command: resolve flags from a state file, in one shot
 * (resolve), per JSONL case (eval), in a timing loop (bench) or step by step
 * for one flag (explain). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cases.h"
#include "confidence/store.h"
#include "explain.h"
#include "store_loop.h"
#ifdef CLI_WITH_REDIS
#include "confidence/redis.h"
#endif

#define MAX_FLAG_ARGS 1000

typedef struct args {
  const char *state, *account, *key, *secret, *context, *cases, *store;
  const char *flags[MAX_FLAG_ARGS];
  size_t n_flags;
  long iterations;
  bool json;
} args;

static int usage(void)
{
  fprintf(stderr,
          "usage:\n"
          "  confidence resolve --state FILE --account ID [--encryption-key HEX] --secret S\n"
          "                     --context JSON [--flag NAME]... [--store memory|redis://...]\n"
          "  confidence eval    --state FILE --account ID [--encryption-key HEX] --cases FILE.jsonl\n"
          "                     [--store memory|redis://...]\n"
          "  confidence bench   --state FILE --account ID [--encryption-key HEX] --cases FILE.jsonl\n"
          "                     [--iterations N]\n"
          "  confidence explain --state FILE --account ID [--encryption-key HEX] --secret S\n"
          "                     --context JSON --flag NAME [--json]\n"
          "  confidence version\n");
  return 2;
}

static int parse_args(int argc, char **argv, args *a)
{
  memset(a, 0, sizeof *a);
  a->iterations = 1000;
  for (int i = 2; i < argc; i++) {
    const char *opt = argv[i];
    if (!strcmp(opt, "--json")) {
      a->json = true;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "confidence: %s needs a value\n", opt);
      return -1;
    }
    const char *val = argv[++i];
    if (!strcmp(opt, "--state"))
      a->state = val;
    else if (!strcmp(opt, "--account"))
      a->account = val;
    else if (!strcmp(opt, "--encryption-key"))
      a->key = val;
    else if (!strcmp(opt, "--secret"))
      a->secret = val;
    else if (!strcmp(opt, "--context"))
      a->context = val;
    else if (!strcmp(opt, "--cases"))
      a->cases = val;
    else if (!strcmp(opt, "--store"))
      a->store = val;
    else if (!strcmp(opt, "--flag")) {
      if (a->n_flags == MAX_FLAG_ARGS) {
        fprintf(stderr, "confidence: too many --flag arguments\n");
        return -1;
      }
      a->flags[a->n_flags++] = val;
    } else if (!strcmp(opt, "--iterations")) {
      char *end;
      a->iterations = strtol(val, &end, 10);
      if (*end || a->iterations <= 0) {
        fprintf(stderr, "confidence: --iterations needs a positive integer\n");
        return -1;
      }
    } else {
      fprintf(stderr, "confidence: unknown option %s\n", opt);
      return -1;
    }
  }
  if (!a->state || !a->account) {
    fprintf(stderr, "confidence: --state and --account are required\n");
    return -1;
  }
  return 0;
}

static confidence_state *load_state(const args *a)
{
  confidence_state_options opts = CONFIDENCE_STATE_OPTIONS_INIT;
  opts.account_id = a->account;
  opts.encryption_key_hex = a->key;
  confidence_state *st = NULL;
  int rc = confidence_state_load_file(a->state, &opts, &st);
  if (rc)
    fprintf(stderr, "confidence: cannot load state %s: %s (%s)\n", a->state, confidence_last_error_message(),
            confidence_strerror(rc));
  return st;
}

/* --store: an in-memory store for this run, or Redis (persistent across
 * runs), through the same loop the provider uses. */
typedef struct cli_store {
  confidence_store *store; /* owned */
  cf_store_loop loop;
} cli_store;

static int open_store(const char *spec, cli_store *out)
{
  int rc;
  if (!strcmp(spec, "memory")) {
    confidence_memory_store_options mo = CONFIDENCE_MEMORY_STORE_OPTIONS_INIT;
    rc = confidence_memory_store_new(&mo, &out->store);
  } else if (!strncmp(spec, "redis://", 8)) {
#ifdef CLI_WITH_REDIS
    rc = confidence_redis_store_from_url(spec, &out->store);
#else
    fprintf(stderr, "confidence: this build has no Redis store (hiredis was not found)\n");
    return -1;
#endif
  } else {
    fprintf(stderr, "confidence: --store takes memory or redis://HOST[:PORT][/DB]\n");
    return -1;
  }
  if (rc == 0)
    rc = cf_store_loop_init(&out->loop, out->store, 0, 0);
  if (rc)
    fprintf(stderr, "confidence: --store %s: %s\n", spec, confidence_last_error_message());
  return rc ? -1 : 0;
}

/* Prints one output line for a case (a failure's error is part of it) and
 * returns whether the case failed. With a store, flags that need
 * materializations read (and write) it; a case's own "materializations"
 * are then not used. */
static bool eval_case(const confidence_state *st, const cli_case *c, confidence_resolve_result *res, cli_store *store)
{
  char *line;
  bool failed = c->error[0] != '\0';
  if (failed) {
    line = cli_result_json(res, c->error);
  } else {
    confidence_resolve_request req;
    cli_case_request(c, &req);
    char msg[CF_STORE_MSG] = "";
    int rc = store ? cf_store_loop_resolve(&store->loop, st, &req, res, msg, NULL, NULL) : confidence_resolve(st, &req, res);
    line = cli_result_json(res, rc == CF_STORE_FAILED ? msg : rc ? confidence_resolve_result_error(res) : NULL);
    failed = rc != 0;
  }
  if (line)
    puts(line);
  else
    puts("{\"resolved\":[],\"error\":\"out of memory\"}");
  confidence_string_free(line);
  return failed;
}

static int cmd_resolve(const args *a)
{
  if (!a->secret || !a->context) {
    fprintf(stderr, "confidence: resolve needs --secret and --context\n");
    return 2;
  }
  confidence_value *ctx = NULL;
  if (confidence_value_from_json(a->context, strlen(a->context), &ctx)) {
    fprintf(stderr, "confidence: --context: %s\n", confidence_last_error_message());
    return 2;
  }
  if (confidence_value_type_of(ctx) != CONFIDENCE_VALUE_STRUCT) {
    fprintf(stderr, "confidence: --context must be a JSON object\n");
    confidence_value_free(ctx);
    return 2;
  }
  confidence_state *st = load_state(a);
  if (!st) {
    confidence_value_free(ctx);
    return 1;
  }
  cli_store store = {0};
  if (a->store && open_store(a->store, &store)) {
    confidence_store_free(store.store);
    confidence_state_unref(st);
    confidence_value_free(ctx);
    return 2;
  }
  cli_case c = {.secret = a->secret, .flags = (const char **)a->flags, .n_flags = a->n_flags, .context = ctx};
  confidence_resolve_result *res = confidence_resolve_result_new();
  bool failed = eval_case(st, &c, res, a->store ? &store : NULL);
  confidence_resolve_result_free(res);
  confidence_store_free(store.store);
  confidence_state_unref(st);
  confidence_value_free(ctx);
  return failed ? 1 : 0;
}

static int cmd_explain(const args *a)
{
  if (!a->secret || !a->context || a->n_flags != 1) {
    fprintf(stderr, "confidence: explain needs --secret, --context and exactly one --flag\n");
    return 2;
  }
  confidence_value *ctx = NULL;
  if (confidence_value_from_json(a->context, strlen(a->context), &ctx) ||
      confidence_value_type_of(ctx) != CONFIDENCE_VALUE_STRUCT) {
    fprintf(stderr, "confidence: --context must be a JSON object\n");
    confidence_value_free(ctx);
    return 2;
  }
  confidence_state *st = load_state(a);
  int rc = st ? cli_explain(st, a->secret, a->flags[0], ctx, a->json, stdout) : 1;
  confidence_state_unref(st);
  confidence_value_free(ctx);
  return rc;
}

static int cmd_eval(const args *a, bool bench)
{
  if (!a->cases) {
    fprintf(stderr, "confidence: --cases is required\n");
    return 2;
  }
  confidence_state *st = load_state(a);
  if (!st)
    return 1;
  cli_case *cases = NULL;
  long n = cli_cases_load(a->cases, &cases);
  confidence_resolve_result *res = confidence_resolve_result_new();
  int rc = n < 0 || !res ? 1 : 0;
  cli_store store = {0};
  if (!rc && a->store && open_store(a->store, &store))
    rc = 2;
  if (!rc && !bench) {
    for (long i = 0; i < n; i++)
      eval_case(st, &cases[i], res, a->store ? &store : NULL);
  } else if (!rc && n > 0) {
    confidence_resolve_request *reqs = calloc((size_t)n, sizeof *reqs);
    long valid = 0;
    for (long i = 0; reqs && i < n; i++)
      if (!cases[i].error[0])
        cli_case_request(&cases[i], &reqs[valid++]);
    long long sink = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long it = 0; it < a->iterations; it++)
      for (long i = 0; i < valid; i++)
        sink += confidence_resolve(st, &reqs[i], res) + (long long)confidence_resolve_result_flag_count(res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    double total = (double)valid * (double)a->iterations;
    fprintf(stderr, "cases=%ld iterations=%ld checksum=%lld\n", valid, a->iterations, sink);
    if (total > 0 && secs > 0)
      printf("resolves/s=%.0f mean_us=%.3f\n", total / secs, secs * 1e6 / total);
    else
      printf("resolves/s=0 mean_us=0\n");
    free(reqs);
  }
  for (long i = 0; i < n; i++)
    cli_case_release(&cases[i]);
  free(cases);
  confidence_resolve_result_free(res);
  confidence_store_free(store.store);
  confidence_state_unref(st);
  return rc;
}

int main(int argc, char **argv)
{
  if (argc < 2)
    return usage();
  const char *cmd = argv[1];
  if (!strcmp(cmd, "version")) {
    printf("confidence %s\n", confidence_version());
    return 0;
  }
  if (strcmp(cmd, "resolve") && strcmp(cmd, "eval") && strcmp(cmd, "bench") && strcmp(cmd, "explain"))
    return usage();
  args a;
  if (parse_args(argc, argv, &a))
    return usage();
  if (!strcmp(cmd, "resolve"))
    return cmd_resolve(&a);
  if (!strcmp(cmd, "explain"))
    return cmd_explain(&a);
  return cmd_eval(&a, !strcmp(cmd, "bench"));
}
