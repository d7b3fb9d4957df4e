"""One side of the differential test against the official package: evaluates
every case of a cases file through the OpenFeature client with either this
project's `confidence` or the official `confidence-openfeature-provider`
(whichever the running interpreter imports) and prints one JSON line per
case: value, variant, reason, error code and whether there is a message.

Usage: python official_diff_driver.py --cdn URL --grpc HOST:PORT --secret S
       --key HEX --cases FILE [--timeout S]
The official package is pointed at the local backend through its own test
seams (the CDN base URL and a gRPC channel); ours through its keywords.
"""

import argparse
import json
import logging
import math
import sys


def plain(v):
    """JSON-comparable form of an evaluated value (floats by repr, so 1 != 1.0)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return {"int": v}
    if isinstance(v, float):
        return {"float": repr(v) if math.isfinite(v) else str(v)}
    if isinstance(v, dict):
        return {"struct": {str(k): plain(x) for k, x in sorted(v.items())}}
    if isinstance(v, (list, tuple)):
        return {"list": [plain(x) for x in v]}
    return {"other": type(v).__name__}


def make_provider(args):
    try:
        from confidence import _native  # noqa: F401  (only ours has it)
        ours = True
    except ImportError:
        ours = False
    from confidence import ConfidenceProvider

    if ours:
        return "ours", ConfidenceProvider(
            client_secret=args.secret, encryption_key=args.key, cdn_base_url=args.cdn,
            flag_log_url="http://" + args.grpc, events_url="http://" + args.grpc)
    import grpc
    from confidence import state_fetcher

    state_fetcher.CDN_BASE_URL = args.cdn
    channel = grpc.insecure_channel(args.grpc)
    return "official", ConfidenceProvider(client_secret=args.secret, encryption_key=args.key,
                                          grpc_channel=channel)


def context_of(spec):
    from openfeature.evaluation_context import EvaluationContext

    if spec is None:
        return None
    kwargs = {"attributes": spec.get("attributes", {})}
    if "targeting_key" in spec:
        kwargs["targeting_key"] = spec["targeting_key"]
    return EvaluationContext(**kwargs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cdn", required=True)
    p.add_argument("--grpc", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--cases", required=True)
    p.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args()
    logging.basicConfig(level=logging.CRITICAL)

    from openfeature import api

    impl, provider = make_provider(args)
    if hasattr(api, "set_provider_and_wait"):
        api.set_provider_and_wait(provider)
    else:
        api.set_provider(provider)
    client = api.get_client()
    getters = {
        "boolean": client.get_boolean_details,
        "string": client.get_string_details,
        "integer": client.get_integer_details,
        "float": client.get_float_details,
        "object": client.get_object_details,
    }
    out = sys.stdout
    with open(args.cases) as f:
        for line in f:
            case = json.loads(line)
            d = getters[case["type"]](case["flag"], case["default"], context_of(case.get("context")))
            code = d.error_code
            reason = d.reason
            out.write(json.dumps({
                "id": case["id"],
                "value": plain(d.value),
                "variant": d.variant,
                "reason": getattr(reason, "value", reason),
                "error_code": getattr(code, "value", code),
                "has_message": bool(d.error_message),
            }, sort_keys=True) + "\n")
    out.flush()
    api.shutdown()
    print(f"# {impl}", file=sys.stderr)


if __name__ == "__main__":
    main()
