/* Confidence's remote materialization store (RESOLVER_SPEC.md §5):
 * InternalFlagLoggerService/ReadMaterializedOperations and
 * WriteMaterializedOperations over the provider's gRPC client, on the
 * flag-log host, with `authorization: ClientSecret <secret>`. One call per
 * batch, no retries: the evaluation waiting on it has its own deadline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "proto/confidence/flags/resolver/v1/internal_api.pb-c.h"
#include "provider_internal.h"

#define SERVICE "/confidence.flags.resolver.v1.InternalFlagLoggerService/"

typedef Confidence__Flags__Resolver__V1__ReadOp read_op_msg;
typedef Confidence__Flags__Resolver__V1__VariantReadOp variant_read_msg;
typedef Confidence__Flags__Resolver__V1__InclusionReadOp inclusion_read_msg;
typedef Confidence__Flags__Resolver__V1__VariantData variant_msg;

/* One unary call; on failure the batch gets the reason (secret scrubbed). */
static int call(confidence_provider *p, const char *method, const uint8_t *req, size_t len,
                confidence_store_batch *b, cf_grpc_result *r)
{
  char auth[600];
  snprintf(auth, sizeof auth, "ClientSecret %s", p->secret);
  uint32_t timeout = confidence_store_batch_timeout_ms(b);
  if (timeout == 0)
    return CONFIDENCE_ETIMEDOUT;
  int rc = cf_grpc_unary(p->transport, p->grpc_url, method, auth, req, len, timeout, NULL, r);
  if (rc == 0)
    return 0;
  char msg[300];
  snprintf(msg, sizeof msg, "%s: gRPC status %d: %s", method + sizeof SERVICE - 1, r->grpc_status, r->message);
  cf_scrub_secret(msg, p->secret);
  confidence_store_batch_set_error(b, msg);
  free(r->body);
  r->body = NULL;
  return r->grpc_status == 4 || r->uncertain ? CONFIDENCE_ETIMEDOUT : CONFIDENCE_ENETWORK;
}

/* The op a result answers: the first with the same unit, materialization
 * (and rule for variants). Results may come in any order. */
static size_t match(const confidence_store_read_op *const *ops, size_t count, int kind, const char *unit,
                    const char *mat, const char *rule)
{
  for (size_t i = 0; i < count; i++)
    if (ops[i]->kind == kind && strlen(unit) == ops[i]->unit_len && memcmp(unit, ops[i]->unit, ops[i]->unit_len) == 0 &&
        strcmp(mat, ops[i]->materialization) == 0 && (!rule || strcmp(rule, ops[i]->rule) == 0))
      return i;
  return count;
}

static void apply_results(const Confidence__Flags__Resolver__V1__ReadOperationsResult *res,
                          const confidence_store_read_op *const *ops, size_t count, confidence_store_batch *b)
{
  for (size_t i = 0; i < res->n_results; i++) {
    const Confidence__Flags__Resolver__V1__ReadResult *r = res->results[i];
    if (r->result_case == CONFIDENCE__FLAGS__RESOLVER__V1__READ_RESULT__RESULT_VARIANT_RESULT) {
      const variant_msg *v = r->variant_result;
      size_t at = match(ops, count, CONFIDENCE_STORE_OP_VARIANT_READ, v->unit, v->materialization, v->rule);
      if (at < count)
        confidence_store_batch_set_variant(b, at, v->variant);
    } else if (r->result_case == CONFIDENCE__FLAGS__RESOLVER__V1__READ_RESULT__RESULT_INCLUSION_RESULT) {
      const Confidence__Flags__Resolver__V1__InclusionData *d = r->inclusion_result;
      size_t at = match(ops, count, CONFIDENCE_STORE_OP_INCLUSION_READ, d->unit, d->materialization, NULL);
      if (at < count)
        confidence_store_batch_set_included(b, at, d->is_included);
    }
  }
}

/* ReadOperationsRequest { 3 ops }: every op in the batch (units with NUL
 * bytes cannot travel as proto strings; they are sent cut at the NUL). */
static uint8_t *encode_read(const confidence_store_read_op *const *ops, size_t count, size_t *len)
{
  read_op_msg *msgs = calloc(count, sizeof *msgs);
  read_op_msg **ptrs = calloc(count, sizeof *ptrs);
  variant_read_msg *vr = calloc(count, sizeof *vr);
  inclusion_read_msg *ir = calloc(count, sizeof *ir);
  uint8_t *out = NULL;
  if (msgs && ptrs && vr && ir) {
    for (size_t i = 0; i < count; i++) {
      read_op_msg m = CONFIDENCE__FLAGS__RESOLVER__V1__READ_OP__INIT;
      msgs[i] = m;
      if (ops[i]->kind == CONFIDENCE_STORE_OP_VARIANT_READ) {
        variant_read_msg v = CONFIDENCE__FLAGS__RESOLVER__V1__VARIANT_READ_OP__INIT;
        v.unit = (char *)ops[i]->unit;
        v.materialization = (char *)ops[i]->materialization;
        v.rule = (char *)ops[i]->rule;
        vr[i] = v;
        msgs[i].op_case = CONFIDENCE__FLAGS__RESOLVER__V1__READ_OP__OP_VARIANT_READ_OP;
        msgs[i].variant_read_op = &vr[i];
      } else {
        inclusion_read_msg v = CONFIDENCE__FLAGS__RESOLVER__V1__INCLUSION_READ_OP__INIT;
        v.unit = (char *)ops[i]->unit;
        v.materialization = (char *)ops[i]->materialization;
        ir[i] = v;
        msgs[i].op_case = CONFIDENCE__FLAGS__RESOLVER__V1__READ_OP__OP_INCLUSION_READ_OP;
        msgs[i].inclusion_read_op = &ir[i];
      }
      ptrs[i] = &msgs[i];
    }
    Confidence__Flags__Resolver__V1__ReadOperationsRequest req = CONFIDENCE__FLAGS__RESOLVER__V1__READ_OPERATIONS_REQUEST__INIT;
    req.n_ops = count;
    req.ops = ptrs;
    *len = confidence__flags__resolver__v1__read_operations_request__get_packed_size(&req);
    if ((out = malloc(*len ? *len : 1)) != NULL)
      confidence__flags__resolver__v1__read_operations_request__pack(&req, out);
  }
  free(msgs);
  free(ptrs);
  free(vr);
  free(ir);
  return out;
}

static int remote_read(const confidence_store_read_op *const *ops, size_t count, confidence_store_batch *b,
                       void *user_data)
{
  size_t len = 0;
  uint8_t *req = encode_read(ops, count, &len);
  if (!req)
    return CONFIDENCE_ENOMEM;
  cf_grpc_result r = {0};
  int rc = call(user_data, SERVICE "ReadMaterializedOperations", req, len, b, &r);
  free(req);
  if (rc)
    return rc;
  Confidence__Flags__Resolver__V1__ReadOperationsResult *res =
      confidence__flags__resolver__v1__read_operations_result__unpack(NULL, r.len, r.body);
  free(r.body);
  if (!res) {
    confidence_store_batch_set_error(b, "ReadMaterializedOperations: malformed response");
    return CONFIDENCE_EPARSE;
  }
  apply_results(res, ops, count, b);
  confidence__flags__resolver__v1__read_operations_result__free_unpacked(res, NULL);
  return 0;
}

static int remote_write(const confidence_store_write_op *const *ops, size_t count, confidence_store_batch *b,
                        void *user_data)
{
  variant_msg *msgs = calloc(count, sizeof *msgs);
  variant_msg **ptrs = calloc(count, sizeof *ptrs);
  uint8_t *req = NULL;
  size_t len = 0;
  if (msgs && ptrs) {
    for (size_t i = 0; i < count; i++) {
      variant_msg v = CONFIDENCE__FLAGS__RESOLVER__V1__VARIANT_DATA__INIT;
      v.unit = (char *)ops[i]->unit;
      v.materialization = (char *)ops[i]->materialization;
      v.rule = (char *)ops[i]->rule;
      v.variant = (char *)ops[i]->variant;
      msgs[i] = v;
      ptrs[i] = &msgs[i];
    }
    Confidence__Flags__Resolver__V1__WriteOperationsRequest w = CONFIDENCE__FLAGS__RESOLVER__V1__WRITE_OPERATIONS_REQUEST__INIT;
    w.n_store_variant_op = count;
    w.store_variant_op = ptrs;
    len = confidence__flags__resolver__v1__write_operations_request__get_packed_size(&w);
    if ((req = malloc(len ? len : 1)) != NULL)
      confidence__flags__resolver__v1__write_operations_request__pack(&w, req);
  }
  free(msgs);
  free(ptrs);
  if (!req)
    return CONFIDENCE_ENOMEM;
  cf_grpc_result r = {0};
  int rc = call(user_data, SERVICE "WriteMaterializedOperations", req, len, b, &r);
  free(req);
  free(r.body);
  return rc;
}

void cf_store_remote_init(confidence_store *vt, confidence_provider *p)
{
  memset(vt, 0, sizeof *vt);
  vt->version = CONFIDENCE_STORE_VERSION;
  vt->read = remote_read;
  vt->write = remote_write;
  vt->user_data = p; /* the provider outlives its store; nothing to free */
}
