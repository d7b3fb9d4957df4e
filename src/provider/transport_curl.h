/* The built-in libcurl transport, as providers use it: a copy of its
 * vtable bound to the CAs the provider decided on at creation. */
#ifndef CF_TRANSPORT_CURL_H
#define CF_TRANSPORT_CURL_H

#include "ca_paths.h"
#include "confidence/sys/transport.h"

/* Fills t with the libcurl transport whose every handle verifies TLS peers
 * with `ca` (borrowed: it must outlive t). An https:// exchange fails at
 * once with ca->error when ca names no CAs. */
void cf_transport_curl_bind(confidence_transport *t, const cf_ca_paths *ca);

#endif
