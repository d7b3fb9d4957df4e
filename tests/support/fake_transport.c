/* Static gRPC answers for fake transports (fake_transport.h). The header
 * arrays are never written: a response only points at them. */
#include "fake_transport.h"

#include <string.h>

void fake_grpc_reply(confidence_http_response *resp, bool ok)
{
  static confidence_http_header ok_headers[] = {{"content-type", "application/grpc"}, {"grpc-status", "0"}};
  static confidence_http_header unavailable[] = {{"content-type", "application/grpc"}, {"grpc-status", "14"}};
  static uint8_t empty_message[5]; /* uncompressed flag, zero length */
  memset(resp, 0, sizeof *resp);
  resp->status = 200;
  resp->headers = ok ? ok_headers : unavailable;
  resp->header_count = 2;
  if (ok) {
    resp->body = empty_message;
    resp->body_len = sizeof empty_message;
  }
}

int fake_grpc_ok_exchange(const confidence_http_request *req, confidence_http_response *resp, void *user)
{
  (void)req;
  (void)user;
  fake_grpc_reply(resp, true);
  return 0;
}

void fake_free_nothing(confidence_http_response *resp, void *user)
{
  (void)resp;
  (void)user;
}
