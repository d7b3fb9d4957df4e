/* confidence_bench_provider: what a flag evaluation costs through the
 * provider's public API (confidence_provider_get_bool) compared with the raw
 * resolver, what exposure logging adds, and how evaluation scales from one
 * thread to two. It prints figures; it is not a test (bench/run.sh runs it
 * and prints the target verdicts).
 *
 *   confidence_bench_provider --state FILE --account ID --secret SECRET
 *       [--flag NAME] [--path PATH] [--context JSON] [--min-time SEC]
 *       [--repeats N] [--rates R1,R2,...] [--paced-time SEC]
 *       [--log-poll-ms MS] [--queue-cap N] [--bg-nice N] [--only SCENARIO]
 *
 * Every provider is bootstrapped offline from FILE (state_file + account_id,
 * disable_state_sync) and ships its flag log through an in-process fake
 * transport that answers every POST with gRPC OK (status 200, grpc-status 0,
 * an empty 5-byte gRPC message), so no network is used. log_poll_interval_ms
 * is an hour (--log-poll-ms): batches go out only when the bench calls
 * confidence_provider_flush between timed segments, and max_queued_exposures
 * is 4,000,000 (--queue-cap) so that the queue between drainer and sender
 * never fills within a segment; every drop reported is then a full
 * per-thread ring. --log-poll-ms 0 --queue-cap 0 runs the provider's
 * defaults (10 s, 100000) instead. --bg-nice N (an experiment, off by
 * default) gives the providers' background threads nice value N.
 *
 * Scenarios (all run unless --only names one):
 *
 *   single   one thread. Each repeat runs back to back: the raw
 *            confidence_resolve of flags/NAME with a reused result, then
 *            get_bool("NAME.PATH") at full speed on a provider without
 *            exposure logging (disable_exposure_collection=1) and on one with
 *            it, the same two with a details object, and the same two in
 *            bursts of 4096 with a flush (which drains the ring) after each,
 *            so that no record is dropped. At full speed the rings overflow
 *            and most evaluations take the cheaper drop path; the bursts show
 *            the cost when every record is queued. Each variant is timed for
 *            min-time/repeats s (bursts: half that); medians over the
 *            repeats, ratios are medians of per-repeat ratios.
 *   paced    get_bool at a fixed rate per thread (each --rates entry, in 1 and
 *            2 threads, logging off and on) for --paced-time s: does the log
 *            thread keep up (drops), and what does an evaluation cost on the
 *            evaluating thread when the rings do not overflow.
 *   threads  get_bool at full speed in 1 and in 2 threads on one provider,
 *            alternating, logging off and on; throughput and the 2/1 ratio.
 *
 * Before every repeat (and every paced run) a register-only spin loop in 1
 * and 2 threads measures the 2/1 ratio the machine allows at that moment
 * (spin_ratio; 2.0 when both cores are free). On a shared 2-core VM that is
 * the ceiling of the threads ratio; the threads scenario also reports its
 * medians over the quiet repeats (spin_ratio >= 1.9) alone.
 *
 * Each figure is printed as a `RESULT kind name=... key=value ...` line.
 * CPU figures: "cpu" is the evaluating thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID); "bg" is the rest of the process's CPU time from
 * the start of a segment until its flush returned, i.e. the provider's
 * drainer and sender encoding, queueing and shipping that segment's records.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "confidence/confidence.h"
#include "confidence/sys/transport.h"
#include "fake_transport.h"

/* Evaluations between two clock reads in the full-speed loops. */
#define CHECK_EVERY 1024
/* Paced loops wake once per tick and catch up with the schedule. */
#define TICK_NS 1000000LL
/* Defaults of --log-poll-ms and --queue-cap (0 there: the provider's own
 * defaults, 10 s and 100000). */
#define LOG_POLL_MS (3600u * 1000u)
#define QUEUE_CAP 4000000u
#define FLUSH_TIMEOUT_MS 60000u
#define MAX_RATES 8
/* Seconds per half of a machine probe; a repeat counts as quiet when two
 * spinning threads got at least QUIET_SPIN times one thread's work. */
#define SPIN_SECONDS 0.05
#define QUIET_SPIN 1.9

/* ---- clocks and medians ------------------------------------------------------- */

static double clock_sec(clockid_t id)
{
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_sec(void) { return clock_sec(CLOCK_MONOTONIC); }
static double thread_cpu_sec(void) { return clock_sec(CLOCK_THREAD_CPUTIME_ID); }
static double process_cpu_sec(void) { return clock_sec(CLOCK_PROCESS_CPUTIME_ID); }

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of n values (at most 64); `v` is left untouched. */
static double median_of(const double *v, int n)
{
  double s[64];
  if (n < 1)
    return 0;
  if (n > 64)
    n = 64;
  memcpy(s, v, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double min_of(const double *v, int n)
{
  double m = n > 0 ? v[0] : 0;
  for (int i = 1; i < n; i++)
    if (v[i] < m)
      m = v[i];
  return m;
}

static double max_of(const double *v, int n)
{
  double m = n > 0 ? v[0] : 0;
  for (int i = 1; i < n; i++)
    if (v[i] > m)
      m = v[i];
  return m;
}

/* ---- fake transport ------------------------------------------------------------- */

typedef struct fake_counts {
  atomic_ullong posts, post_bytes, other;
} fake_counts;

static fake_counts g_fake;

/* Answers every POST as a successful unary gRPC call; anything else (a CDN
 * GET, which disable_state_sync should rule out) gets a 404. */
static int fake_exchange(const confidence_http_request *req, confidence_http_response *resp, void *user_data)
{
  fake_counts *c = user_data;
  if (!req->method || strcmp(req->method, "POST") != 0) {
    atomic_fetch_add(&c->other, 1);
    resp->status = 404;
    return 0;
  }
  atomic_fetch_add(&c->posts, 1);
  atomic_fetch_add(&c->post_bytes, (unsigned long long)req->body_len);
  fake_grpc_reply(resp, true);
  return 0;
}

static const confidence_transport g_transport = {CONFIDENCE_TRANSPORT_VERSION, fake_exchange, fake_free_nothing,
                                                 &g_fake};

/* ---- setup ------------------------------------------------------------------------ */

typedef struct bench {
  const char *state_path, *account, *secret;
  char flag_key[300];  /* get_bool's key: NAME.PATH */
  char flag_name[300]; /* the raw resolve's flag: flags/NAME */
  confidence_value *context;
  confidence_state *state; /* the raw resolver's snapshot */
  double min_time, paced_time;
  int repeats;
  unsigned log_poll_ms, queue_cap;
  int bg_nice; /* nonzero: renice the providers' threads (an experiment) */
  int dedup;   /* apply dedup in the providers (off except in the dedup scenario, so the
                * other scenarios measure every record's encoding, as before dedup existed) */
  double rates[MAX_RATES];
  int n_rates;
  const char *only;
} bench;

static void provider_log(int level, const char *message, void *user_data)
{
  (void)user_data;
  fprintf(stderr, "confidence_bench_provider: provider %s: %s\n", level >= CONFIDENCE_LOG_ERROR ? "error" : "warning",
          message);
}

/* --bg-nice: gives every thread of the process except the calling one (the
 * main thread, before any worker exists) the nice value `nice`, which after
 * provider_open means the providers' background threads. Threads created
 * later inherit the main thread's priority. An experiment for the question
 * "what if the library ran its drainer and sender at a lower priority". */
static void renice_background(int nice)
{
  pid_t self = gettid();
  DIR *dir = opendir("/proc/self/task");
  if (!dir)
    return;
  for (struct dirent *e; (e = readdir(dir));) {
    pid_t tid = (pid_t)atoi(e->d_name);
    if (tid > 0 && tid != self && setpriority(PRIO_PROCESS, (id_t)tid, nice))
      fprintf(stderr, "confidence_bench_provider: setpriority(%d): %s\n", (int)tid, strerror(errno));
  }
  closedir(dir);
}

/* A READY provider on the bench's state, or NULL with a message. */
static confidence_provider *provider_open(const bench *b, int logging)
{
  confidence_provider_options o = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  o.client_secret = b->secret;
  o.state_file = b->state_path;
  o.account_id = b->account;
  o.disable_state_sync = 1;
  o.disable_exposure_collection = !logging;
  o.log_poll_interval_ms = b->log_poll_ms;
  o.max_queued_exposures = b->queue_cap;
  o.disable_apply_dedup = !b->dedup;
  o.transport = &g_transport;
  o.log = provider_log;
  o.log_level = CONFIDENCE_LOG_WARN;
  confidence_provider *p = NULL;
  int rc = confidence_provider_new(&o, &p);
  if (!rc)
    rc = confidence_provider_start(p, 5000);
  if (rc || confidence_provider_status(p) != CONFIDENCE_STATUS_READY) {
    fprintf(stderr, "confidence_bench_provider: provider not ready: %s (%s)\n", confidence_last_error_message(),
            confidence_strerror(rc));
    confidence_provider_free(p);
    return NULL;
  }
  if (b->bg_nice)
    renice_background(b->bg_nice);
  return p;
}

static confidence_provider_stats stats_of(const confidence_provider *p)
{
  confidence_provider_stats s = CONFIDENCE_PROVIDER_STATS_INIT;
  confidence_provider_read_stats(p, &s);
  return s;
}

/* What happened to one segment's records: drains the rings and ships the
 * queue (flush), then the counters since `before`. */
typedef struct settled {
  unsigned long long evaluations, dropped, sent;
  int flush_rc;
} settled;

static settled settle(confidence_provider *p, const confidence_provider_stats *before)
{
  settled s;
  s.flush_rc = confidence_provider_flush(p, FLUSH_TIMEOUT_MS);
  confidence_provider_stats after = stats_of(p);
  s.evaluations = after.evaluations - before->evaluations;
  s.dropped = after.exposures_dropped - before->exposures_dropped;
  s.sent = after.exposures_sent - before->exposures_sent;
  if (s.flush_rc)
    fprintf(stderr, "confidence_bench_provider: flush failed: %s\n", confidence_strerror(s.flush_rc));
  return s;
}

/* ---- evaluation loops ------------------------------------------------------------------ */

typedef struct run_out {
  unsigned long long evals, errors;
  double wall, cpu; /* seconds: elapsed, and this thread's CPU time */
} run_out;

/* The raw resolver: one flag, one reused result, until `seconds` passed. */
static run_out loop_raw(const bench *b, confidence_resolve_result *res, double seconds)
{
  const char *flags[1] = {b->flag_name};
  confidence_resolve_request req = CONFIDENCE_RESOLVE_REQUEST_INIT;
  req.client_secret = b->secret;
  req.flags = flags;
  req.flag_count = 1;
  req.context = b->context;
  run_out o = {0, 0, 0, 0};
  double c0 = thread_cpu_sec(), t0 = now_sec(), t;
  do {
    for (int i = 0; i < CHECK_EVERY; i++)
      if (confidence_resolve(b->state, &req, res) || confidence_resolve_result_flag_count(res) != 1)
        o.errors++;
    o.evals += CHECK_EVERY;
  } while ((t = now_sec()) - t0 < seconds);
  o.wall = t - t0;
  o.cpu = thread_cpu_sec() - c0;
  return o;
}

/* get_bool at full speed; the flag evaluates to true, the default is false. */
static run_out loop_bool(const bench *b, confidence_provider *p, confidence_details *d, double seconds)
{
  run_out o = {0, 0, 0, 0};
  double c0 = thread_cpu_sec(), t0 = now_sec(), t;
  do {
    unsigned ok = 0;
    for (int i = 0; i < CHECK_EVERY; i++)
      ok += (unsigned)confidence_provider_get_bool(p, b->flag_key, b->context, 0, d);
    o.errors += CHECK_EVERY - ok;
    o.evals += CHECK_EVERY;
  } while ((t = now_sec()) - t0 < seconds);
  o.wall = t - t0;
  o.cpu = thread_cpu_sec() - c0;
  if (d && confidence_details_reason(d) != CONFIDENCE_EVAL_REASON_TARGETING_MATCH)
    o.errors++;
  return o;
}

typedef struct paced_out {
  run_out run;
  double busy;            /* seconds spent inside evaluation batches */
  unsigned long long late; /* ticks that started behind schedule */
} paced_out;

/* get_bool at `rate` per second for `seconds`: every tick evaluates what the
 * schedule asks for so far, timing only the evaluations, then sleeps to the
 * next tick. */
static paced_out loop_paced(const bench *b, confidence_provider *p, double rate, double seconds)
{
  paced_out o;
  memset(&o, 0, sizeof o);
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long long start_ns = (long long)start.tv_sec * 1000000000LL + start.tv_nsec;
  long long ticks = (long long)(seconds * 1e9 / (double)TICK_NS);
  double c0 = thread_cpu_sec(), t0 = now_sec();
  for (long long k = 1; k <= ticks; k++) {
    unsigned long long due = (unsigned long long)(rate * (double)(k * TICK_NS) / 1e9);
    double b0 = now_sec();
    unsigned long long ok = 0, n = due - o.run.evals;
    for (unsigned long long i = 0; i < n; i++)
      ok += (unsigned)confidence_provider_get_bool(p, b->flag_key, b->context, 0, NULL);
    o.busy += now_sec() - b0;
    o.run.errors += n - ok;
    o.run.evals = due;
    long long next_ns = start_ns + k * TICK_NS;
    struct timespec next = {(time_t)(next_ns / 1000000000LL), (long)(next_ns % 1000000000LL)};
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((long long)now.tv_sec * 1000000000LL + now.tv_nsec >= next_ns)
      o.late++;
    else
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
      }
  }
  o.run.wall = now_sec() - t0;
  o.run.cpu = thread_cpu_sec() - c0;
  return o;
}

/* ---- worker threads ---------------------------------------------------------------------- */

typedef struct worker {
  pthread_t thread;
  const bench *b;
  confidence_provider *p;
  pthread_barrier_t *go;
  double seconds, rate; /* rate 0: full speed */
  paced_out out;
} worker;

static void *worker_main(void *arg)
{
  worker *w = arg;
  /* Register this thread's slot before the clock starts. */
  (void)confidence_provider_get_bool(w->p, w->b->flag_key, w->b->context, 0, NULL);
  pthread_barrier_wait(w->go);
  if (w->rate > 0) {
    w->out = loop_paced(w->b, w->p, w->rate, w->seconds);
  } else {
    memset(&w->out, 0, sizeof w->out);
    w->out.run = loop_bool(w->b, w->p, NULL, w->seconds);
    w->out.busy = w->out.run.wall;
  }
  return NULL;
}

/* One segment in `n` fresh threads that start together. A thread that
 * cannot be started leaves the others waiting at the barrier: give up. */
static void run_threads(const bench *b, confidence_provider *p, int n, double seconds, double rate, worker *ws)
{
  pthread_barrier_t go;
  if (pthread_barrier_init(&go, NULL, (unsigned)n)) {
    fprintf(stderr, "confidence_bench_provider: pthread_barrier_init failed\n");
    exit(1);
  }
  for (int i = 0; i < n; i++) {
    worker *w = &ws[i];
    memset(w, 0, sizeof *w);
    w->b = b;
    w->p = p;
    w->go = &go;
    w->seconds = seconds;
    w->rate = rate;
    if (pthread_create(&w->thread, NULL, worker_main, w)) {
      fprintf(stderr, "confidence_bench_provider: cannot start %d threads\n", n);
      exit(1);
    }
  }
  for (int i = 0; i < n; i++)
    pthread_join(ws[i].thread, NULL);
  pthread_barrier_destroy(&go);
}

/* ---- machine probe --------------------------------------------------------------------------- */

/* What two threads can get out of this machine right now: a register-only
 * integer loop in 1 and in 2 threads. On a shared 2-core VM this is the
 * ceiling for the threads scenario's 2/1 ratio, and it tells whether other
 * work competed with the provider's background threads. */
typedef struct spinner {
  pthread_t thread;
  pthread_barrier_t *go;
  double seconds;
  unsigned long long work;
  double wall;
} spinner;

static void *spin_main(void *arg)
{
  spinner *s = arg;
  pthread_barrier_wait(s->go);
  uint64_t x = 88172645463325252ULL;
  unsigned long long rounds = 0;
  double t0 = now_sec(), t;
  do {
    for (int i = 0; i < 4096; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
    }
    rounds++;
  } while ((t = now_sec()) - t0 < s->seconds);
  s->wall = t - t0;
  s->work = rounds + (x == 0); /* keeps x live */
  return NULL;
}

/* Work per second summed over `n` spinning threads. */
static double spin_rate(int n, double seconds)
{
  spinner s[2];
  pthread_barrier_t go;
  if (pthread_barrier_init(&go, NULL, (unsigned)n))
    return 0;
  for (int i = 0; i < n; i++) {
    memset(&s[i], 0, sizeof s[i]);
    s[i].go = &go;
    s[i].seconds = seconds;
    if (pthread_create(&s[i].thread, NULL, spin_main, &s[i])) {
      fprintf(stderr, "confidence_bench_provider: cannot start a thread\n");
      exit(1);
    }
  }
  double rate = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(s[i].thread, NULL);
    rate += (double)s[i].work / s[i].wall;
  }
  pthread_barrier_destroy(&go);
  return rate;
}

/* 2-thread over 1-thread spin throughput now: 2.0 on an idle 2-core
 * machine, about 1.0 when other work keeps one core busy. */
static double spin_probe(void)
{
  double one = spin_rate(1, SPIN_SECONDS);
  return one > 0 ? spin_rate(2, SPIN_SECONDS) / one : 0;
}

/* ---- scenario: single ------------------------------------------------------------------------ */

/* K_FULL: get_bool flat out, so the rings overflow and most records take
 * the cheap drop path. K_BURST: bursts of half a ring, each followed by an
 * untimed flush that drains the ring, so every record is queued. */
enum { K_RAW, K_FULL, K_BURST };

typedef struct variant {
  const char *name;
  int kind, logging, details;
  int nolog_peer; /* the same variant without logging, or -1 */
} variant;

static const variant variants[] = {
    {"raw", K_RAW, 0, 0, -1},
    {"bool-nolog", K_FULL, 0, 0, -1},
    {"bool-log", K_FULL, 1, 0, 1},
    {"bool-details-nolog", K_FULL, 0, 1, -1},
    {"bool-details-log", K_FULL, 1, 1, 3},
    {"bool-burst-nolog", K_BURST, 0, 0, -1},
    {"bool-burst-log", K_BURST, 1, 0, 5},
};
#define N_VARIANTS (int)(sizeof variants / sizeof variants[0])
#define BURST 4096 /* half of a slot's ring (CF_SLOT_RING = 8192) */

/* K_BURST: only the bursts are timed. */
static run_out loop_burst(const bench *b, confidence_provider *p, double seconds, int *flush_failures)
{
  run_out o = {0, 0, 0, 0};
  do {
    unsigned ok = 0;
    double c0 = thread_cpu_sec(), t0 = now_sec();
    for (int i = 0; i < BURST; i++)
      ok += (unsigned)confidence_provider_get_bool(p, b->flag_key, b->context, 0, NULL);
    o.wall += now_sec() - t0;
    o.cpu += thread_cpu_sec() - c0;
    o.errors += BURST - ok;
    o.evals += BURST;
    *flush_failures += confidence_provider_flush(p, FLUSH_TIMEOUT_MS) != 0;
  } while (o.wall < seconds);
  return o;
}

static int scenario_single(const bench *b)
{
  confidence_provider *prov[2] = {provider_open(b, 0), provider_open(b, 1)};
  confidence_resolve_result *res = confidence_resolve_result_new();
  confidence_details *det = confidence_details_new();
  if (!prov[0] || !prov[1] || !res || !det) {
    confidence_provider_free(prov[0]);
    confidence_provider_free(prov[1]);
    confidence_resolve_result_free(res);
    confidence_details_free(det);
    return -1;
  }
  int reps = b->repeats;
  double per_run = b->min_time / reps;
  double ns[N_VARIANTS][64], cpu_ns[N_VARIANTS][64], bg_ns[N_VARIANTS][64];
  double vs_raw[N_VARIANTS][64], vs_nolog[N_VARIANTS][64], drop_pct[N_VARIANTS][64];
  unsigned long long evals[N_VARIANTS] = {0}, errors[N_VARIANTS] = {0}, dropped[N_VARIANTS] = {0},
                     sent[N_VARIANTS] = {0};
  int flush_failures = 0;

  /* Warm-up: page in code and data, register the slots, grow the details. */
  loop_raw(b, res, 0.05);
  for (int i = 0; i < 2; i++) {
    confidence_provider_stats s0 = stats_of(prov[i]);
    loop_bool(b, prov[i], det, 0.05);
    flush_failures += settle(prov[i], &s0).flush_rc != 0;
  }

  double spin[64];
  for (int r = 0; r < reps; r++) {
    spin[r] = spin_probe();
    for (int v = 0; v < N_VARIANTS; v++) {
      const variant *va = &variants[v];
      confidence_provider *p = prov[va->logging];
      confidence_provider_stats s0 = stats_of(p);
      double proc0 = process_cpu_sec(), self0 = thread_cpu_sec();
      run_out o;
      if (va->kind == K_RAW)
        o = loop_raw(b, res, per_run);
      else if (va->kind == K_FULL)
        o = loop_bool(b, p, va->details ? det : NULL, per_run);
      else
        o = loop_burst(b, p, per_run / 2, &flush_failures);
      settled s = {0, 0, 0, 0};
      if (va->kind != K_RAW) {
        s = settle(p, &s0);
        flush_failures += s.flush_rc != 0;
      }
      /* Background CPU: the process's minus this thread's, until the flush returned. */
      double bg = (process_cpu_sec() - proc0) - (thread_cpu_sec() - self0);
      ns[v][r] = o.wall * 1e9 / (double)o.evals;
      cpu_ns[v][r] = o.cpu * 1e9 / (double)o.evals;
      bg_ns[v][r] = va->kind == K_RAW ? 0 : bg * 1e9 / (double)o.evals;
      drop_pct[v][r] = s.evaluations ? 100.0 * (double)s.dropped / (double)s.evaluations : 0;
      evals[v] += o.evals;
      errors[v] += o.errors;
      dropped[v] += s.dropped;
      sent[v] += s.sent;
    }
    for (int v = 0; v < N_VARIANTS; v++) {
      vs_raw[v][r] = ns[v][r] / ns[0][r];
      vs_nolog[v][r] = variants[v].nolog_peer >= 0 ? ns[v][r] / ns[variants[v].nolog_peer][r] : 1;
    }
  }

  for (int v = 0; v < N_VARIANTS; v++) {
    double med = median_of(ns[v], reps);
    printf("RESULT single name=%s ns_per_eval=%.1f min_ns_per_eval=%.1f evals_per_s=%.0f cpu_ns_per_eval=%.1f "
           "bg_ns_per_eval=%.1f vs_raw=%.2f vs_nolog=%.3f evals=%llu dropped=%llu drop_pct=%.1f min_drop_pct=%.1f "
           "max_drop_pct=%.1f sent=%llu errors=%llu\n",
           variants[v].name, med, min_of(ns[v], reps), 1e9 / med, median_of(cpu_ns[v], reps),
           median_of(bg_ns[v], reps), median_of(vs_raw[v], reps), median_of(vs_nolog[v], reps), evals[v], dropped[v],
           evals[v] ? 100.0 * (double)dropped[v] / (double)evals[v] : 0, min_of(drop_pct[v], reps),
           max_of(drop_pct[v], reps), sent[v], errors[v]);
  }
  printf("RESULT machine name=single spin_ratio=%.2f min_spin_ratio=%.2f max_spin_ratio=%.2f\n", median_of(spin, reps),
         min_of(spin, reps), max_of(spin, reps));
  fflush(stdout);

  unsigned long long total_errors = 0;
  for (int v = 0; v < N_VARIANTS; v++)
    total_errors += errors[v];
  confidence_provider_free(prov[0]);
  confidence_provider_free(prov[1]);
  confidence_resolve_result_free(res);
  confidence_details_free(det);
  return total_errors || flush_failures ? 1 : 0;
}

/* ---- scenario: paced ----------------------------------------------------------------------------- */

static int scenario_paced(const bench *b)
{
  int failures = 0;
  for (int ri = 0; ri < b->n_rates; ri++) {
    for (int logging = 0; logging <= 1; logging++) {
      confidence_provider *p = provider_open(b, logging);
      if (!p)
        return -1;
      for (int n = 1; n <= 2; n++) {
        worker ws[2];
        double spin = spin_probe();
        confidence_provider_stats s0 = stats_of(p);
        double cpu0 = process_cpu_sec();
        run_threads(b, p, n, b->paced_time, b->rates[ri], ws);
        settled s = settle(p, &s0);
        double bg = process_cpu_sec() - cpu0;
        unsigned long long evals = 0, errors = 0, late = 0;
        double busy = 0, cpu = 0, achieved = 0;
        for (int i = 0; i < n; i++) {
          evals += ws[i].out.run.evals;
          errors += ws[i].out.run.errors;
          late += ws[i].out.late;
          busy += ws[i].out.busy;
          cpu += ws[i].out.run.cpu;
          achieved += (double)ws[i].out.run.evals / ws[i].out.run.wall;
          bg -= ws[i].out.run.cpu;
        }
        double e = (double)evals;
        printf("RESULT paced name=%s-%dt-%.0f logging=%d threads=%d rate_per_thread=%.0f achieved_per_s=%.0f "
               "busy_ns_per_eval=%.1f cpu_ns_per_eval=%.1f bg_ns_per_eval=%.1f bg_cpu_pct=%.1f evals=%llu "
               "dropped=%llu drop_pct=%.2f sent=%llu late_ticks=%llu spin_ratio=%.2f errors=%llu\n",
               logging ? "log" : "nolog", n, b->rates[ri], logging, n, b->rates[ri], achieved, busy * 1e9 / e,
               cpu * 1e9 / e, bg * 1e9 / e, 100.0 * bg / b->paced_time, s.evaluations, s.dropped,
               s.evaluations ? 100.0 * (double)s.dropped / (double)s.evaluations : 0, s.sent, late, spin, errors);
        fflush(stdout);
        failures += errors != 0 || s.flush_rc != 0;
      }
      confidence_provider_free(p);
    }
  }
  return failures ? 1 : 0;
}

/* ---- scenario: threads ----------------------------------------------------------------------------- */

static int scenario_threads(const bench *b)
{
  confidence_provider *prov[2] = {provider_open(b, 0), provider_open(b, 1)};
  if (!prov[0] || !prov[1]) {
    confidence_provider_free(prov[0]);
    confidence_provider_free(prov[1]);
    return -1;
  }
  int failures = 0;
  int reps = b->repeats;
  double per_run = b->min_time / reps;
  /* [logging][threads - 1][repeat] */
  double tput[2][2][64], cpu_ns[2][2][64], bg_core[2][2][64], ratio[2][64], spin[64];
  unsigned long long evals[2][2] = {{0, 0}, {0, 0}}, dropped[2][2] = {{0, 0}, {0, 0}};
  worker ws[2];
  /* Each repeat: a machine probe, then both providers in 1 and 2 threads. */
  for (int r = 0; r < reps; r++) {
    spin[r] = spin_probe();
    for (int logging = 0; logging <= 1; logging++) {
      confidence_provider *p = prov[logging];
      for (int n = 1; n <= 2; n++) {
        confidence_provider_stats s0 = stats_of(p);
        double proc0 = process_cpu_sec(), wall0 = now_sec();
        run_threads(b, p, n, per_run, 0, ws);
        double proc = process_cpu_sec() - proc0, wall = now_sec() - wall0;
        settled s = settle(p, &s0);
        double t = 0, cpu = 0;
        unsigned long long e = 0;
        for (int i = 0; i < n; i++) {
          t += (double)ws[i].out.run.evals / ws[i].out.run.wall;
          cpu += ws[i].out.run.cpu;
          e += ws[i].out.run.evals;
          failures += ws[i].out.run.errors != 0;
        }
        tput[logging][n - 1][r] = t;
        cpu_ns[logging][n - 1][r] = cpu * 1e9 / (double)e;
        /* Cores the provider's background threads used while the workers ran
         * (the main thread only waits in pthread_join meanwhile). */
        bg_core[logging][n - 1][r] = (proc - cpu) / wall;
        evals[logging][n - 1] += s.evaluations;
        dropped[logging][n - 1] += s.dropped;
        failures += s.flush_rc != 0;
      }
      ratio[logging][r] = tput[logging][1][r] / tput[logging][0][r];
    }
  }
  for (int logging = 0; logging <= 1; logging++) {
    double quiet[64];
    int n_quiet = 0;
    for (int r = 0; r < reps; r++)
      if (spin[r] >= QUIET_SPIN)
        quiet[n_quiet++] = ratio[logging][r];
    printf("RESULT threads name=%s logging=%d t1_evals_per_s=%.0f t2_evals_per_s=%.0f ratio=%.2f min_ratio=%.2f "
           "max_ratio=%.2f quiet_ratio=%.2f quiet_repeats=%d t1_cpu_ns_per_eval=%.1f t2_cpu_ns_per_eval=%.1f "
           "t1_bg_cores=%.2f t2_bg_cores=%.2f "
           "t1_drop_pct=%.1f t2_drop_pct=%.1f t1_evals=%llu t2_evals=%llu\n",
           logging ? "log" : "nolog", logging, median_of(tput[logging][0], reps), median_of(tput[logging][1], reps),
           median_of(ratio[logging], reps), min_of(ratio[logging], reps), max_of(ratio[logging], reps),
           n_quiet ? median_of(quiet, n_quiet) : 0, n_quiet, median_of(cpu_ns[logging][0], reps),
           median_of(cpu_ns[logging][1], reps), median_of(bg_core[logging][0], reps),
           median_of(bg_core[logging][1], reps),
           evals[logging][0] ? 100.0 * (double)dropped[logging][0] / (double)evals[logging][0] : 0,
           evals[logging][1] ? 100.0 * (double)dropped[logging][1] / (double)evals[logging][1] : 0,
           evals[logging][0], evals[logging][1]);
  }
  printf("RESULT machine name=threads spin_ratio=%.2f min_spin_ratio=%.2f max_spin_ratio=%.2f\n",
         median_of(spin, reps), min_of(spin, reps), max_of(spin, reps));
  fflush(stdout);
  confidence_provider_free(prov[0]);
  confidence_provider_free(prov[1]);
  return failures ? 1 : 0;
}

/* ---- main -------------------------------------------------------------------------------------------- */

/* Bursts over `n` contexts in turn (n = 1: the bench's context), then a
 * flush; the evaluating thread's wall time only. */
static run_out loop_burst_over(const bench *b, confidence_provider *p, confidence_value **ctx, int n, double seconds,
                               int *flush_failures)
{
  run_out o = {0, 0, 0, 0};
  do {
    double t0 = now_sec();
    for (int i = 0; i < BURST; i++)
      confidence_provider_get_bool(p, b->flag_key, ctx[i % n], 0, NULL);
    o.wall += now_sec() - t0;
    o.evals += BURST;
    *flush_failures += confidence_provider_flush(p, FLUSH_TIMEOUT_MS) != 0;
  } while (o.wall < seconds);
  return o;
}

/* The exposure path with apply dedup off and on: bursts of evaluations
 * (every record reaches the flag log), then a flush. One unit, and BURST
 * units in turn (a table of 4,096 keys; after the first burst they repeat
 * too). Background CPU per evaluation is the drainer's and sender's work:
 * encoding every exposure (off), or a key hash and lookup (on). */
static int scenario_dedup(const bench *b)
{
  bench with[2] = {*b, *b};
  with[1].dedup = 1;
  confidence_provider *prov[2] = {provider_open(&with[0], 1), provider_open(&with[1], 1)};
  static confidence_value *units[BURST];
  for (int i = 0; i < BURST; i++) {
    char key[32];
    snprintf(key, sizeof key, "bench-unit-%d", i);
    units[i] = confidence_value_copy(b->context);
    confidence_value_struct_set(units[i], "targeting_key", confidence_value_new_string(key));
  }
  static const char *const names[4] = {"off-one-unit", "on-one-unit", "off-4096-units", "on-4096-units"};
  int reps = b->repeats, flush_failures = !prov[0] || !prov[1];
  double ns[4][64], bg_ns[4][64];
  unsigned long long sent[4] = {0}, deduplicated[4] = {0}, evals[4] = {0};
  for (int r = 0; r < reps && !flush_failures; r++)
    for (int v = 0; v < 4; v++) {
      confidence_provider *p = prov[v % 2];
      confidence_value *one = b->context;
      confidence_provider_stats s0 = stats_of(p);
      double proc0 = process_cpu_sec(), self0 = thread_cpu_sec();
      run_out o = v < 2 ? loop_burst_over(b, p, &one, 1, b->min_time / reps / 4, &flush_failures)
                        : loop_burst_over(b, p, units, BURST, b->min_time / reps / 4, &flush_failures);
      settled st = settle(p, &s0);
      double bg = (process_cpu_sec() - proc0) - (thread_cpu_sec() - self0);
      ns[v][r] = o.wall * 1e9 / (double)o.evals;
      bg_ns[v][r] = bg * 1e9 / (double)o.evals;
      evals[v] += o.evals;
      sent[v] += st.sent;
      deduplicated[v] += stats_of(p).exposures_deduplicated - s0.exposures_deduplicated;
    }
  for (int v = 0; v < 4 && !flush_failures; v++)
    printf("RESULT dedup name=%s ns_per_eval=%.1f bg_ns_per_eval=%.1f min_bg_ns_per_eval=%.1f evals=%llu sent=%llu "
           "deduplicated=%llu\n",
           names[v], median_of(ns[v], reps), median_of(bg_ns[v], reps), min_of(bg_ns[v], reps), evals[v], sent[v],
           deduplicated[v]);
  for (int i = 0; i < BURST; i++)
    confidence_value_free(units[i]);
  confidence_provider_free(prov[0]);
  confidence_provider_free(prov[1]);
  return flush_failures ? -1 : 0;
}

static int usage(void)
{
  fprintf(stderr, "usage: confidence_bench_provider --state FILE --account ID --secret SECRET [--flag NAME] "
                  "[--path PATH]\n       [--context JSON] [--min-time SEC] [--repeats N] [--rates R1,R2,...] "
                  "[--paced-time SEC]\n       [--log-poll-ms MS] [--queue-cap N] [--bg-nice N] [--only single|paced|threads|dedup]\n");
  return 2;
}

static int parse_rates(const char *text, bench *b)
{
  b->n_rates = 0;
  for (const char *s = text; *s;) {
    char *end = NULL;
    double r = strtod(s, &end);
    if (end == s || !(r > 0) || b->n_rates == MAX_RATES)
      return -1;
    b->rates[b->n_rates++] = r;
    s = *end == ',' ? end + 1 : end;
    if (*end && *end != ',')
      return -1;
  }
  return b->n_rates ? 0 : -1;
}

int main(int argc, char **argv)
{
  bench b;
  memset(&b, 0, sizeof b);
  b.min_time = 1.0;
  b.paced_time = 1.0;
  b.repeats = 5;
  b.log_poll_ms = LOG_POLL_MS;
  b.queue_cap = QUEUE_CAP;
  const char *flag = "simple-flag", *path = "enabled";
  const char *context = "{\"targeting_key\":\"user1\",\"country\":\"SE\"}";
  if (parse_rates("200000,100000", &b))
    return 2;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc)
      return usage();
    const char *opt = argv[i], *val = argv[++i];
    char *end = NULL;
    if (!strcmp(opt, "--state"))
      b.state_path = val;
    else if (!strcmp(opt, "--account"))
      b.account = val;
    else if (!strcmp(opt, "--secret"))
      b.secret = val;
    else if (!strcmp(opt, "--flag"))
      flag = val;
    else if (!strcmp(opt, "--path"))
      path = val;
    else if (!strcmp(opt, "--context"))
      context = val;
    else if (!strcmp(opt, "--only"))
      b.only = val;
    else if (!strcmp(opt, "--min-time"))
      b.min_time = strtod(val, &end);
    else if (!strcmp(opt, "--paced-time"))
      b.paced_time = strtod(val, &end);
    else if (!strcmp(opt, "--repeats"))
      b.repeats = (int)strtol(val, &end, 10);
    else if (!strcmp(opt, "--log-poll-ms"))
      b.log_poll_ms = (unsigned)strtoul(val, &end, 10);
    else if (!strcmp(opt, "--queue-cap"))
      b.queue_cap = (unsigned)strtoul(val, &end, 10);
    else if (!strcmp(opt, "--bg-nice"))
      b.bg_nice = (int)strtol(val, &end, 10);
    else if (!strcmp(opt, "--rates")) {
      if (parse_rates(val, &b))
        return usage();
    } else
      return usage();
    if (end && *end)
      return usage();
  }
  if (!b.state_path || !b.account || !b.secret || !(b.min_time > 0) || !(b.paced_time >= 0.01) || b.repeats < 1 ||
      b.repeats > 64 || !*flag)
    return usage();
  if (b.only && strcmp(b.only, "single") && strcmp(b.only, "paced") && strcmp(b.only, "threads") &&
      strcmp(b.only, "dedup"))
    return usage();
  snprintf(b.flag_name, sizeof b.flag_name, "flags/%s", flag);
  snprintf(b.flag_key, sizeof b.flag_key, "%s%s%s", flag, *path ? "." : "", path);

  if (confidence_value_from_json(context, strlen(context), &b.context)) {
    fprintf(stderr, "confidence_bench_provider: --context: %s\n", confidence_last_error_message());
    return 2;
  }
  confidence_state_options so = CONFIDENCE_STATE_OPTIONS_INIT;
  so.account_id = b.account;
  int rc = confidence_state_load_file(b.state_path, &so, &b.state);
  if (rc) {
    fprintf(stderr, "confidence_bench_provider: cannot load %s: %s (%s)\n", b.state_path,
            confidence_last_error_message(), confidence_strerror(rc));
    confidence_value_free(b.context);
    return 1;
  }
  printf("libconfidence %s; flag %s (get_bool key %s); %d repeats, %.2f s per variant; paced %.2f s per run; "
         "fake transport, log poll %u ms, queue cap %u\n",
         confidence_version(), b.flag_name, b.flag_key, b.repeats, b.min_time, b.paced_time, b.log_poll_ms, b.queue_cap);
  fflush(stdout);

  int failures = 0;
  if (!b.only || !strcmp(b.only, "single"))
    failures += scenario_single(&b) != 0;
  if (!b.only || !strcmp(b.only, "threads"))
    failures += scenario_threads(&b) != 0;
  if (!b.only || !strcmp(b.only, "paced"))
    failures += scenario_paced(&b) != 0;
  if (!b.only || !strcmp(b.only, "dedup"))
    failures += scenario_dedup(&b) != 0;
  printf("RESULT transport posts=%llu post_bytes=%llu other_requests=%llu\n", atomic_load(&g_fake.posts),
         atomic_load(&g_fake.post_bytes), atomic_load(&g_fake.other));
  if (atomic_load(&g_fake.other))
    failures++; /* disable_state_sync should have kept the CDN out */

  confidence_state_unref(b.state);
  confidence_value_free(b.context);
  return failures ? 1 : 0;
}
