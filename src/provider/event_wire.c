/* The Confidence event of a track call, encoded straight from the caller's
 * values into protobuf wire format (no intermediate tree): the same event
 * the official event engine builds (checked by tools/oracle/track_difftest.py). */
#include <stdlib.h>
#include <string.h>

#include "event_log.h"
#include "utf8.h"
#include "util.h"
#include "value_internal.h"

static const char DEFINITION_PREFIX[] = "eventDefinitions/";
static const char SKIP_APPLY_KEY[] = "_confidence_skip_apply";

/* google.protobuf.Value / Struct / ListValue / map entry field numbers */
enum { VALUE_NULL = 1, VALUE_NUMBER = 2, VALUE_STRING = 3, VALUE_BOOL = 4, VALUE_STRUCT = 5, VALUE_LIST = 6 };
enum { STRUCT_FIELDS = 1, LIST_VALUES = 1, ENTRY_KEY = 1, ENTRY_VALUE = 2 };

static void put_string(cf_wbuf *b, uint32_t field, const char *s, size_t len)
{
  if (!cf_utf8_valid(s, len))
    cf_wbuf_fail(b, CONFIDENCE_EINVAL);
  cf_wbuf_put_bytes_field(b, field, s, len);
}

static void put_value(cf_wbuf *b, const confidence_value *v, int depth);

/* Struct fields as map entries, leaving out the keys in `skip`. */
static void put_fields(cf_wbuf *b, const confidence_value *obj, int depth, const char *const *skip, size_t n_skip)
{
  for (size_t i = 0; i < obj->u.obj.n && !b->err; i++) {
    const cf_field *f = &obj->u.obj.fields[i];
    bool skipped = false;
    for (size_t k = 0; k < n_skip && !skipped; k++)
      skipped = skip[k] && f->key_len == strlen(skip[k]) && memcmp(f->key, skip[k], f->key_len) == 0;
    if (skipped)
      continue;
    size_t entry = cf_wbuf_begin_msg(b, STRUCT_FIELDS);
    put_string(b, ENTRY_KEY, f->key, f->key_len);
    size_t value = cf_wbuf_begin_msg(b, ENTRY_VALUE);
    put_value(b, f->value, depth);
    cf_wbuf_end_msg(b, value);
    cf_wbuf_end_msg(b, entry);
  }
}

static void put_number(cf_wbuf *b, double d)
{
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  cf_wbuf_put_tag(b, VALUE_NUMBER, CF_WT_FIXED64);
  uint8_t le[8];
  for (int i = 0; i < 8; i++)
    le[i] = (uint8_t)(bits >> (8 * i));
  cf_wbuf_put_raw(b, le, sizeof le);
}

/* One google.protobuf.Value (its fields; the caller opened the message).
 * Recursion is bounded by CF_EVENT_MAX_DEPTH. */
static void put_value(cf_wbuf *b, const confidence_value *v, int depth)
{
  if (depth > CF_EVENT_MAX_DEPTH) {
    cf_wbuf_fail(b, CONFIDENCE_ELIMIT);
    return;
  }
  switch (v ? v->type : CONFIDENCE_VALUE_NULL) {
  case CONFIDENCE_VALUE_BOOL:
    cf_wbuf_put_tag(b, VALUE_BOOL, CF_WT_VARINT);
    cf_wbuf_put_varint(b, v->u.b ? 1 : 0);
    break;
  case CONFIDENCE_VALUE_NUMBER: put_number(b, v->u.n); break;
  case CONFIDENCE_VALUE_STRING: put_string(b, VALUE_STRING, v->u.s.ptr, v->u.s.len); break;
  case CONFIDENCE_VALUE_LIST: {
    size_t list = cf_wbuf_begin_msg(b, VALUE_LIST);
    for (size_t i = 0; i < v->u.list.n && !b->err; i++) {
      size_t item = cf_wbuf_begin_msg(b, LIST_VALUES);
      put_value(b, v->u.list.items[i], depth + 1);
      cf_wbuf_end_msg(b, item);
    }
    cf_wbuf_end_msg(b, list);
    break;
  }
  case CONFIDENCE_VALUE_STRUCT: {
    size_t obj = cf_wbuf_begin_msg(b, VALUE_STRUCT);
    put_fields(b, v, depth + 1, NULL, 0);
    cf_wbuf_end_msg(b, obj);
    break;
  }
  default: /* null: the enum's only value, 0, written explicitly (oneof) */
    cf_wbuf_put_tag(b, VALUE_NULL, CF_WT_VARINT);
    cf_wbuf_put_varint(b, 0);
  }
}

/* The payload's "context" entry: the context struct without the
 * skip-apply key (the official provider strips it before the engine). */
static void put_context(cf_wbuf *b, const confidence_value *context)
{
  static const char *const skip[] = {SKIP_APPLY_KEY};
  size_t entry = cf_wbuf_begin_msg(b, STRUCT_FIELDS);
  put_string(b, ENTRY_KEY, "context", 7);
  size_t value = cf_wbuf_begin_msg(b, ENTRY_VALUE);
  size_t obj = cf_wbuf_begin_msg(b, VALUE_STRUCT);
  put_fields(b, context, 2, skip, 1);
  cf_wbuf_end_msg(b, obj);
  cf_wbuf_end_msg(b, value);
  cf_wbuf_end_msg(b, entry);
}

static void put_payload(cf_wbuf *b, const confidence_value *context, const double *value, const confidence_value *data)
{
  bool any_data = data && data->u.obj.n > 0;
  if (!context && !value && !any_data)
    return; /* the engine leaves an empty payload out */
  size_t payload = cf_wbuf_begin_msg(b, CF_EVENT_FIELD_PAYLOAD);
  if (data) { /* "context" and "value" of the call win over the data's */
    const char *const skip[] = {context ? "context" : NULL, value ? "value" : NULL};
    put_fields(b, data, 1, skip, 2);
  }
  if (context)
    put_context(b, context);
  if (value) {
    size_t entry = cf_wbuf_begin_msg(b, STRUCT_FIELDS);
    put_string(b, ENTRY_KEY, "value", 5);
    size_t v = cf_wbuf_begin_msg(b, ENTRY_VALUE);
    put_number(b, *value);
    cf_wbuf_end_msg(b, v);
    cf_wbuf_end_msg(b, entry);
  }
  cf_wbuf_end_msg(b, payload);
}

int cf_event_encode(const char *name, const confidence_value *context, const double *value,
                    const confidence_value *data, int64_t time_ns, cf_wbuf *out)
{
  memset(out, 0, sizeof *out);
  out->limit = CF_EVENT_MAX_BYTES;
  if (!name || (context && context->type != CONFIDENCE_VALUE_STRUCT) ||
      (data && data->type != CONFIDENCE_VALUE_STRUCT))
    return CONFIDENCE_EINVAL;
  size_t name_len = strlen(name);
  if (!cf_utf8_valid(name, name_len))
    return CONFIDENCE_EINVAL;
  cf_wbuf_put_tag(out, CF_EVENT_FIELD_DEFINITION, CF_WT_LEN);
  cf_wbuf_put_varint(out, sizeof DEFINITION_PREFIX - 1 + name_len);
  cf_wbuf_put_raw(out, DEFINITION_PREFIX, sizeof DEFINITION_PREFIX - 1);
  cf_wbuf_put_raw(out, name, name_len);
  put_payload(out, context, value, data);
  cf_wbuf_put_timestamp(out, CF_EVENT_FIELD_TIME, time_ns);
  if (out->err) {
    free(out->p);
    out->p = NULL;
  }
  return out->err;
}
