/* Materialization stores in the provider: the shared scenarios with the
 * in-memory store, the options' rules (exclusive, versions, free exactly
 * once), store errors and timeouts (default + GENERAL, bounded wait,
 * recovery), asynchronous writes (bounded, counted), the memory store's cap
 * and concurrent use, and that flags without materializations never reach
 * the store. Usage: test_store STATES_DIR */
#include "store_scenarios.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "under_tools.h"

static confidence_store *memory;

/* ---- wrappers around the memory store ---------------------------------------- */

typedef struct wrap {
  int fail;          /* read returns this code (0: pass through) */
  uint32_t sleep_ms; /* read sleeps this long first */
  atomic_int reads, writes, frees;
} wrap;
static wrap w;

static int wrap_read(const confidence_store_read_op *const *ops, size_t n, confidence_store_batch *b, void *user)
{
  (void)user;
  atomic_fetch_add(&w.reads, 1);
  if (w.sleep_ms)
    cf_sleep_ms(w.sleep_ms);
  if (w.fail) {
    confidence_store_batch_set_error(b, "backend on fire");
    return w.fail;
  }
  return memory->read(ops, n, b, memory->user_data);
}

static int wrap_write(const confidence_store_write_op *const *ops, size_t n, confidence_store_batch *b, void *user)
{
  (void)user;
  atomic_fetch_add(&w.writes, 1);
  return memory->write(ops, n, b, memory->user_data);
}

static void wrap_free(void *user)
{
  (void)user;
  atomic_fetch_add(&w.frees, 1);
}

static confidence_store wrapped = {CONFIDENCE_STORE_VERSION, wrap_read, wrap_write, wrap_free, NULL};
static confidence_store wrapped_ro = {CONFIDENCE_STORE_VERSION, wrap_read, NULL, wrap_free, NULL};

static void memory_configure(confidence_provider_options *o, int read_only)
{
  o->materialization_store = read_only ? &wrapped_ro : &wrapped;
}

static void memory_seed(const char *unit, const char *mat)
{
  CHECK(confidence_memory_store_put_inclusion(memory, unit, 0, mat, 1) == 0);
}

static const store_kind memory_kind = {"memory", memory_configure, memory_seed, NULL};

/* ---- options ------------------------------------------------------------------ */

static void test_options(void)
{
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  o.client_secret = "s";
  o.materialization_store = &wrapped;
  o.use_remote_materialization_store = 1;
  confidence_provider *p = NULL;
  int frees = atomic_load(&w.frees);
  /* The provider takes the store in every case: refused, it is freed at
   * once (the caller never frees it, so it is freed exactly once). */
  CHECK(confidence_provider_new(&o, &p) == CONFIDENCE_EINVAL && p == NULL);
  CHECK(strstr(confidence_last_error_message(), "exclusive") != NULL);
  CHECK(atomic_load(&w.frees) == frees + 1);
  confidence_store bad = wrapped;
  bad.version = CONFIDENCE_STORE_VERSION + 1;
  o.use_remote_materialization_store = 0;
  o.materialization_store = &bad;
  CHECK(confidence_provider_new(&o, &p) == CONFIDENCE_EINVAL);
  CHECK(atomic_load(&w.frees) == frees + 2);
  bad = wrapped;
  bad.read = NULL;
  CHECK(confidence_provider_new(&o, &p) == CONFIDENCE_EINVAL);
  CHECK(atomic_load(&w.frees) == frees + 3);
  o.materialization_store = &wrapped;
  CHECK(confidence_provider_new(&o, NULL) == CONFIDENCE_EINVAL);
  CHECK(atomic_load(&w.frees) == frees + 4);
  frees += 4;
  /* accepted: freed exactly once, with the provider */
  CHECK(confidence_provider_new(&o, &p) == 0);
  CHECK(atomic_load(&w.frees) == frees);
  confidence_provider_free(p);
  CHECK(atomic_load(&w.frees) == frees + 1);
  /* a v3 caller knows no store fields: they read as zero */
  o.version = 3;
  CHECK(confidence_provider_new(&o, &p) == 0);
  confidence_store_stats s = CONFIDENCE_STORE_STATS_INIT;
  CHECK(confidence_provider_read_store_stats(p, &s) == 0 && s.reads == 0);
  s.version = 99;
  CHECK(confidence_provider_read_store_stats(p, &s) == CONFIDENCE_EINVAL);
  confidence_provider_free(p);
  CHECK(atomic_load(&w.frees) == frees + 1);
}

/* A failure after the store was accepted (here: no thread-local key left,
 * as with about a thousand live providers) frees it exactly once too, and
 * leaves nothing behind: once the other providers are gone, a provider can
 * be made again. */
static void test_store_taken_when_creation_fails_late(void)
{
  enum { MAX_LIVE = 4096 };
  static confidence_provider *live[MAX_LIVE];
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  o.client_secret = "s";
  o.max_queued_exposures = 2;
  o.max_queued_events = 2;
  size_t n = 0;
  while (n < MAX_LIVE && confidence_provider_new(&o, &live[n]) == 0)
    n++;
  CHECK(n < MAX_LIVE); /* the keys ran out */
  int frees = atomic_load(&w.frees);
  o.materialization_store = &wrapped;
  confidence_provider *p = NULL;
  CHECK(confidence_provider_new(&o, &p) == CONFIDENCE_ENOMEM && p == NULL);
  CHECK(atomic_load(&w.frees) == frees + 1);
  for (size_t i = 0; i < n; i++)
    confidence_provider_free(live[i]);
  o.materialization_store = NULL;
  CHECK(confidence_provider_new(&o, &p) == 0);
  confidence_provider_free(p);
}

/* ---- faults -------------------------------------------------------------------- */

static void test_faults(const char *states)
{
  fake_cdn_serve_file(states, STICKY_STATE);
  confidence_provider_options extra = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  extra.materialization_read_timeout_ms = 200;
  confidence_provider *p = start_provider(&memory_kind, "test-secret", 0, &extra);
  confidence_value *ctx = unit_context("fault-unit", NULL);
  confidence_details *d = confidence_details_new();
  /* an error: default, ERROR/GENERAL, the store's message */
  w.fail = CONFIDENCE_ENETWORK;
  char *v = confidence_provider_get_string(p, "sticky-flag-1.variant", ctx, "dflt", d);
  CHECK_STR(v, "dflt");
  CHECK(confidence_details_reason(d) == CONFIDENCE_EVAL_REASON_ERROR);
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_GENERAL);
  CHECK(strstr(confidence_details_error_message(d), "backend on fire") != NULL);
  confidence_string_free(v);
  /* a timeout: bounded by the read timeout (plus the store's own lateness) */
  w.fail = 0;
  w.sleep_ms = 400;
  int64_t t0 = cf_clock_ms();
  v = confidence_provider_get_string(p, "sticky-flag-1.variant", ctx, "dflt", d);
  int64_t took = cf_clock_ms() - t0;
  CHECK_STR(v, "dflt");
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_GENERAL);
  CHECK(strstr(confidence_details_error_message(d), "timed out after 200 ms") != NULL);
  CHECK(took < 1000);
  confidence_string_free(v);
  /* recovery */
  w.sleep_ms = 0;
  confidence_value_free(confidence_provider_get_object(p, "sticky-flag-1", ctx, NULL, d));
  CHECK(confidence_details_error_code(d) == 0 && *confidence_details_variant(d));
  confidence_store_stats s = CONFIDENCE_STORE_STATS_INIT;
  confidence_provider_read_store_stats(p, &s);
  CHECK(s.reads == 3 && s.read_failures == 2 && s.read_timeouts == 1 && s.writes == 1 && s.write_failures == 0);
  confidence_details_free(d);
  confidence_value_free(ctx);
  confidence_provider_free(p);
}

/* No store: the Python provider's message; and flags without
 * materializations never call the store. */
static void test_no_store_and_plain_flags(const char *states)
{
  char spec[4096];
  snprintf(spec, sizeof spec, "%s/../resolver-spec", states);
  fake_cdn_serve_file(spec, "state.pb");
  int reads = atomic_load(&w.reads);
  confidence_provider_options so = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  so.account_id = "test-account"; /* resolver-spec/account_id */
  confidence_provider *p = start_provider(&memory_kind, "test-secret", 0, &so);
  confidence_details *d = confidence_details_new();
  confidence_value *plain = confidence_value_new_struct();
  confidence_value_struct_set(plain, "targeting_key", confidence_value_new_string("u"));
  confidence_value_struct_set(plain, "country", confidence_value_new_string("SE"));
  confidence_value_free(confidence_provider_get_object(p, "simple-flag", plain, NULL, d));
  confidence_value_free(plain);
  CHECK(confidence_details_error_code(d) == 0 && *confidence_details_variant(d));
  CHECK(atomic_load(&w.reads) == reads); /* no materialization: the store was not asked */
  confidence_provider_free(p);
  fake_cdn_serve_file(states, STICKY_STATE);
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  o.client_secret = "test-secret", o.cdn_base_url = "http://cdn.invalid", o.account_id = ACCOUNT;
  o.transport = &cdn_transport, o.disable_exposure_collection = 1;
  CHECK(confidence_provider_new(&o, &p) == 0 && confidence_provider_start(p, 5000) == 0);
  confidence_value *ctx = unit_context("u", NULL);
  confidence_value_free(confidence_provider_get_object(p, "sticky-flag-1", ctx, NULL, d));
  CHECK(confidence_details_error_code(d) == CONFIDENCE_EVAL_ERROR_CODE_GENERAL);
  CHECK(strstr(confidence_details_error_message(d), "requires materializations") != NULL);
  confidence_provider_free(p);
  CHECK(atomic_load(&w.reads) == reads);
  confidence_details_free(d);
  confidence_value_free(ctx);
}

/* ---- asynchronous writes ----------------------------------------------------- */

static void test_async_writes(const char *states)
{
  fake_cdn_serve_file(states, STICKY_STATE);
  confidence_provider_options extra = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  extra.async_materialization_writes = 1;
  extra.max_queued_materialization_writes = 4;
  confidence_provider *p = start_provider(&memory_kind, "test-secret", 0, &extra);
  char unit[32];
  for (int i = 0; i < 50; i++) {
    snprintf(unit, sizeof unit, "async-%d", i);
    free(variant_of(p, "sticky-flag-1", unit, NULL, NULL));
  }
  for (int i = 0; i < 200; i++) { /* let the writer catch up */
    confidence_store_stats s = CONFIDENCE_STORE_STATS_INIT;
    confidence_provider_read_store_stats(p, &s);
    if (s.writes_queued == 0 && s.writes + s.writes_dropped == 50)
      break;
    cf_sleep_ms(10);
  }
  confidence_store_stats s = CONFIDENCE_STORE_STATS_INIT;
  confidence_provider_read_store_stats(p, &s);
  fprintf(stderr, "async: %llu written, %llu dropped\n", (unsigned long long)s.writes,
          (unsigned long long)s.writes_dropped);
  CHECK(s.writes + s.writes_dropped == 50 && s.writes >= 4 && s.writes_queued == 0);
  confidence_provider_free(p);
}

/* A child forked after the writer thread started writes through a writer
 * of its own, and frees the provider without joining the parent's. */
static void test_async_writes_after_fork(const char *states)
{
#ifdef UNDER_TSAN
  /* TSan's runtime refuses to start threads in the child of a
   * multi-threaded fork, which is what this test is about. */
  (void)states;
  fprintf(stderr, "async writes after fork: skipped under TSan (no threads after a multi-threaded fork)\n");
  return;
#endif
  fake_cdn_serve_file(states, STICKY_STATE);
  confidence_provider_options extra = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  extra.async_materialization_writes = 1;
  confidence_provider *p = start_provider(&memory_kind, "test-secret", 0, &extra);
  free(variant_of(p, "sticky-flag-1", "before-fork", NULL, NULL)); /* starts the writer */
  confidence_store_stats s = CONFIDENCE_STORE_STATS_INIT;
  for (int i = 0; i < 200 && (confidence_provider_read_store_stats(p, &s), s.writes < 1); i++)
    cf_sleep_ms(10);
  CHECK(s.writes == 1);
  size_t before = confidence_memory_store_count(memory);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    free(variant_of(p, "sticky-flag-1", "in-child", NULL, NULL));
    int ok = 0;
    for (int i = 0; i < 300 && !ok; i++) {
      ok = confidence_memory_store_count(memory) > before;
      if (!ok)
        cf_sleep_ms(10);
    }
    confidence_provider_free(p);
    _exit(ok ? 0 : 1);
  }
  CHECK(pid > 0);
  int status = -1;
  for (int i = 0; i < 1000 && pid > 0; i++) { /* at most 10 s */
    if (waitpid(pid, &status, WNOHANG) == pid)
      break;
    cf_sleep_ms(10);
  }
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (!(WIFEXITED(status)))
    kill(pid, SIGKILL);
  confidence_provider_free(p);
}

/* evaluate_all reads the store too: the sticky flag is assigned, not
 * MATERIALIZATION_NOT_SUPPORTED. */
static const char *all_flags_reason(confidence_provider *p, const char *flag, confidence_value **tree)
{
  confidence_value *ctx = unit_context("all-flags-unit", "SE");
  *tree = NULL;
  CHECK(confidence_provider_evaluate_all(p, ctx, 0, tree, NULL) == 0);
  confidence_value_free(ctx);
  const confidence_value *list = confidence_value_struct_get(*tree, "resolvedFlags");
  for (size_t i = 0; i < confidence_value_list_size(list); i++) {
    const confidence_value *e = confidence_value_list_at(list, i);
    if (!strcmp(confidence_value_string(confidence_value_struct_get(e, "flag"), NULL), flag))
      return confidence_value_string(confidence_value_struct_get(e, "reason"), NULL);
  }
  return "";
}

static void test_evaluate_all_with_store(const char *states)
{
  fake_cdn_serve_file(states, STICKY_STATE);
  confidence_provider *p = start_provider(&memory_kind, "test-secret", 0, NULL);
  int reads_before = atomic_load(&w.reads);
  confidence_value *tree;
  CHECK_STR(all_flags_reason(p, "flags/sticky-flag-1", &tree), "RESOLVE_REASON_MATCH");
  CHECK(atomic_load(&w.reads) == reads_before + 1); /* one batched read for every flag */
  confidence_value_free(tree);
  confidence_provider_free(p);
}

/* ---- the memory store itself --------------------------------------------------- */

static atomic_int hammer_failures; /* CHECK's counters are not for threads */

static void *hammer(void *arg)
{
  confidence_store *m = arg;
  char unit[32];
  for (int i = 0; i < 2000; i++) {
    snprintf(unit, sizeof unit, "u%d", i % 300);
    if (confidence_memory_store_put_variant(m, unit, 0, "m", "r", i % 2 ? "a" : "b") != 0)
      atomic_fetch_add(&hammer_failures, 1);
  }
  return NULL;
}

static void test_memory_store(void)
{
  confidence_memory_store_options mo = CONFIDENCE_MEMORY_STORE_OPTIONS_INIT;
  mo.max_entries = 4;
  confidence_store *m = NULL;
  CHECK(confidence_memory_store_new(&mo, &m) == 0);
  CHECK(confidence_memory_store_put_variant(m, "a\0b", 3, "m", "r", "v1") == 0); /* variant + inclusion */
  CHECK(confidence_memory_store_count(m) == 2);
  CHECK(confidence_memory_store_put_variant(m, "a", 0, "m", "r", "v2") == 0); /* "a" is another unit than "a\0b" */
  CHECK(confidence_memory_store_count(m) == 4);
  CHECK(confidence_memory_store_put_variant(m, "a\0b", 3, "m", "r", "v3") == 0); /* update: no new entry */
  CHECK(confidence_memory_store_put_inclusion(m, "a", 0, "m", 0) == 0);
  CHECK(confidence_memory_store_count(m) == 4);
  CHECK(confidence_memory_store_put_inclusion(m, "z", 0, "m", 1) == CONFIDENCE_ELIMIT);
  CHECK(confidence_memory_store_count(m) == 4);
  confidence_store_free(m);
  CHECK(confidence_memory_store_new(NULL, &m) == 0);
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    pthread_create(&t[i], NULL, hammer, m);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  CHECK(atomic_load(&hammer_failures) == 0);
  CHECK(confidence_memory_store_count(m) == 600);
  confidence_store_free(m);
  CHECK(confidence_memory_store_count(NULL) == 0);
  CHECK(confidence_memory_store_put_variant(&wrapped, "u", 0, "m", "r", "v") == CONFIDENCE_EINVAL);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: test_store STATES_DIR\n");
    return 2;
  }
  CHECK(confidence_memory_store_new(NULL, &memory) == 0);
  test_options();
  test_store_taken_when_creation_fails_late();
  test_memory_store();
  run_scenarios(&memory_kind, argv[1], "mem");
  test_faults(argv[1]);
  test_no_store_and_plain_flags(argv[1]);
  test_async_writes(argv[1]);
  test_async_writes_after_fork(argv[1]);
  test_evaluate_all_with_store(argv[1]);
  confidence_store_free(memory);
  fake_cdn_serve(NULL, 0);
  return check_finish();
}
