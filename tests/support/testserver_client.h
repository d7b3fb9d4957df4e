/* Starts the local backend (tools/testserver/server.py) on free ports and
 * talks to its control API, for C tests. The interpreter is
 * $CONFIDENCE_TEST_PYTHON (the testserver venv) or python3. */
#ifndef CONFIDENCE_TEST_TESTSERVER_CLIENT_H
#define CONFIDENCE_TEST_TESTSERVER_CLIENT_H

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct ts_server {
  pid_t pid;
  int stdin_fd;
  int http, grpc;
} ts_server;

/* Server arguments beyond the state; NULL fields are left to the server. */
typedef struct ts_options {
  const char *secret;         /* required */
  const char *account;        /* for a raw ResolverState (default test-account) */
  const char *encryption_key; /* hex; enables the encrypted CDN payload */
  const char *ports_file;     /* the ports also go here, for client.py by hand */
} ts_options;

/* Appends `flag value` to an argument list when the value is set. */
static void ts_arg(const char **argv, size_t *n, const char *flag, const char *value)
{
  if (value) {
    argv[(*n)++] = flag;
    argv[(*n)++] = value;
  }
}

static bool ts_start(ts_server *s, const char *repo, const char *state, const ts_options *o)
{
  char script[4200];
  snprintf(script, sizeof script, "%s/tools/testserver/server.py", repo);
  const char *py = getenv("CONFIDENCE_TEST_PYTHON") ? getenv("CONFIDENCE_TEST_PYTHON") : "python3";
  const char *argv[16] = {py, script, "--state", state, "--secret", o->secret,
                          "--max-lifetime", "300", "--exit-on-stdin-eof"};
  size_t n = 9; /* the rest stays NULL, which ends the list */
  ts_arg(argv, &n, "--account", o->account);
  ts_arg(argv, &n, "--encryption-key", o->encryption_key);
  ts_arg(argv, &n, "--ports-file", o->ports_file);
  if (o->ports_file)
    unlink(o->ports_file); /* client.py waits for it to appear: a stale one would mislead it */
  int in[2], out[2];
  if (pipe(in) || pipe(out))
    return false;
  s->pid = fork();
  if (s->pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[1]);
    close(out[0]);
    execvp(py, (char *const *)argv);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  s->stdin_fd = in[1];
  FILE *f = fdopen(out[0], "r");
  char line[256] = "";
  bool ready = f && fgets(line, sizeof line, f) && sscanf(line, "READY http=%d grpc=%d", &s->http, &s->grpc) == 2;
  if (f)
    fclose(f);
  if (!ready)
    fprintf(stderr, "test server did not start (got '%s')\n", line);
  return ready;
}

static void ts_stop(ts_server *s)
{
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGTERM);
  close(s->stdin_fd);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

typedef struct ts_body {
  char *p;
  size_t n;
} ts_body;

static size_t ts_collect(char *data, size_t size, size_t n, void *user)
{
  ts_body *b = user;
  char *np = realloc(b->p, b->n + size * n + 1);
  if (!np)
    return 0;
  memcpy(np + b->n, data, size * n);
  b->p = np;
  b->n += size * n;
  b->p[b->n] = '\0';
  return size * n;
}

/* The JSON answer (owned) of a control call; `data` may be NULL. */
static json_t *ts_control(const ts_server *s, const char *method, const char *path, const void *data, size_t len)
{
  char url[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->http, path);
  CURL *c = curl_easy_init();
  ts_body b = {0};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ts_collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  if (data) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
  }
  CURLcode rc = curl_easy_perform(c);
  curl_easy_cleanup(c);
  json_t *j = rc == CURLE_OK && b.p ? json_loads(b.p, 0, NULL) : NULL;
  free(b.p);
  return j;
}

static void ts_post_json(const ts_server *s, const char *path, const char *json)
{
  json_decref(ts_control(s, "POST", path, json, strlen(json)));
}

#endif
