"""The three providers the Python benchmarks compare, made the same way for
each: this package, PyPI confidence-openfeature-provider 0.15.3 (its CDN URL
is fixed, so its httpx transport is pointed at the local backend) and
OpenFeature's no-op provider. Whichever `confidence` the interpreter has is
the one imported: the benchmarks run each implementation in its own venv."""


def make_provider(impl, http, grpc_port, secret, key, **options):
    """impl: native | peer | noop; http / grpc_port: the local backend's ports."""
    if impl == "native":
        from confidence import ConfidenceProvider
        return ConfidenceProvider(secret, key, cdn_base_url=f"http://127.0.0.1:{http}",
                                  flag_log_url=f"http://127.0.0.1:{grpc_port}",
                                  events_url=f"http://127.0.0.1:{grpc_port}", **options)
    if impl == "peer":
        import grpc
        import httpx
        from confidence import ConfidenceProvider

        class Local(httpx.HTTPTransport):  # the CDN URL is fixed in 0.15.3: rewrite its host
            def handle_request(self, request):
                request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=http)
                return super().handle_request(request)

        return ConfidenceProvider(secret, key, http_client=httpx.Client(transport=Local(), timeout=30),
                                  grpc_channel=grpc.insecure_channel(f"127.0.0.1:{grpc_port}"), **options)
    from openfeature.provider.no_op_provider import NoOpProvider
    return NoOpProvider()
