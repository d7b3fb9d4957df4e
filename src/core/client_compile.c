/* Compiles the clients: which flags each one may resolve, its managed
 * context (unflattened once here) and the secret -> credential map. */
#include <stdlib.h>
#include <string.h>

#include "compile_internal.h"

/* Oneof case: the field number of client_secret. */
enum { CREDENTIAL_SECRET = 3 };

typedef Confidence__Iam__V1__Client__ManagedContextEntry PbManagedEntry;

typedef struct managed_item {
  const char *key;
  const PbManagedEntry *entry;
  size_t index; /* position on the wire */
} managed_item;

static int cmp_managed(const void *x, const void *y)
{
  const managed_item *a = x, *b = y;
  int r = strcmp(a->key, b->key);
  return r ? r : (a->index < b->index) - (a->index > b->index); /* equal keys: the later entry first, it wins */
}

/* An empty struct the managed tree can grow: zeroed, since arena memory is
 * not (no fields, no hash index). */
static confidence_value *managed_struct(cf_compiler *c)
{
  confidence_value *v = cf_arena_calloc(c->a, 1, sizeof *v);
  if (v)
    v->type = CONFIDENCE_VALUE_STRUCT;
  return v;
}

/* Sets obj[key] = v (replacing), growing the arena-backed field array. */
static bool managed_set(cf_compiler *c, confidence_value *obj, const char *key, size_t klen, confidence_value *v)
{
  for (size_t i = 0; i < obj->u.obj.n; i++)
    if (obj->u.obj.fields[i].key_len == klen && memcmp(obj->u.obj.fields[i].key, key, klen) == 0) {
      obj->u.obj.fields[i].value = v;
      return true;
    }
  if (obj->u.obj.n == obj->u.obj.cap) {
    size_t cap = obj->u.obj.cap ? obj->u.obj.cap * 2 : 4;
    cf_field *f = cf_arena_calloc(c->a, cap, sizeof *f);
    if (!f)
      return cf_compile_fail_oom(c);
    if (obj->u.obj.n)
      memcpy(f, obj->u.obj.fields, obj->u.obj.n * sizeof *f);
    obj->u.obj.fields = f;
    obj->u.obj.cap = cap;
  }
  char *k = cf_arena_strndup(c->a, key, klen);
  if (!k)
    return cf_compile_fail_oom(c);
  obj->u.obj.fields[obj->u.obj.n++] = (cf_field){k, klen, v};
  return true;
}

/* unflatten() of RESOLVER_CHANGES §1.2: keys in byte order, split on every
 * '.', intermediate non-structs replaced by new structs, the last segment
 * replaced whole. Done once here so a resolve only overlays the result. */
static bool compile_managed(cf_compiler *c, const Confidence__Iam__V1__Client *pb, cf_client *cl)
{
  size_t n = pb->n_managed_context;
  if (n == 0)
    return true;
  managed_item *sorted = malloc(n * sizeof *sorted);
  confidence_value *root = managed_struct(c);
  if (!sorted || !root) {
    free(sorted);
    return cf_compile_fail_oom(c);
  }
  for (size_t i = 0; i < n; i++) {
    const PbManagedEntry *e = pb->managed_context[i];
    sorted[i] = (managed_item){e->key ? e->key : "", e, i};
  }
  qsort(sorted, n, sizeof *sorted, cmp_managed);
  for (size_t i = 0; i < n && !c->err; i++) {
    const char *key = sorted[i].key;
    if (i > 0 && strcmp(key, sorted[i - 1].key) == 0)
      continue; /* a map key seen twice: the last entry (sorted first) wins */
    uint32_t segments = 1;
    for (const char *p = key; *p; p++)
      segments += *p == '.';
    if (segments > CF_MAX_MANAGED_SEGMENTS) {
      cl->managed_too_deep = true;
      continue;
    }
    confidence_value *node = root;
    const char *seg = key;
    for (const char *dot; (dot = strchr(seg, '.')); seg = dot + 1) {
      confidence_value *child = (confidence_value *)cf_value_get(node, seg, (size_t)(dot - seg));
      if (!child || child->type != CONFIDENCE_VALUE_STRUCT) {
        child = managed_struct(c);
        if (!child || !managed_set(c, node, seg, (size_t)(dot - seg), child))
          break;
      }
      node = child;
    }
    confidence_value *v = c->err ? NULL : cf_compile_value(c, sorted[i].entry->value, NULL);
    if (v)
      managed_set(c, node, seg, strlen(seg), v);
  }
  free(sorted);
  if (c->err)
    return false;
  cl->managed = root;
  return true;
}

bool cf_compile_clients(cf_compiler *c, const PbState *pb, cf_flag *flags, const PbFlag **flag_pb,
                            uint32_t n_flags)
{
  confidence_state *st = c->st;
  size_t nc = pb->n_clients;
  cf_client *clients = cf_arena_calloc(c->a, nc ? nc : 1, sizeof *clients);
  if (!clients)
    return cf_compile_fail_oom(c);
  size_t bitmap_bytes = (n_flags + 7) / 8 + 1;
  for (size_t i = 0; i < nc; i++) {
    cf_client *cl = &clients[i];
    cl->name = cf_compile_intern(c, pb->clients[i]->name);
    if (!compile_managed(c, pb->clients[i], cl))
      return false;
    uint8_t *enabled = cf_arena_alloc(c->a, bitmap_bytes);
    const cf_flag **list = cf_arena_calloc(c->a, n_flags ? n_flags : 1, sizeof *list);
    if (!enabled || !list)
      return cf_compile_fail_oom(c);
    for (uint32_t fi = 0; fi < n_flags; fi++) {
      if (flags[fi].state != CONFIDENCE__FLAGS__ADMIN__V1__FLAG__STATE__ACTIVE)
        continue;
      const PbFlag *pf = flag_pb[fi];
      for (size_t k = 0; k < pf->n_clients; k++) {
        if (pf->clients[k] && cf_str_eq(cl->name, pf->clients[k], strlen(pf->clients[k]))) {
          enabled[fi / 8] |= (uint8_t)(1u << (fi % 8));
          list[cl->n_flags++] = &flags[fi];
          break;
        }
      }
    }
    cl->enabled = enabled;
    cl->flags = list;
  }
  /* Secrets: for each client, each credential whose name has the client's
   * name as a plain byte prefix; later insertions overwrite (spec 2). The
   * pair that survives for a secret is the last (client, credential) in
   * that order, so each credential only needs its last matching client,
   * and the map at most one entry per credential (not clients x creds). */
  size_t ncc = pb->n_client_credentials;
  if (!cf_strmap_init(&st->secrets, c->a, ncc))
    return cf_compile_fail_oom(c);
  for (size_t j = 0; j < ncc; j++) {
    const Confidence__Iam__V1__ClientCredential *cred = pb->client_credentials[j];
    if ((int)cred->credential_case != CREDENTIAL_SECRET || !cred->client_secret)
      continue;
    const char *cname = cred->name ? cred->name : "";
    size_t i = nc;
    while (i > 0 && strncmp(cname, clients[i - 1].name.s, clients[i - 1].name.len) != 0)
      i--;
    if (i == 0)
      continue;
    const cf_client *client = &clients[i - 1];
    const char *secret = cred->client_secret->secret ? cred->client_secret->secret : "";
    const cf_credential *prev = cf_strmap_get(&st->secrets, secret, strlen(secret));
    if (prev && prev->client > client)
      continue; /* an earlier credential with this secret matched a later client */
    cf_credential *cr = cf_arena_alloc(c->a, sizeof *cr);
    cf_str *envs = cf_arena_calloc(c->a, cred->n_environments ? cred->n_environments : 1, sizeof *envs);
    if (!cr || !envs)
      return cf_compile_fail_oom(c);
    cr->secret = cf_compile_intern(c, secret);
    cr->client = client;
    cr->name = cf_compile_intern(c, cname);
    for (size_t k = 0; k < cred->n_environments; k++)
      envs[k] = cf_compile_intern(c, cred->environments[k]);
    cr->envs = envs;
    cr->n_envs = (uint32_t)cred->n_environments;
    if (c->err)
      return false;
    cf_strmap_put(&st->secrets, cr->secret, cr);
  }
  return true;
}
