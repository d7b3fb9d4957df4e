#!/usr/bin/env python3
"""Run the resolver-spec conformance suite through the official WASM resolver.

  spec_suite.py [--suite DIR] [--state F] [--tests F] [--account ID]
                [--discovery deferred|static-empty] [--only NAME ...]
                [--emit-cases F.jsonl] [--results F.jsonl] [--quiet]

Each case of tests.json runs the way docs/RESOLVER_SPEC.md §7.2 describes:
a case with a `materializations` key resolves in static mode over the records
that object converts to; any other case in deferred (DISCOVERY) mode, where a
suspended answer is a failure. `--discovery static-empty` instead runs those
cases in static mode with no records (an emulation: a resolver that never
suspends reads "absent" for everything either way). The expectation is
`expectedResult.rust` when present, else `expectedResult.general`.

Prints every failing case with what differed, then `N passed, M failed`;
exits 1 if any case failed. `--emit-cases` writes the converted cases in the
oracle's JSONL case format (plus `name`), `--results` one eval-format result
line per case (plus `name`, and per flag `assignment_origin` and the
resolve token's `assignment_id`), so two runs can be diffed with compare.py.
"""

import argparse
import json
import sys
from pathlib import Path

import peer

peer.ensure_peer_interpreter()

import compare  # noqa: E402  (stdlib only; imported after the re-exec on purpose)

DEFAULT_SUITE = peer.REPO_ROOT.parent / "shared" / "conformance" / "resolver-spec"


# --------------------------------------------------------------------------
# Suite cases -> oracle cases
# --------------------------------------------------------------------------

def spec_records(materializations):
    """§7.2 step 2: unit -> materialization -> {isUnitInMaterialization,
    ruleToVariant} becomes MaterializationRecord dicts."""
    records = []
    for unit, by_name in (materializations or {}).items():
        for name, entry in (by_name or {}).items():
            if not entry.get("isUnitInMaterialization"):
                continue
            rule_to_variant = entry.get("ruleToVariant") or {}
            if not rule_to_variant:
                records.append({"unit": unit, "materialization": name,
                                "rule": "", "variant": ""})
                continue
            for rule, variant in rule_to_variant.items():
                records.append({"unit": unit, "materialization": name,
                                "rule": rule, "variant": variant or ""})
    return records


def oracle_case(test, discovery):
    request = test.get("resolveRequest") or {}
    context = request.get("evaluationContext")
    case = {
        "name": test.get("name", ""),
        "client_secret": request.get("clientSecret", ""),
        "flags": list(request.get("flags") or []),
        "context": context if context is not None else {},
        "apply": bool(request.get("apply", False)),
    }
    if test.get("materializations") is not None:
        case["mode"] = "static"
        case["materializations"] = spec_records(test["materializations"])
    elif discovery == "deferred":
        case["mode"] = "deferred"
    else:
        case["mode"] = "static"
        case["materializations"] = []
    return case


def expectation(test):
    expected = test.get("expectedResult") or {}
    if expected.get("rust") is not None:
        return expected["rust"]
    return expected.get("general") or {}


# --------------------------------------------------------------------------
# Running and checking
# --------------------------------------------------------------------------

class Outcome:
    """What one resolve call gave: kind is resolved, suspended or error."""

    def __init__(self, kind, response=None, message=""):
        self.kind = kind
        self.response = response
        self.message = message
        self._token = None
        self.token_error = None

    @property
    def flags(self):
        return list(self.response.resolved.response.resolved_flags)

    def token_assignments(self):
        if self._token is None and self.token_error is None:
            try:
                self._token = peer.decode_resolve_token(
                    self.response.resolved.response.resolve_token)
            except (ValueError, UnicodeDecodeError) as err:
                self.token_error = f"resolve token does not decode: {err}"
        return self._token or {}


def run_case(resolver, case):
    try:
        request = peer.build_request(case)
    except (TypeError, ValueError, OverflowError, KeyError, AttributeError) as err:
        return Outcome("error", message=f"oracle: cannot build request: {err}")
    try:
        response = resolver.resolve(request)
    except peer.ResolveError as err:
        return Outcome("error", message=str(err))
    if response.WhichOneof("result") == "resolved":
        return Outcome("resolved", response)
    reads = response.suspended.materializations_to_read
    listed = ", ".join(f"({r.unit}, {r.materialization}, {r.rule!r})" for r in reads)
    return Outcome("suspended", response, f"suspended asking for {len(reads)} records: {listed}")


def value_problem(expected_flag, actual):
    expected = expected_flag.get("value")
    has_value = actual.HasField("value")
    if expected is None:
        # Absent, or the empty Struct a client-default match carries.
        if has_value and len(actual.value.fields) > 0:
            return f"value: expected none, got {json.dumps(peer.struct_to_json(actual.value))}"
        return None
    if not has_value:
        return f"value: expected {json.dumps(expected)}, got none"
    got = peer.struct_to_json(actual.value)
    if not compare.same_json(expected, got):
        return f"value: expected {json.dumps(expected)}, got {json.dumps(got)}"
    return None


def flag_problems(expected_flag, actual, outcome):
    name = expected_flag.get("flag")
    problems = []
    reason = peer.reason_name(actual.reason)
    if reason != expected_flag.get("reason"):
        problems.append(f"reason: expected {expected_flag.get('reason')}, got {reason}")
    if actual.variant != (expected_flag.get("variant") or ""):
        problems.append(f"variant: expected {expected_flag.get('variant')!r}, "
                        f"got {actual.variant!r}")
    problem = value_problem(expected_flag, actual)
    if problem:
        problems.append(problem)
    should_apply = expected_flag.get("shouldApply")
    if should_apply is not None and actual.should_apply != should_apply:
        problems.append(f"shouldApply: expected {should_apply}, got {actual.should_apply}")
    origin = expected_flag.get("assignmentOrigin")
    if origin is not None and actual.assignment_origin != origin:
        problems.append(f"assignmentOrigin: expected {origin!r}, "
                        f"got {actual.assignment_origin!r}")
    assignment_id = expected_flag.get("assignmentId")
    if assignment_id is not None:
        assignments = outcome.token_assignments()
        if outcome.token_error:
            problems.append(f"assignmentId: {outcome.token_error}")
        elif name not in assignments:
            problems.append("assignmentId: flag not in the resolve token")
        elif assignments[name]["assignment_id"] != assignment_id:
            problems.append(f"assignmentId: expected {assignment_id!r}, "
                            f"got {assignments[name]['assignment_id']!r}")
    return [f"{name}: {p}" for p in problems]


def check(expected, outcome):
    """Problems found comparing one outcome with one expectation (§7.2 step 4)."""
    if expected.get("expectError") is not None:
        if outcome.kind == "error":
            return []
        return [f"expected the call to fail ({expected['expectError']!r}), "
                f"but it {outcome.kind}"]
    if outcome.kind == "error":
        return [f"call failed: {outcome.message}"]
    if outcome.kind == "suspended":
        return [outcome.message]
    wanted = expected.get("resolvedFlags") or []
    actual = outcome.flags
    problems = []
    if len(actual) != len(wanted):
        problems.append(f"expected {len(wanted)} resolved flags, got {len(actual)} "
                        f"({', '.join(f.flag for f in actual) or 'none'})")
    by_name = {}
    for flag in actual:
        by_name.setdefault(flag.flag, flag)
    for expected_flag in wanted:
        flag = by_name.get(expected_flag.get("flag"))
        if flag is None:
            problems.append(f"{expected_flag.get('flag')}: not in the response")
            continue
        problems.extend(flag_problems(expected_flag, flag, outcome))
    return problems


def result_json(name, case, outcome):
    """Eval-format result line, plus the extras this suite checks."""
    if outcome.kind == "resolved":
        result = peer.response_to_json(outcome.response)
        origins = {f.flag: f.assignment_origin for f in outcome.flags}
        assignments = outcome.token_assignments()
        for flag in result["resolved"]:
            flag["assignment_origin"] = origins.get(flag["flag"], "")
            if flag["flag"] in assignments:
                flag["assignment_id"] = assignments[flag["flag"]]["assignment_id"]
    else:
        result = peer.error_json(outcome.message)
    return {"name": name, "mode": case["mode"], **result}


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", type=Path, default=DEFAULT_SUITE,
                        help="directory holding tests.json, state.pb and account_id "
                        "(default: ../shared/conformance/resolver-spec beside the repo)")
    parser.add_argument("--tests", type=Path, help="tests.json (default: in --suite)")
    parser.add_argument("--state", type=Path, help="ResolverState or ClientResolverState "
                        "file (default: state.pb in --suite)")
    parser.add_argument("--account", help="bare account id or a file holding it "
                        "(default: account_id in --suite)")
    parser.add_argument("--discovery", choices=("deferred", "static-empty"), default="deferred",
                        help="how cases without `materializations` run (default: deferred)")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this case (repeatable)")
    parser.add_argument("--emit-cases", type=Path, help="write the converted cases (JSONL)")
    parser.add_argument("--results", type=Path, help="write one result line per case (JSONL)")
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    tests_path = args.tests or args.suite / "tests.json"
    state_path = args.state or args.suite / "state.pb"
    account = peer.read_account(args.account or str(args.suite / "account_id"))
    for path in (tests_path, state_path):
        if not path.is_file():
            sys.exit(f"spec_suite: {path} not found (see --suite/--tests/--state)")

    tests = json.loads(tests_path.read_text(encoding="utf-8"))
    if args.only:
        wanted = set(args.only)
        tests = [t for t in tests if t.get("name") in wanted]
        missing = wanted - {t.get("name") for t in tests}
        if missing:
            sys.exit(f"spec_suite: no such case: {', '.join(sorted(missing))}")

    wasm = peer.require_peer_package()
    state, embedded_account = peer.load_state(state_path)
    resolver = peer.PeerResolver(wasm, state, account or embedded_account)
    if resolver.state_error:
        print(f"spec_suite: state rejected by the resolver: {resolver.state_error}",
              file=sys.stderr)
    if not args.quiet:
        from importlib.metadata import version
        print(f"peer: {peer.PEER_PACKAGE}=={version(peer.PEER_PACKAGE)} "
              f"(resolver {resolver.resolver_version() or 'unknown'}), "
              f"discovery cases: {args.discovery}")

    cases_out = args.emit_cases.open("w", encoding="utf-8") if args.emit_cases else None
    results_out = args.results.open("w", encoding="utf-8") if args.results else None
    passed = failed = 0
    for test in tests:
        name = test.get("name", "")
        case = oracle_case(test, args.discovery)
        outcome = run_case(resolver, case)
        problems = check(expectation(test), outcome)
        if cases_out:
            cases_out.write(json.dumps(case, ensure_ascii=False) + "\n")
        if results_out:
            results_out.write(json.dumps(result_json(name, case, outcome),
                                         ensure_ascii=False) + "\n")
        if not problems:
            passed += 1
            continue
        failed += 1
        if not args.quiet:
            print(f"--- FAIL {name} [{case['mode']}]")
            for problem in problems:
                print(f"  {problem}")
            shown = {k: v for k, v in case.items() if k != "name"}
            print(f"  case: {json.dumps(shown, ensure_ascii=False)}")
            print(f"  got: {json.dumps(result_json(name, case, outcome), ensure_ascii=False)}")
    for handle in (cases_out, results_out):
        if handle:
            handle.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
