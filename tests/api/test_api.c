/* API conventions (docs/api.md) checked in code: the version check every
 * versioned struct goes through, copying an older caller's struct, the
 * name functions of the three enum families, and the field numbers the
 * library writes by hand against the generated protobuf descriptors. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "confidence/confidence.h"
#include "flag_log.h"
#include "proto/confidence/flags/resolver/v1/internal_api.pb-c.h"
#include "util.h"

static void test_check_version(void)
{
  CHECK(cf_check_version(0, 3, "s") == CONFIDENCE_EINVAL);
  CHECK(strstr(confidence_last_error_message(), "s version 0") != NULL);
  for (unsigned v = 1; v <= 3; v++)
    CHECK(cf_check_version(v, 3, "s") == 0);
  CHECK(cf_check_version(4, 3, "s") == CONFIDENCE_EINVAL);
}

/* A struct that gained a field in version 2: a version-1 caller's struct is
 * smaller, and the library must not read past it. */
typedef struct grown {
  unsigned version;
  int a;
  int b; /* since version 2 */
} grown;

static void test_copy_versioned(void)
{
  static const size_t sizes[2] = {offsetof(grown, b), sizeof(grown)};
  /* Version 1 caller: only version and a exist; b must come out as 0 even
   * though the bytes behind the caller's struct are not. */
  unsigned char buf[sizeof(grown)];
  memset(buf, 0x7f, sizeof buf);
  grown *v1 = (grown *)buf;
  v1->version = 1;
  v1->a = 5;
  grown out;
  CHECK(cf_copy_versioned(&out, sizeof out, v1, 1, sizes, 2, "grown") == 0);
  CHECK(out.version == 1 && out.a == 5 && out.b == 0);
  grown v2 = {2, 6, 7};
  CHECK(cf_copy_versioned(&out, sizeof out, &v2, 2, sizes, 2, "grown") == 0);
  CHECK(out.a == 6 && out.b == 7);
  CHECK(cf_copy_versioned(&out, sizeof out, &v2, 3, sizes, 2, "grown") == CONFIDENCE_EINVAL);
}

static void test_init_macros(void)
{
  confidence_state_options so = CONFIDENCE_STATE_OPTIONS_INIT;
  CHECK(so.version == CONFIDENCE_STATE_OPTIONS_VERSION && so.account_id == NULL);
  confidence_resolve_request rq = CONFIDENCE_RESOLVE_REQUEST_INIT;
  CHECK(rq.version == CONFIDENCE_RESOLVE_REQUEST_VERSION && rq.flags == NULL && rq.flag_count == 0);
  confidence_provider_options po = CONFIDENCE_PROVIDER_OPTIONS_INIT;
  CHECK(po.version == CONFIDENCE_PROVIDER_OPTIONS_VERSION && po.client_secret == NULL);
  confidence_provider_stats ps = CONFIDENCE_PROVIDER_STATS_INIT;
  CHECK(ps.version == CONFIDENCE_PROVIDER_STATS_VERSION && ps.evaluations == 0);
}

/* Resolve requests and state options: 1..current accepted, others not. */
static void test_request_versions(const char *spec_dir)
{
  char path[4096], account[256] = "";
  snprintf(path, sizeof path, "%s/account_id", spec_dir);
  FILE *fa = fopen(path, "r");
  CHECK(fa && fgets(account, sizeof account, fa));
  if (fa)
    fclose(fa);
  account[strcspn(account, "\r\n")] = '\0';
  snprintf(path, sizeof path, "%s/state.pb", spec_dir);
  confidence_state_options so = CONFIDENCE_STATE_OPTIONS_INIT;
  so.account_id = account;
  confidence_state *st = NULL;
  so.version = CONFIDENCE_STATE_OPTIONS_VERSION + 1;
  CHECK(confidence_state_load_file(path, &so, &st) == CONFIDENCE_EINVAL && st == NULL);
  for (unsigned v = 1; v <= CONFIDENCE_STATE_OPTIONS_VERSION; v++) {
    so.version = v;
    confidence_state_unref(st);
    st = NULL;
    CHECK(confidence_state_load_file(path, &so, &st) == 0);
  }
  confidence_resolve_result *res = confidence_resolve_result_new();
  confidence_resolve_request rq = CONFIDENCE_RESOLVE_REQUEST_INIT;
  rq.client_secret = "no-such-secret"; /* any answer but EINVAL means the version passed */
  for (unsigned v = 1; v <= CONFIDENCE_RESOLVE_REQUEST_VERSION; v++) {
    rq.version = v;
    CHECK(confidence_resolve(st, &rq, res) == CONFIDENCE_ESECRET);
  }
  rq.version = 0;
  CHECK(confidence_resolve(st, &rq, res) == CONFIDENCE_EINVAL);
  rq.version = CONFIDENCE_RESOLVE_REQUEST_VERSION + 1;
  CHECK(confidence_resolve(st, &rq, res) == CONFIDENCE_EINVAL);
  CHECK(strstr(confidence_resolve_result_error(res), "confidence_resolve_request") != NULL);
  confidence_resolve_result_free(res);
  confidence_state_unref(st);
}

static void test_enum_names(void)
{
  CHECK_STR(confidence_resolve_reason_name(CONFIDENCE_RESOLVE_REASON_MATCH), "RESOLVE_REASON_MATCH");
  CHECK_STR(confidence_resolve_reason_name(CONFIDENCE_RESOLVE_REASON_ERROR), "RESOLVE_REASON_ERROR");
  CHECK_STR(confidence_eval_reason_name(CONFIDENCE_EVAL_REASON_TARGETING_MATCH), "TARGETING_MATCH");
  CHECK_STR(confidence_eval_reason_name(CONFIDENCE_EVAL_REASON_ERROR), "ERROR");
  CHECK_STR(confidence_eval_error_code_name(CONFIDENCE_EVAL_ERROR_CODE_FLAG_NOT_FOUND), "FLAG_NOT_FOUND");
  CHECK_STR(confidence_strerror(CONFIDENCE_ELIMIT), "CONFIDENCE_ELIMIT");
}

static unsigned field_id(const ProtobufCMessageDescriptor *d, const char *name)
{
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
  return f ? f->id : 0;
}

static void test_wire_fields(void)
{
  const ProtobufCMessageDescriptor *w = &confidence__flags__resolver__v1__write_flag_logs_request__descriptor;
  CHECK(field_id(w, "flag_assigned") == CF_WRITE_FIELD_FLAG_ASSIGNED);
  CHECK(field_id(w, "telemetry_data") == CF_WRITE_FIELD_TELEMETRY_DATA);
  CHECK(field_id(w, "client_resolve_info") == CF_WRITE_FIELD_CLIENT_RESOLVE_INFO);
  CHECK(field_id(w, "flag_resolve_info") == CF_WRITE_FIELD_FLAG_RESOLVE_INFO);
  const ProtobufCMessageDescriptor *in = &confidence__flags__resolver__v1__ingest_flag_logs_request__descriptor;
  CHECK(field_id(in, "account_id") == CF_INGEST_FIELD_ACCOUNT_ID);
  CHECK(field_id(in, "batch") == CF_INGEST_FIELD_BATCH);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: test_api RESOLVER_SPEC_DIR\n");
    return 2;
  }
  test_check_version();
  test_copy_versioned();
  test_init_macros();
  test_request_versions(argv[1]);
  test_enum_names();
  test_wire_fields();
  return check_finish();
}
