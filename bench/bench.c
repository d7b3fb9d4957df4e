/* confidence_bench: resolve throughput, heap allocations per resolve, and
 * state load time and memory of libconfidence. It prints figures; it is not
 * a test (bench/run.sh compares them with the official WASM resolver).
 *
 *   confidence_bench --manifest FILE [--min-time SEC] [--repeats N]
 *                    [--loads N] [--only NAME]
 *
 * The manifest lists scenarios, one a line, fields separated by blanks
 * (paths must not contain blanks), '#' starts a comment:
 *
 *   resolve NAME STATE ACCOUNT KEY CASES.jsonl
 *   load    NAME STATE ACCOUNT KEY
 *
 * ACCOUNT is the bare account id and KEY the AES-256 key in hex; either may
 * instead name a file holding the value, and KEY "-" means a plain state.
 * CASES.jsonl uses the oracle's case format (client_secret, flags, context;
 * other keys are ignored and every resolve runs without materializations).
 *
 * Resolves cycle through the cases round-robin on one thread with one reused
 * result object, as `wasm_oracle.py bench` does. Heap allocations are counted
 * twice: calls made by the libconfidence.a objects (the link wraps malloc,
 * calloc, realloc and free; see bench/CMakeLists.txt) and calls made anywhere
 * in the process (this file also replaces glibc's malloc family, forwarding
 * to __libc_malloc and friends). Each result is printed as a
 * `RESULT kind name=... key=value ...` line; run.sh parses those.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "confidence/confidence.h"

/* ---- allocation counting --------------------------------------------------- */

typedef struct alloc_counts {
  unsigned long long lib; /* malloc/calloc/realloc calls from libconfidence.a */
  unsigned long long all; /* the same calls from anywhere in the process */
} alloc_counts;

static unsigned long long g_lib_allocs, g_all_allocs;

static void bump(unsigned long long *counter) { __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }

static alloc_counts counts_now(void)
{
  alloc_counts c = {__atomic_load_n(&g_lib_allocs, __ATOMIC_RELAXED), __atomic_load_n(&g_all_allocs, __ATOMIC_RELAXED)};
  return c;
}

static alloc_counts counts_since(alloc_counts before)
{
  alloc_counts now = counts_now();
  alloc_counts d = {now.lib - before.lib, now.all - before.all};
  return d;
}

/* glibc's own entry points; replacing malloc in the executable is supported
 * by glibc as long as the whole family stays consistent, which forwarding
 * every call to the same allocator guarantees. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

void *malloc(size_t size)
{
  bump(&g_all_allocs);
  return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
  bump(&g_all_allocs);
  return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
  bump(&g_all_allocs);
  return __libc_realloc(p, size);
}

void free(void *p) { __libc_free(p); }

/* -Wl,--wrap=malloc sends every undefined reference to malloc in the linked
 * objects (libconfidence.a members and this file) to __wrap_malloc; its
 * __real_malloc is the malloc above. This file itself never allocates while
 * counts are taken, so the "lib" counter sees the library's calls only. */
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);

void *__wrap_malloc(size_t size)
{
  bump(&g_lib_allocs);
  return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
  bump(&g_lib_allocs);
  return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
  bump(&g_lib_allocs);
  return __real_realloc(p, size);
}

void __wrap_free(void *p) { __real_free(p); }

/* ---- small helpers ------------------------------------------------------------ */

static double now_sec(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sorts `v` in place. */
static double median(double *v, size_t n)
{
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long long rss_bytes(void)
{
  FILE *f = fopen("/proc/self/statm", "r");
  long long pages_total = 0, pages_resident = -1;
  if (f) {
    if (fscanf(f, "%lld %lld", &pages_total, &pages_resident) != 2)
      pages_resident = -1;
    fclose(f);
  }
  return pages_resident < 0 ? -1 : pages_resident * sysconf(_SC_PAGESIZE);
}

static long long max_rss_bytes(void)
{
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) ? -1 : (long long)ru.ru_maxrss * 1024;
}

static long long heap_in_use(void)
{
  struct mallinfo2 mi = mallinfo2();
  return (long long)(mi.uordblks + mi.hblkhd);
}

/* Whole file into a malloc'ed buffer (NUL-terminated); NULL on failure. */
static char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n - 1, f);
    if (n < cap - 1)
      break;
    char *bigger = realloc(buf, cap * 2);
    if (!bigger)
      free(buf);
    buf = bigger;
    cap *= 2;
  }
  int failed = ferror(f);
  fclose(f);
  if (!buf || failed) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* A literal value, or the trimmed first line of the file it names. */
static char *literal_or_file(const char *arg)
{
  size_t len;
  char *text = strchr(arg, '/') ? read_file(arg, &len) : NULL;
  if (!text)
    return strdup(arg);
  len = strcspn(text, "\r\n");
  while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
    len--;
  text[len] = '\0';
  return text;
}

/* ---- scenarios ------------------------------------------------------------------ */

typedef enum { SC_RESOLVE, SC_LOAD } scenario_kind;

typedef struct scenario {
  scenario_kind kind;
  char name[64];
  char *state_path, *account, *key, *cases_path;
} scenario;

typedef struct settings {
  double min_time; /* seconds of timed resolves per scenario */
  int repeats;     /* the timed time is split in this many runs; median reported */
  int loads;       /* timed loads per load scenario */
  const char *only;
} settings;

static void scenario_free(scenario *s)
{
  free(s->state_path);
  free(s->account);
  free(s->key);
  free(s->cases_path);
}

static int parse_manifest(const char *path, scenario **out, size_t *n_out)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "confidence_bench: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  scenario *list = NULL;
  size_t n = 0;
  char *line = NULL;
  size_t cap = 0;
  int lineno = 0, rc = 0;
  while (getline(&line, &cap, f) >= 0) {
    lineno++;
    line[strcspn(line, "#\r\n")] = '\0';
    char *field[7];
    int nf = 0;
    for (char *save = NULL, *tok = strtok_r(line, " \t", &save); tok && nf < 7; tok = strtok_r(NULL, " \t", &save))
      field[nf++] = tok;
    if (nf == 0)
      continue;
    int want = !strcmp(field[0], "resolve") ? 6 : !strcmp(field[0], "load") ? 5 : -1;
    if (want != nf || strlen(field[1]) >= sizeof list->name) {
      fprintf(stderr, "confidence_bench: %s:%d: expected 'resolve NAME STATE ACCOUNT KEY CASES' or "
                      "'load NAME STATE ACCOUNT KEY'\n", path, lineno);
      rc = -1;
      break;
    }
    scenario *grown = realloc(list, (n + 1) * sizeof *list);
    if (!grown) {
      rc = -1;
      break;
    }
    list = grown;
    scenario *s = &list[n++];
    memset(s, 0, sizeof *s);
    s->kind = want == 6 ? SC_RESOLVE : SC_LOAD;
    snprintf(s->name, sizeof s->name, "%s", field[1]);
    s->state_path = strdup(field[2]);
    s->account = literal_or_file(field[3]);
    s->key = strcmp(field[4], "-") ? literal_or_file(field[4]) : NULL;
    s->cases_path = want == 6 ? strdup(field[5]) : NULL;
  }
  free(line);
  fclose(f);
  if (rc) {
    for (size_t i = 0; i < n; i++)
      scenario_free(&list[i]);
    free(list);
    return rc;
  }
  *out = list;
  *n_out = n;
  return 0;
}

static confidence_state_options state_options(const scenario *s)
{
  confidence_state_options opts = CONFIDENCE_STATE_OPTIONS_INIT;
  opts.account_id = s->account;
  opts.encryption_key_hex = s->key;
  return opts;
}

/* ---- cases -------------------------------------------------------------------------- */

typedef struct bench_case {
  confidence_value *root; /* owns the strings the request borrows */
  const char **flags;
  confidence_resolve_request req;
} bench_case;

static void cases_free(bench_case *cases, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    confidence_value_free(cases[i].root);
    free(cases[i].flags);
  }
  free(cases);
}

/* Parses one case line into `c`; returns 0 or -1 with a message. */
static int case_parse(const char *line, size_t len, bench_case *c, char *err, size_t err_len)
{
  memset(c, 0, sizeof *c);
  confidence_resolve_request init = CONFIDENCE_RESOLVE_REQUEST_INIT;
  c->req = init;
  if (confidence_value_from_json(line, len, &c->root)) {
    snprintf(err, err_len, "invalid JSON: %s", confidence_last_error_message());
    return -1;
  }
  const confidence_value *secret = confidence_value_struct_get(c->root, "client_secret");
  if (confidence_value_type_of(secret) != CONFIDENCE_VALUE_STRING) {
    snprintf(err, err_len, "client_secret must be a string");
    return -1;
  }
  c->req.client_secret = confidence_value_string(secret, NULL);
  const confidence_value *flags = confidence_value_struct_get(c->root, "flags");
  size_t n_flags = confidence_value_list_size(flags);
  c->flags = calloc(n_flags + 1, sizeof *c->flags);
  if (!c->flags) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n_flags; i++) {
    const confidence_value *name = confidence_value_list_at(flags, i);
    if (confidence_value_type_of(name) != CONFIDENCE_VALUE_STRING) {
      snprintf(err, err_len, "flags must be a list of strings");
      return -1;
    }
    c->flags[i] = confidence_value_string(name, NULL);
  }
  c->req.flags = c->flags;
  c->req.flag_count = n_flags;
  const confidence_value *context = confidence_value_struct_get(c->root, "context");
  if (confidence_value_type_of(context) == CONFIDENCE_VALUE_STRUCT)
    c->req.context = context;
  else if (context && confidence_value_type_of(context) != CONFIDENCE_VALUE_NULL) {
    snprintf(err, err_len, "context must be an object");
    return -1;
  }
  c->req.materialization_mode = CONFIDENCE_MATERIALIZATIONS_UNSUPPORTED;
  return 0;
}

static int cases_load(const char *path, bench_case **out, size_t *n_out)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "confidence_bench: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  bench_case *cases = NULL;
  size_t n = 0, cap = 0;
  char *line = NULL;
  size_t line_cap = 0;
  ssize_t len;
  int lineno = 0, rc = 0;
  while ((len = getline(&line, &line_cap, f)) >= 0) {
    lineno++;
    if (strspn(line, " \t\r\n") == (size_t)len)
      continue;
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      bench_case *grown = realloc(cases, ncap * sizeof *cases);
      if (!grown) {
        rc = -1;
        break;
      }
      cases = grown;
      cap = ncap;
    }
    char err[256];
    if (case_parse(line, (size_t)len, &cases[n], err, sizeof err)) {
      fprintf(stderr, "confidence_bench: %s:%d: %s\n", path, lineno, err);
      n++;
      rc = -1;
      break;
    }
    n++;
  }
  free(line);
  fclose(f);
  if (!rc && n == 0) {
    fprintf(stderr, "confidence_bench: %s has no cases\n", path);
    rc = -1;
  }
  if (rc) {
    cases_free(cases, n);
    return -1;
  }
  *out = cases;
  *n_out = n;
  return 0;
}

/* ---- resolve throughput ------------------------------------------------------------------ */

typedef struct loop_out {
  double seconds;
  unsigned long long flags; /* resolved flags summed over the resolves */
  unsigned long long errors;
} loop_out;

/* `count` resolves cycling through the cases from *next. */
static loop_out resolve_loop(const confidence_state *st, const bench_case *cases, size_t n_cases, size_t *next,
                             unsigned long long count, confidence_resolve_result *res)
{
  loop_out o = {0, 0, 0};
  size_t i = *next;
  double t0 = now_sec();
  for (unsigned long long k = 0; k < count; k++) {
    if (confidence_resolve(st, &cases[i].req, res))
      o.errors++;
    o.flags += confidence_resolve_result_flag_count(res);
    if (++i == n_cases)
      i = 0;
  }
  o.seconds = now_sec() - t0;
  *next = i;
  return o;
}

static int bench_resolve(const scenario *s, const settings *cfg)
{
  bench_case *cases = NULL;
  size_t n_cases = 0;
  if (cases_load(s->cases_path, &cases, &n_cases))
    return -1;
  confidence_state_options opts = state_options(s);
  confidence_state *st = NULL;
  int rc = confidence_state_load_file(s->state_path, &opts, &st);
  if (rc) {
    fprintf(stderr, "confidence_bench: %s: cannot load %s: %s (%s)\n", s->name, s->state_path,
            confidence_last_error_message(), confidence_strerror(rc));
    cases_free(cases, n_cases);
    return -1;
  }
  confidence_resolve_result *res = confidence_resolve_result_new();
  if (!res) {
    confidence_state_unref(st);
    cases_free(cases, n_cases);
    return -1;
  }

  /* Cold: the first resolve into a fresh result object grows its arrays. */
  alloc_counts mark = counts_now();
  size_t next = 0;
  loop_out cold = resolve_loop(st, cases, n_cases, &next, 1, res);
  alloc_counts cold_allocs = counts_since(mark);
  if (cold.errors)
    fprintf(stderr, "confidence_bench: %s: resolve failed: %s\n", s->name, confidence_resolve_result_error(res));

  /* Warm-up: every case once (at least 2000 resolves), then calibrate a
   * batch to ~20 ms. */
  unsigned long long warm = n_cases < 2000 ? 2000 : n_cases;
  loop_out w = resolve_loop(st, cases, n_cases, &next, warm, res);
  unsigned long long batch = 256;
  for (;;) {
    loop_out probe = resolve_loop(st, cases, n_cases, &next, batch, res);
    if (probe.seconds >= 0.02 || batch > (1ULL << 40))
      break;
    batch *= 2;
  }

  /* Timed: `repeats` runs, each about min_time / repeats seconds. */
  double per_run = cfg->min_time / cfg->repeats;
  double *ns_per_resolve = calloc((size_t)cfg->repeats, sizeof *ns_per_resolve);
  double *ns_per_flag = calloc((size_t)cfg->repeats, sizeof *ns_per_flag);
  if (!ns_per_resolve || !ns_per_flag) {
    free(ns_per_resolve);
    free(ns_per_flag);
    confidence_resolve_result_free(res);
    confidence_state_unref(st);
    cases_free(cases, n_cases);
    return -1;
  }
  unsigned long long total = 0, flags = 0, errors = w.errors + cold.errors;
  double seconds = 0;
  mark = counts_now();
  for (int r = 0; r < cfg->repeats; r++) {
    loop_out run = {0, 0, 0};
    unsigned long long resolves = 0;
    while (run.seconds < per_run) {
      loop_out b = resolve_loop(st, cases, n_cases, &next, batch, res);
      run.seconds += b.seconds;
      run.flags += b.flags;
      run.errors += b.errors;
      resolves += batch;
    }
    ns_per_resolve[r] = run.seconds * 1e9 / (double)resolves;
    ns_per_flag[r] = run.flags ? run.seconds * 1e9 / (double)run.flags : 0;
    total += resolves;
    flags += run.flags;
    errors += run.errors;
    seconds += run.seconds;
  }
  alloc_counts steady = counts_since(mark);

  double med_ns = median(ns_per_resolve, (size_t)cfg->repeats);
  double min_ns = ns_per_resolve[0];
  double med_flag_ns = median(ns_per_flag, (size_t)cfg->repeats);
  printf("RESULT resolve name=%s cases=%zu resolves=%llu seconds=%.3f flags_per_resolve=%.2f "
         "resolves_per_s=%.0f ns_per_resolve=%.1f min_ns_per_resolve=%.1f ns_per_flag=%.1f "
         "allocs_per_resolve=%.4f allocs_all_per_resolve=%.4f steady_allocs=%llu steady_allocs_all=%llu "
         "first_resolve_allocs=%llu first_resolve_allocs_all=%llu errors=%llu\n",
         s->name, n_cases, total, seconds, (double)flags / (double)total, 1e9 / med_ns, med_ns, min_ns, med_flag_ns,
         (double)steady.lib / (double)total, (double)steady.all / (double)total, steady.lib, steady.all,
         cold_allocs.lib, cold_allocs.all, errors);
  fflush(stdout);

  free(ns_per_resolve);
  free(ns_per_flag);
  confidence_resolve_result_free(res);
  confidence_state_unref(st);
  cases_free(cases, n_cases);
  return errors ? 1 : 0;
}

/* ---- state load time and memory ----------------------------------------------------------- */

typedef struct load_memory {
  int rc;
  /* first: the first snapshot of a fresh process, including one-time costs
   * (code pages of libcrypto/zlib/protobuf-c faulted in, OpenSSL's lazy
   * initialisation); second: another snapshot of the same state loaded
   * while the first is still held, i.e. what each further snapshot costs. */
  long long rss_first, rss_second, peak_first, peak_second, heap_first, heap_second, state_bytes;
  unsigned long long allocs_lib, allocs_all;
  size_t flags;
  char account[128];
} load_memory;

typedef struct mem_point {
  long long rss, peak, heap;
} mem_point;

static mem_point mem_now(void)
{
  mem_point p = {rss_bytes(), max_rss_bytes(), heap_in_use()};
  if (p.peak < p.rss)
    p.peak = p.rss;
  return p;
}

/* The loads run in a forked child, so that no earlier load's freed memory
 * is reused and the growth is what a fresh process pays. */
static void memory_child(const scenario *s, const char *data, size_t len, load_memory *m)
{
  confidence_state_options opts = state_options(s);
  confidence_state *first = NULL, *second = NULL;
  mem_point p0 = mem_now();
  alloc_counts mark = counts_now();
  m->rc = confidence_state_load(data, len, &opts, &first);
  alloc_counts used = counts_since(mark);
  mem_point p1 = mem_now();
  if (!m->rc)
    m->rc = confidence_state_load(data, len, &opts, &second);
  mem_point p2 = mem_now();
  m->rss_first = p1.rss - p0.rss;
  m->rss_second = p2.rss - p1.rss;
  m->peak_first = p1.peak - p0.peak;
  m->peak_second = p2.peak - p1.peak;
  m->heap_first = p1.heap - p0.heap;
  m->heap_second = p2.heap - p1.heap;
  m->allocs_lib = used.lib;
  m->allocs_all = used.all;
  if (!m->rc) {
    m->state_bytes = (long long)confidence_state_memory_bytes(first);
    m->flags = confidence_state_flag_count(first);
    snprintf(m->account, sizeof m->account, "%s", confidence_state_account_id(first));
  }
}

static int measure_memory(const scenario *s, const char *data, size_t len, load_memory *out)
{
  int fds[2];
  if (pipe(fds))
    return -1;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    close(fds[0]);
    load_memory m;
    memset(&m, 0, sizeof m);
    memory_child(s, data, len, &m);
    ssize_t wrote = write(fds[1], &m, sizeof m);
    _exit(wrote == (ssize_t)sizeof m ? 0 : 1);
  }
  close(fds[1]);
  ssize_t got = read(fds[0], out, sizeof *out);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return got == (ssize_t)sizeof *out && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int bench_load(const scenario *s, const settings *cfg, unsigned long long *lib_allocs_seen)
{
  size_t len = 0;
  char *data = read_file(s->state_path, &len);
  if (!data) {
    fprintf(stderr, "confidence_bench: %s: cannot read %s\n", s->name, s->state_path);
    return -1;
  }
  load_memory mem;
  if (measure_memory(s, data, len, &mem)) {
    fprintf(stderr, "confidence_bench: %s: memory measurement failed\n", s->name);
    free(data);
    return -1;
  }
  if (mem.rc) {
    fprintf(stderr, "confidence_bench: %s: load failed: %s\n", s->name, confidence_strerror(mem.rc));
    free(data);
    return -1;
  }

  confidence_state_options opts = state_options(s);
  double *load_us = calloc((size_t)cfg->loads, sizeof *load_us);
  double *file_us = calloc((size_t)cfg->loads, sizeof *file_us);
  double *free_us = calloc((size_t)cfg->loads, sizeof *free_us);
  int rc = load_us && file_us && free_us ? 0 : -1;
  for (int i = 0; !rc && i < 2; i++) { /* warm-up: page in code and data */
    confidence_state *st = NULL;
    rc = confidence_state_load(data, len, &opts, &st);
    confidence_state_unref(st);
  }
  alloc_counts mark = counts_now();
  for (int i = 0; !rc && i < cfg->loads; i++) {
    confidence_state *st = NULL;
    double t0 = now_sec();
    rc = confidence_state_load(data, len, &opts, &st);
    double t1 = now_sec();
    confidence_state_unref(st);
    double t2 = now_sec();
    load_us[i] = (t1 - t0) * 1e6;
    free_us[i] = (t2 - t1) * 1e6;
  }
  alloc_counts used = counts_since(mark);
  for (int i = 0; !rc && i < cfg->loads; i++) {
    confidence_state *st = NULL;
    double t0 = now_sec();
    rc = confidence_state_load_file(s->state_path, &opts, &st);
    file_us[i] = (now_sec() - t0) * 1e6;
    confidence_state_unref(st);
  }
  if (!rc) {
    size_t n = (size_t)cfg->loads;
    double med_free = median(free_us, n), med_file = median(file_us, n), med = median(load_us, n);
    printf("RESULT load name=%s bytes=%zu encrypted=%d flags=%zu account=%s median_us=%.1f min_us=%.1f "
           "max_us=%.1f median_file_us=%.1f median_free_us=%.1f allocs_per_load=%.1f allocs_all_per_load=%.1f "
           "first_load_allocs=%llu first_load_allocs_all=%llu rss_first_kib=%.1f peak_first_kib=%.1f "
           "heap_first_kib=%.1f rss_second_kib=%.1f peak_second_kib=%.1f heap_second_kib=%.1f state_kib=%.1f\n",
           s->name, len, s->key != NULL, mem.flags, mem.account, med, load_us[0], load_us[n - 1], med_file, med_free,
           (double)used.lib / (double)n, (double)used.all / (double)n, mem.allocs_lib, mem.allocs_all,
           (double)mem.rss_first / 1024, (double)mem.peak_first / 1024, (double)mem.heap_first / 1024,
           (double)mem.rss_second / 1024, (double)mem.peak_second / 1024, (double)mem.heap_second / 1024,
           (double)mem.state_bytes / 1024);
    fflush(stdout);
    *lib_allocs_seen += used.lib + mem.allocs_lib;
  } else {
    fprintf(stderr, "confidence_bench: %s: load failed: %s (%s)\n", s->name, confidence_last_error_message(),
            confidence_strerror(rc));
  }
  free(load_us);
  free(file_us);
  free(free_us);
  free(data);
  return rc ? -1 : 0;
}

/* ---- main ------------------------------------------------------------------------------------- */

static int usage(void)
{
  fprintf(stderr, "usage: confidence_bench --manifest FILE [--min-time SEC] [--repeats N] [--loads N] "
                  "[--only NAME]\n");
  return 2;
}

int main(int argc, char **argv)
{
  settings cfg = {1.0, 5, 50, NULL};
  const char *manifest = NULL;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc)
      return usage();
    const char *opt = argv[i], *val = argv[++i];
    char *end = NULL;
    if (!strcmp(opt, "--manifest"))
      manifest = val;
    else if (!strcmp(opt, "--only"))
      cfg.only = val;
    else if (!strcmp(opt, "--min-time"))
      cfg.min_time = strtod(val, &end);
    else if (!strcmp(opt, "--repeats"))
      cfg.repeats = (int)strtol(val, &end, 10);
    else if (!strcmp(opt, "--loads"))
      cfg.loads = (int)strtol(val, &end, 10);
    else
      return usage();
    if (end && *end)
      return usage();
  }
  if (!manifest || !(cfg.min_time > 0) || cfg.repeats < 1 || cfg.loads < 1)
    return usage();

  scenario *list = NULL;
  size_t n = 0;
  if (parse_manifest(manifest, &list, &n))
    return 2;
  printf("libconfidence %s, %d timed runs per resolve scenario (%.2f s total), %d timed loads per state\n",
         confidence_version(), cfg.repeats, cfg.min_time, cfg.loads);

  /* Loads first: their memory is measured in fresh children of a process
   * that has not loaded anything yet. */
  int failures = 0;
  unsigned long long lib_allocs_in_loads = 0;
  size_t loads_run = 0;
  for (size_t i = 0; i < n; i++)
    if (list[i].kind == SC_LOAD && (!cfg.only || !strcmp(cfg.only, list[i].name))) {
      failures += bench_load(&list[i], &cfg, &lib_allocs_in_loads) != 0;
      loads_run++;
    }
  if (loads_run) {
    /* The counters are only meaningful if --wrap reached the archive's objects. */
    if (lib_allocs_in_loads == 0) {
      printf("RESULT wrapcheck ok=0 lib_allocs_during_loads=0\n");
      fprintf(stderr, "confidence_bench: --wrap=malloc did not intercept libconfidence.a; allocation counts "
                      "are meaningless\n");
      failures++;
    } else {
      printf("RESULT wrapcheck ok=1 lib_allocs_during_loads=%llu\n", lib_allocs_in_loads);
    }
  }
  for (size_t i = 0; i < n; i++)
    if (list[i].kind == SC_RESOLVE && (!cfg.only || !strcmp(cfg.only, list[i].name)))
      failures += bench_resolve(&list[i], &cfg) != 0;

  for (size_t i = 0; i < n; i++)
    scenario_free(&list[i]);
  free(list);
  return failures ? 1 : 0;
}
