#!/usr/bin/env python3
"""Differential test: our C resolver against the official WASM resolver.

  difftest.py [--cli PATH] [--count N] [--seed S] [--jobs J] [--limit L]
              [--work DIR] [--conformance DIR]

Run it through difftest.sh, which sets up the peer venv first. For each
conformance state (the resolver-spec state, the demo account's current
state, its encrypted CDN form, the sticky and the custom-targeting states)
plus two states derived from the resolver-spec and current states whose
clients carry a managed evaluation context (managed_states.py), it generates
--count random cases with gen_cases.py, resolves them with `CLI eval` and
with `wasm_oracle.py eval`, and compares the two line by line; then it does
the same with the 166 resolver-spec suite cases (spec_suite.py
--emit-cases). Both sides always get the same --account.

The peer is today's official resolver (package 0.15.3, resolver 0.26.1) and
everything must agree exactly: there are no known differences.

Prints per state what was compared and found, then `N passed, M failed`.
Exits 1 if M > 0 or any step crashed, 2 on bad usage.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import peer

peer.ensure_peer_interpreter()

import compare  # noqa: E402  (stdlib only; imported after the re-exec on purpose)

# Exact agreement is only promised with the resolver we follow (0.26.1); an
# older peer differs by design (README.md).
REQUIRED_PEER_VERSION = "0.15.3"
REQUIRED_RESOLVER_VERSION = "0.26.1"
# States derived with a managed context per client: (name, base state, seed offset).
MANAGED_BASES = (("managed-spec", "resolver-spec"), ("managed-current", "current"))
DEFAULT_CONFORMANCE = peer.REPO_ROOT.parent / "shared" / "conformance"
STEP_TIMEOUT = 900  # seconds; a hung side must not hang CI


class StateSpec:
    """One state to test, with the account both sides get."""

    def __init__(self, name, path, account, key=None, why="", base=None):
        self.name = name
        self.path = path
        self.account = account
        self.key = key
        self.why = why
        self.base = base  # managed: the StateSpec it is derived from (built in the work dir)

    def state_args(self):
        args = ["--state", str(self.path), "--account", self.account]
        if self.key:
            args += ["--encryption-key", self.key]
        return args


class StepError(Exception):
    """A tool exited non-zero or produced unusable output."""


def read_text(path):
    return Path(path).read_text(encoding="utf-8").strip()


def state_specs(conformance):
    """The states and their accounts.

    The encrypted state's envelope says `confidence-test` (states/account_id
    says `confidence-demo-june`, the plain current state's account), so both
    sides get the envelope's. The sticky and custom-targeting states are
    plain ResolverStates with no account inside; both sides get the demo
    account, the one upstream's own tests use with these fixtures.
    """
    spec_dir = conformance / "resolver-spec"
    states = conformance / "states"
    demo_account = read_text(states / "account_id")
    key = read_text(states / "encryption_key_test.hex")
    specs = [
        StateSpec("resolver-spec", spec_dir / "state.pb", read_text(spec_dir / "account_id"),
                  why="resolver-spec/account_id"),
        StateSpec("current", states / "resolver_state_current.pb", demo_account,
                  why="states/account_id"),
    ]
    _, inner_account = peer.load_state(states / "resolver_state_encrypted.pb", key)
    if not inner_account:
        raise StepError("the encrypted state carries no account id")
    specs.append(StateSpec("encrypted", states / "resolver_state_encrypted.pb", inner_account,
                           key=key, why="account inside the envelope"))
    for name, file in (("sticky", "resolver_state_with_multiple_sticky_flags.pb"),
                       ("custom-targeting", "resolver_state_with_custom_targeting_flag.pb")):
        _, inner_account = peer.load_state(states / file)
        if inner_account:
            specs.append(StateSpec(name, states / file, inner_account,
                                   why="account inside the envelope"))
        else:
            specs.append(StateSpec(name, states / file, demo_account,
                                   why="plain ResolverState: fixed id from states/account_id"))
    by_name = {spec.name: spec for spec in specs}
    for name, base in MANAGED_BASES:
        origin = by_name[base]
        specs.append(StateSpec(name, None, origin.account, base=origin,
                               why=f"{base} + managed contexts (managed_states.py)"))
    return specs


def run(command, stdout_path, label):
    """Run a command with stdout into a file; raise StepError on failure."""
    with open(stdout_path, "w", encoding="utf-8") as out:
        try:
            done = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, text=True,
                                  timeout=STEP_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise StepError(f"{label}: timed out after {STEP_TIMEOUT}s") from None
        except OSError as err:
            raise StepError(f"{label}: cannot run {command[0]}: {err}") from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise StepError(f"{label}: exit status {done.returncode}\n{tail}")
    return done.stderr


def oracle_script(name):
    return [sys.executable, str(peer.ORACLE_DIR / name)]


def evaluate_both(args, spec, cases_path, prefix):
    """Resolve a case file with both sides at once.

    Returns (peer rows, our rows, problems): the rows are whatever each side
    wrote, also when it then crashed, so the lines it did answer are still
    compared; `problems` describes the sides that failed.
    """
    peer_out, ours_out = Path(f"{prefix}.peer.jsonl"), Path(f"{prefix}.ours.jsonl")
    ours_cmd = [args.cli, "eval", *spec.state_args(), "--cases", str(cases_path)]
    peer_cmd = oracle_script("wasm_oracle.py") + ["eval", *spec.state_args(),
                                                  "--cases", str(cases_path)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        ours = pool.submit(run, ours_cmd, ours_out, f"{spec.name}: C CLI")
        theirs = pool.submit(run, peer_cmd, peer_out, f"{spec.name}: WASM oracle")
        problems = []
        for future in (theirs, ours):
            try:
                future.result()
            except StepError as err:
                problems.append(str(err))
    rows = [compare.read_lines(path) if path.is_file() else [] for path in (peer_out, ours_out)]
    return rows[0], rows[1], problems


class StateResult:
    def __init__(self, name, spec):
        self.name = name
        self.spec = spec
        self.tally = compare.Tally()
        self.allowed = []
        self.log = []      # mismatch reports, in line order
        self.unanswered = 0  # cases a side gave no line for
        self.crash = None  # text of the step that failed
        self.seconds = 0.0


def compare_state(args, spec, cases_path, prefix, result):
    """Compare both sides on a case file into `result` (peer is A, ours is B).

    No flag is allowed to differ, so compare.py never asks for re-checks."""
    allowed, all_flags = frozenset(), []
    cases = compare.read_lines(cases_path)
    if not cases:
        raise StepError(f"{spec.name}: no cases")
    peer_rows, our_rows, problems = evaluate_both(args, spec, cases_path, prefix)
    verdicts = [compare.judge(a, b, case, allowed, all_flags)
                for a, b, case in zip(peer_rows, our_rows, cases)]
    pending = [(number, v) for number, v in enumerate(verdicts, 1) if v.status == "recheck"]
    if pending:
        recheck_path = Path(f"{prefix}.recheck.cases.jsonl")
        with open(recheck_path, "w", encoding="utf-8") as handle:
            for number, verdict in pending:
                handle.writelines(compare.recheck_lines(number, verdict))
        peer_again, ours_again, again = evaluate_both(args, spec, recheck_path,
                                                      f"{prefix}.recheck")
        problems += [f"re-check: {problem}" for problem in again]
        results = compare.recheck_results(compare.read_lines(recheck_path),
                                          peer_again, ours_again)
        for number, verdict in pending:
            # A re-check a side did not answer settles the line as failed.
            compare.settle_recheck(verdict, results.get(number, {}))
    for number, verdict in enumerate(verdicts, 1):
        result.tally.add(verdict)
        if verdict.status == "fail" and len(result.log) < args.limit:
            result.log.append((number, verdict, cases[number - 1],
                               peer_rows[number - 1], our_rows[number - 1]))
    # Cases one side did not answer (it crashed, or lost lines) fail too.
    result.unanswered = len(cases) - len(verdicts)
    result.tally.add_unpaired(result.unanswered)
    if len(peer_rows) != len(our_rows) or len(our_rows) != len(cases):
        problems.append(f"{spec.name}: line counts differ (cases {len(cases)}, "
                        f"peer {len(peer_rows)}, ours {len(our_rows)})")
    if problems:
        raise StepError("\n".join(problems))


def random_state(args, spec, seed, work):
    result = StateResult(spec.name, spec)
    started = time.monotonic()
    prefix = work / spec.name
    cases_path = Path(f"{prefix}.cases.jsonl")
    try:
        if spec.base is not None:
            spec.path = Path(f"{prefix}.state.pb")
            run(oracle_script("managed_states.py") + [*spec.base.state_args(), "--seed", str(seed),
                                                      "--out", str(spec.path)],
                os.devnull, f"{spec.name}: managed_states.py")
        run(oracle_script("gen_cases.py") + [*spec.state_args(), "--seed", str(seed),
                                             "--count", str(args.count)],
            cases_path, f"{spec.name}: gen_cases.py")
        compare_state(args, spec, cases_path, prefix, result)
    except StepError as err:
        result.crash = str(err)
    result.seconds = time.monotonic() - started
    return result


def suite_state(args, conformance, work):
    """The resolver-spec suite's cases, converted by spec_suite.py.

    Converted with --discovery static-empty: the CLI has no deferred
    (DISCOVERY) mode and ignores a case's `mode`, so a `mode: deferred` case
    would run without materializations on our side. No suite case suspends,
    and the peer answers these cases the same in both modes (README.md).
    """
    spec_dir = conformance / "resolver-spec"
    spec = StateSpec("spec-suite", spec_dir / "state.pb", read_text(spec_dir / "account_id"),
                     why="resolver-spec/account_id")
    result = StateResult(spec.name, spec)
    started = time.monotonic()
    prefix = work / spec.name
    cases_path = Path(f"{prefix}.cases.jsonl")
    command = oracle_script("spec_suite.py") + [
        "--suite", str(spec_dir), "--discovery", "static-empty", "--quiet",
        "--emit-cases", str(cases_path)]
    try:
        # Exit status 1 only says some suite expectations failed for the peer
        # (0.26.1 gives `general` in 8 cases); the converted cases are what we need.
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=STEP_TIMEOUT, check=False)
        if done.returncode not in (0, 1) or not cases_path.is_file():
            raise StepError(f"spec-suite: spec_suite.py exit status {done.returncode}\n"
                            f"{done.stderr.strip()}")
        compare_state(args, spec, cases_path, prefix, result)
    except (StepError, subprocess.TimeoutExpired, OSError) as err:
        result.crash = str(err)
    result.seconds = time.monotonic() - started
    return result


def check_peer():
    """Insist on the peer whose known differences this test encodes."""
    if peer.peer_version() != REQUIRED_PEER_VERSION:
        sys.exit(f"difftest: PEER_VERSION is {peer.peer_version()}, but the known-difference "
                 f"class here is that of {REQUIRED_PEER_VERSION} (resolver "
                 f"{REQUIRED_RESOLVER_VERSION}); unset PEER_VERSION")
    identity = peer.peer_identity(peer.require_peer_package())
    if identity["resolver_version"] != REQUIRED_RESOLVER_VERSION:
        sys.exit(f"difftest: the peer reports resolver {identity['resolver_version']!r}, "
                 f"expected {REQUIRED_RESOLVER_VERSION}")
    return identity


def print_result(result):
    spec, tally = result.spec, result.tally
    key = ", encrypted" if spec.key else ""
    path = spec.path.name if spec.path else "(not built)"
    print(f"== {result.name}: {path}{key}, account {spec.account} ({spec.why}), "
          f"{result.seconds:.1f}s")
    print(f"   cases {tally.cases}, flag results compared {tally.flags_compared}, "
          f"calls failed on both sides {tally.both_failed}")
    print(f"   mismatches {tally.failed}")
    for number, verdict, case, a, b in result.log:
        compare.report(number, verdict, case, a, b)
    hidden = result.tally.failed - result.unanswered - len(result.log)
    if hidden > 0:
        print(f"   ({hidden} more mismatches not shown)")
    if result.unanswered:
        print(f"   {result.unanswered} cases not answered by both sides (counted as failed)")
    if result.crash:
        print("   CRASHED: " + result.crash.replace("\n", "\n     "))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cli", default=str(peer.REPO_ROOT / "build" / "confidence"),
                        help="our CLI (default: build/confidence in the repo)")
    parser.add_argument("--count", type=int, default=8000,
                        help="random cases per state (default 8000)")
    parser.add_argument("--seed", type=int, default=1,
                        help="base seed; state i uses seed + i (default 1)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2,
                        help="states tested at once (default: CPU count)")
    parser.add_argument("--limit", type=int, default=10, help="mismatches shown per state")
    parser.add_argument("--work", type=Path, help="keep all files here (default: a temporary "
                        "directory, kept only if something failed)")
    parser.add_argument("--conformance", type=Path,
                        default=Path(os.environ.get("CONFORMANCE_DIR", DEFAULT_CONFORMANCE)),
                        help="conformance data (default: ../shared/conformance beside the repo)")
    args = parser.parse_args(argv)
    if args.count < 1 or args.jobs < 1:
        parser.error("--count and --jobs must be positive")
    args.cli = os.path.abspath(args.cli)
    if not os.access(args.cli, os.X_OK):
        parser.error(f"--cli {args.cli} is not an executable (build it first)")
    return args


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    started = time.monotonic()
    identity = check_peer()
    print(f"peer: {identity['package']} (resolver {identity['resolver_version']}); "
          f"ours: {args.cli}; {args.count} cases per state, seed {args.seed}")
    work = args.work or Path(tempfile.mkdtemp(prefix="difftest-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        specs = state_specs(args.conformance)
    except (StepError, OSError, ValueError) as err:
        sys.exit(f"difftest: cannot read the conformance states: {err}")

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(random_state, args, spec, args.seed + index, work)
                   for index, spec in enumerate(specs)]
        futures.append(pool.submit(suite_state, args, args.conformance, work))
        results = [future.result() for future in futures]

    total = compare.Tally()
    crashed = []
    for result in results:
        print_result(result)
        total.merge(result.tally)
        if result.crash:
            crashed.append(result.name)
    print(f"== total: {total.cases} cases, {total.flags_compared} flag results compared, "
          f"{total.failed} mismatches, {time.monotonic() - started:.1f}s")
    failed = total.failed or crashed
    if crashed:
        print(f"crashed: {', '.join(crashed)}")
    if failed and not args.work:
        print(f"files kept in {work}")
    elif not args.work:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{total.passed} passed, {total.failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
