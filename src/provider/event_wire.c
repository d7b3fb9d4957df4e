/* The Confidence event of a track call, encoded straight from the caller's
 * values into protobuf wire format (no intermediate tree): the same event
 * the official event engine builds (checked by tools/oracle/track_difftest.py). */
#include <stdlib.h>
#include <string.h>

#include "event_log.h"
#include "utf8.h"
#include "util.h"
#include "value_internal.h"
#include "wire.h"

static const char DEFINITION_PREFIX[] = "eventDefinitions/";
static const char SKIP_APPLY_KEY[] = "_confidence_skip_apply";

enum { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2 };
/* google.protobuf.Value / Struct / ListValue / map entry field numbers */
enum { VALUE_NULL = 1, VALUE_NUMBER = 2, VALUE_STRING = 3, VALUE_BOOL = 4, VALUE_STRUCT = 5, VALUE_LIST = 6 };
enum { STRUCT_FIELDS = 1, LIST_VALUES = 1, ENTRY_KEY = 1, ENTRY_VALUE = 2 };

static void fail(cf_wbuf *b, int err)
{
  if (!b->err)
    b->err = err;
}

static bool reserve(cf_wbuf *b, size_t add)
{
  if (b->err)
    return false;
  if (b->limit && b->n + add > b->limit) {
    fail(b, CONFIDENCE_ELIMIT);
    return false;
  }
  if (cf_vec_reserve((void **)&b->p, &b->cap, b->n + add, 1)) {
    fail(b, CONFIDENCE_ENOMEM);
    return false;
  }
  return true;
}

void cf_wbuf_put_raw(cf_wbuf *b, const void *s, size_t len)
{
  if (len && reserve(b, len)) {
    memcpy(b->p + b->n, s, len);
    b->n += len;
  }
}

static void put_varint(cf_wbuf *b, uint64_t v)
{
  if (reserve(b, 10))
    b->n += cf_wire_put_varint(b->p + b->n, v);
}

static void put_tag(cf_wbuf *b, uint32_t field, int wire_type) { put_varint(b, (uint64_t)field << 3 | (unsigned)wire_type); }

void cf_wbuf_put_bytes_field(cf_wbuf *b, uint32_t field, const void *s, size_t len)
{
  put_tag(b, field, WT_LEN);
  put_varint(b, len);
  cf_wbuf_put_raw(b, s, len);
}

/* A nested message: one length byte is reserved, widened by end_msg when
 * the content needs a longer varint (the wire stays canonical). */
static size_t begin_msg(cf_wbuf *b, uint32_t field)
{
  put_tag(b, field, WT_LEN);
  cf_wbuf_put_raw(b, "", 1);
  return b->n;
}

static void end_msg(cf_wbuf *b, size_t start)
{
  if (b->err)
    return;
  size_t len = b->n - start;
  uint8_t tmp[10];
  size_t vl = cf_wire_put_varint(tmp, len);
  if (vl > 1) {
    if (!reserve(b, vl - 1))
      return;
    memmove(b->p + start + vl - 1, b->p + start, len);
    b->n += vl - 1;
  }
  memcpy(b->p + start - 1, tmp, vl);
}

static void put_string(cf_wbuf *b, uint32_t field, const char *s, size_t len)
{
  if (!cf_utf8_valid(s, len))
    fail(b, CONFIDENCE_EINVAL);
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
    size_t entry = begin_msg(b, STRUCT_FIELDS);
    put_string(b, ENTRY_KEY, f->key, f->key_len);
    size_t value = begin_msg(b, ENTRY_VALUE);
    put_value(b, f->value, depth);
    end_msg(b, value);
    end_msg(b, entry);
  }
}

static void put_number(cf_wbuf *b, double d)
{
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  put_tag(b, VALUE_NUMBER, WT_FIXED64);
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
    fail(b, CONFIDENCE_ELIMIT);
    return;
  }
  switch (v ? v->type : CONFIDENCE_VALUE_NULL) {
  case CONFIDENCE_VALUE_BOOL:
    put_tag(b, VALUE_BOOL, WT_VARINT);
    put_varint(b, v->u.b ? 1 : 0);
    break;
  case CONFIDENCE_VALUE_NUMBER: put_number(b, v->u.n); break;
  case CONFIDENCE_VALUE_STRING: put_string(b, VALUE_STRING, v->u.s.ptr, v->u.s.len); break;
  case CONFIDENCE_VALUE_LIST: {
    size_t list = begin_msg(b, VALUE_LIST);
    for (size_t i = 0; i < v->u.list.n && !b->err; i++) {
      size_t item = begin_msg(b, LIST_VALUES);
      put_value(b, v->u.list.items[i], depth + 1);
      end_msg(b, item);
    }
    end_msg(b, list);
    break;
  }
  case CONFIDENCE_VALUE_STRUCT: {
    size_t obj = begin_msg(b, VALUE_STRUCT);
    put_fields(b, v, depth + 1, NULL, 0);
    end_msg(b, obj);
    break;
  }
  default: /* null: the enum's only value, 0, written explicitly (oneof) */
    put_tag(b, VALUE_NULL, WT_VARINT);
    put_varint(b, 0);
  }
}

void cf_wbuf_put_timestamp(cf_wbuf *b, uint32_t field, int64_t time_ns)
{
  int64_t seconds = time_ns / 1000000000, nanos = time_ns % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    seconds--;
  }
  size_t ts = begin_msg(b, field);
  if (seconds) { /* proto3: zero fields are not written */
    put_tag(b, 1, WT_VARINT);
    put_varint(b, (uint64_t)seconds);
  }
  if (nanos) {
    put_tag(b, 2, WT_VARINT);
    put_varint(b, (uint64_t)nanos);
  }
  end_msg(b, ts);
}

/* The payload's "context" entry: the context struct without the
 * skip-apply key (the official provider strips it before the engine). */
static void put_context(cf_wbuf *b, const confidence_value *context)
{
  static const char *const skip[] = {SKIP_APPLY_KEY};
  size_t entry = begin_msg(b, STRUCT_FIELDS);
  put_string(b, ENTRY_KEY, "context", 7);
  size_t value = begin_msg(b, ENTRY_VALUE);
  size_t obj = begin_msg(b, VALUE_STRUCT);
  put_fields(b, context, 2, skip, 1);
  end_msg(b, obj);
  end_msg(b, value);
  end_msg(b, entry);
}

static void put_payload(cf_wbuf *b, const confidence_value *context, const double *value, const confidence_value *data)
{
  bool any_data = data && data->u.obj.n > 0;
  if (!context && !value && !any_data)
    return; /* the engine leaves an empty payload out */
  size_t payload = begin_msg(b, CF_EVENT_FIELD_PAYLOAD);
  if (data) { /* "context" and "value" of the call win over the data's */
    const char *const skip[] = {context ? "context" : NULL, value ? "value" : NULL};
    put_fields(b, data, 1, skip, 2);
  }
  if (context)
    put_context(b, context);
  if (value) {
    size_t entry = begin_msg(b, STRUCT_FIELDS);
    put_string(b, ENTRY_KEY, "value", 5);
    size_t v = begin_msg(b, ENTRY_VALUE);
    put_number(b, *value);
    end_msg(b, v);
    end_msg(b, entry);
  }
  end_msg(b, payload);
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
  put_tag(out, CF_EVENT_FIELD_DEFINITION, WT_LEN);
  put_varint(out, sizeof DEFINITION_PREFIX - 1 + name_len);
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
