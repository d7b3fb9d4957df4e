/* libconfidence_redis against a real redis-server that this test starts on
 * loopback (a free port, a password, database 3) and stops: the shared
 * scenarios, the documented key layout and TTL,
 * Redis hung (SIGSTOP: bounded by the read timeout), and killed and restarted mid-run (default + GENERAL within the
 * read timeout while it is down, answers again once it is back).
 * Usage: test_store_redis STATES_DIR [REDIS_SERVER] */
#include "store_scenarios.h"

#include <hiredis/hiredis.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "clock.h"
#include "confidence/redis.h"

#define PASSWORD "h11-test-password"
#define DB 3
#define PREFIX "t11:"

static const char *server_bin = "redis-server";
static int port;
static pid_t server;

static redisContext *admin(void)
{
  redisContext *c = redisConnect("127.0.0.1", port);
  if (!c || c->err)
    return redisFree(c), NULL;
  freeReplyObject(redisCommand(c, "AUTH %s", PASSWORD));
  freeReplyObject(redisCommand(c, "SELECT %d", DB));
  return c;
}

static void start_server(void)
{
  char port_arg[16];
  snprintf(port_arg, sizeof port_arg, "%d", port);
  /* posix_spawn, not fork: the provider's threads are running (TSan) */
  char *args[] = {(char *)server_bin, "--port", port_arg, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--requirepass", PASSWORD, "--loglevel", "warning", NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  CHECK(posix_spawnp(&server, server_bin, &fa, NULL, args, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  for (int i = 0; i < 1000; i++) { /* up within 10 s */
    redisContext *c = admin();
    redisReply *r = c ? redisCommand(c, "PING") : NULL;
    bool up = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    redisFree(c);
    if (up)
      return;
    int status;
    if (waitpid(server, &status, WNOHANG) == server) { /* it died: say why, once */
      fprintf(stderr, "redis-server exited with status %d\n", status);
      break;
    }
    cf_sleep_ms(10);
  }
  CHECK(!"redis-server did not start");
}

static void stop_server(int sig)
{
  kill(server, sig);
  waitpid(server, NULL, 0);
  server = 0;
}

/* ---- the store kind -------------------------------------------------------------- */

static confidence_store *new_store(void)
{
  confidence_redis_store_options o = CONFIDENCE_REDIS_STORE_OPTIONS_INIT;
  o.port = port;
  o.password = PASSWORD;
  o.database = DB;
  o.key_prefix = PREFIX;
  o.ttl_seconds = 3600;
  confidence_store *s = NULL;
  CHECK(confidence_redis_store_new(&o, &s) == 0);
  return s;
}

static confidence_store ro_store; /* copy of a store's vtable without write */

static void redis_configure(confidence_provider_options *o, int read_only)
{
  confidence_store *s = new_store();
  if (!read_only) {
    o->materialization_store = s;
    return;
  }
  ro_store = *s;
  ro_store.write = NULL;
  o->materialization_store = &ro_store;
}

static void redis_seed(const char *unit, const char *mat)
{
  redisContext *c = admin();
  CHECK(c != NULL);
  freeReplyObject(redisCommand(c, "HSET " PREFIX "%s:%s @included 1", mat, unit));
  redisFree(c);
}

static const store_kind redis_kind = {"redis", redis_configure, redis_seed, NULL};

/* ---- layout, TTL, round trips ---------------------------------------------------- */

static void test_layout(void)
{
  redisContext *c = admin();
  CHECK(c != NULL);
  /* scenario_sticky stored sticky-redis's assignment */
  redisReply *r = redisCommand(c, "HGET " PREFIX "experiment_1:sticky-redis flags/sticky-flag-1/rules/experiment");
  CHECK(r && r->type == REDIS_REPLY_STRING && strstr(r->str, "flags/sticky-flag-1/variants/") == r->str);
  freeReplyObject(r);
  r = redisCommand(c, "HGET " PREFIX "experiment_1:sticky-redis @included");
  CHECK(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "1") == 0);
  freeReplyObject(r);
  r = redisCommand(c, "TTL " PREFIX "experiment_1:sticky-redis");
  CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer > 3500 && r->integer <= 3600);
  freeReplyObject(r);
  redisFree(c);
}

static char *eval_once(confidence_provider *p, const char *unit, int *code, int64_t *took_ms)
{
  int64_t t0 = cf_clock_ms();
  char *v = variant_of(p, "sticky-flag-2", unit, NULL, code);
  *took_ms = cf_clock_ms() - t0;
  return v;
}

/* Killed mid-run: errors within the timeout; restarted: answers again. */
static void test_kill_restart(const char *states)
{
  cdn_serve_file(states, STICKY_STATE);
  confidence_provider_options extra = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  extra.materialization_read_timeout_ms = 300;
  confidence_provider *p = start_provider(&redis_kind, "test-secret", 0, &extra);
  int code = -1;
  int64_t took;
  char *before = eval_once(p, "kill-unit", &code, &took);
  CHECK(code == 0 && *before);
  kill(server, SIGSTOP); /* hung: the read times out */
  char *hung = eval_once(p, "kill-unit", &code, &took);
  CHECK(code == CONFIDENCE_EVAL_ERROR_CODE_GENERAL && took >= 250 && took < 1000);
  fprintf(stderr, "hung redis: default after %lld ms\n", (long long)took);
  free(hung);
  kill(server, SIGCONT);
  stop_server(SIGKILL);
  for (int i = 0; i < 3; i++) {
    char *v = eval_once(p, "kill-unit", &code, &took);
    CHECK(code == CONFIDENCE_EVAL_ERROR_CODE_GENERAL && *v == '\0');
    CHECK(took < 1000);
    free(v);
  }
  confidence_details *d = confidence_details_new();
  confidence_value *ctx = unit_context("kill-unit", NULL);
  confidence_value_free(confidence_provider_get_object(p, "sticky-flag-2", ctx, NULL, d));
  CHECK(strstr(confidence_details_error_message(d), "redis") != NULL);
  CHECK(strstr(confidence_details_error_message(d), PASSWORD) == NULL);
  fprintf(stderr, "while down: %s\n", confidence_details_error_message(d));
  start_server(); /* empty again: no persistence */
  char *after = eval_once(p, "kill-unit", &code, &took);
  CHECK(code == 0 && *after);
  char *again = eval_once(p, "kill-unit", &code, &took);
  CHECK_STR(again, after); /* written after the restart, read back */
  confidence_store_stats s = CONFIDENCE_STORE_STATS_INIT;
  confidence_provider_read_store_stats(p, &s);
  CHECK(s.read_failures == 5 && s.reads == 8 && s.read_timeouts >= 1);
  free(before), free(after), free(again);
  confidence_details_free(d);
  confidence_value_free(ctx);
  confidence_provider_free(p);
}

static void test_url(void)
{
  confidence_store *s = NULL;
  CHECK(confidence_redis_store_from_url("redis://:pw@127.0.0.1:6390/2", &s) == 0);
  confidence_store_free(s);
  CHECK(confidence_redis_store_from_url("redis://localhost", &s) == 0);
  confidence_store_free(s);
  CHECK(confidence_redis_store_from_url("http://x", &s) == CONFIDENCE_EINVAL);
  CHECK(confidence_redis_store_from_url("redis://h:99999", &s) == CONFIDENCE_EINVAL);
  confidence_redis_store_options bad = {CONFIDENCE_REDIS_STORE_OPTIONS_VERSION + 1};
  CHECK(confidence_redis_store_new(&bad, &s) == CONFIDENCE_EINVAL);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: test_store_redis STATES_DIR [REDIS_SERVER]\n");
    return 2;
  }
  if (argc > 2)
    server_bin = argv[2];
  signal(SIGPIPE, SIG_IGN);
  port = 20000 + (int)(getpid() % 20000);
  start_server();
  test_url();
  run_scenarios(&redis_kind, argv[1], "redis");
  test_layout();
  test_kill_restart(argv[1]);
  stop_server(SIGTERM);
  fake_cdn_serve(NULL, 0);
  return check_finish();
}
