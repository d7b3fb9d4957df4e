/* The flag-log side of a fake transport, for tests (and the provider
 * benchmark) that run a provider without a network: the answers a gRPC
 * sink gives, and a transport whose every exchange is accepted. */
#ifndef CONFIDENCE_TEST_FAKE_TRANSPORT_H
#define CONFIDENCE_TEST_FAKE_TRANSPORT_H

#include <stdbool.h>

#include "confidence/sys/transport.h"

/* Fills `resp` (zeroed first) with a trailers-carrying unary gRPC answer:
 * HTTP 200, content-type application/grpc and grpc-status 0 with an empty
 * message (ok), or grpc-status 14 UNAVAILABLE without a body. The answer
 * is static storage: release it with fake_free_nothing. */
void fake_grpc_reply(confidence_http_response *resp, bool ok);

/* An exchange answering every request with fake_grpc_reply(resp, true):
 * flag logs and events go nowhere. */
int fake_grpc_ok_exchange(const confidence_http_request *req, confidence_http_response *resp, void *user);

/* free_response for answers in static storage (or owned by the fake). */
void fake_free_nothing(confidence_http_response *resp, void *user);

/* The transport of fake_grpc_ok_exchange, for an initializer. */
#define FAKE_GRPC_OK_TRANSPORT {CONFIDENCE_TRANSPORT_VERSION, fake_grpc_ok_exchange, fake_free_nothing, NULL, NULL}

#endif
