#!/usr/bin/env python3
"""Compare two eval outputs (JSONL) line by line.

  compare.py A.jsonl B.jsonl [--cases CASES.jsonl] [--limit N]
             [--allow-flags FILE [--all-flags FILE] [--known-label TEXT]
              [--write-recheck R.jsonl | --recheck R.jsonl RA.jsonl RB.jsonl]]

Per line: both sides fail as a whole (messages may differ) or neither does,
and the resolved flags match as sets keyed by flag name: same variant,
reason and should_apply, and structurally equal values (numbers compared
numerically, so 1 == 1.0). Prints each mismatch up to --limit, then a
summary and `N passed, M failed`; exits 1 if anything failed. Standard
library only, so it runs in any interpreter.

Known differences (--allow-flags FILE, one flag name per line, e.g. from
contains_flags.py): a differing result of a listed flag is counted as known
("contains unsupported by peer 0.22.1" unless --known-label says otherwise)
and does not fail the line; every other flag of the line must still match.

A line where only one side failed as a whole is excused only when the side
that succeeded resolved a listed flag and a re-check shows that the failure
came from listed flags: the same case with the listed flags taken out of
`flags` (the "without" re-check; a case left with no flag asks for one that
does not exist, which still exercises the secret and the context) must give
results that agree exactly, with neither side failing. That is sound
because a call's failure does not depend on its other flags: the resolver
evaluates flags independently and the first failing one fails the call
(RESOLVER_SPEC.md §3.1, §3.14). A `flags: []` case has to name its flags to
leave some out, so it is re-checked with every flag of the state
(--all-flags) minus the listed ones, and also with every flag of the state
(the "control" re-check), which must fail on the same side as the original:
that rules out a difference between asking for all flags and naming them.
The re-check takes two steps: --write-recheck writes those cases (each with
`recheck_line`, the line it stands for, and `recheck_role`); run both sides
on that file, then pass --recheck with the cases and both outputs. A line
that needs a re-check and has none fails.

N passed counts lines that agree exactly or differ only in known ways;
M failed counts the rest (and lines present on one side only).
"""

import argparse
import json
import math
import sys

FIELDS = ("variant", "reason", "should_apply")
KNOWN_LABEL = "contains unsupported by peer 0.22.1"
# Asked for when a re-check case would otherwise ask for no flag at all:
# an empty list would mean "every flag of the client" again.
NO_SUCH_FLAG = "flags/difftest-no-such-flag"
# A request naming more flags than this fails as a whole (RESOLVER_SPEC.md §3.1).
MAX_FLAGS = 1000


def read_lines(path):
    """Non-blank lines, parsed; a line that is not JSON is kept as an error marker."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                rows.append(ValueError(f"invalid JSON: {err}"))
    return rows


def read_flag_list(path):
    """Flag names, one a line; blank lines and '#' comments are skipped."""
    names = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#"):
                names.append(line)
    return names


def same_json(a, b):
    """Structural equality where numbers compare by value and bools stay bools."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def flag_problems(a_flags, b_flags):
    """How two `resolved` lists differ, as (flag name or None, text) pairs:
    the name when one flag's result differs, None for the list as a whole.

    Also returns how many distinct flag names the two lists hold together.
    """
    problems = []
    a_by_name = {f.get("flag"): f for f in a_flags}
    b_by_name = {f.get("flag"): f for f in b_flags}
    if len(a_by_name) != len(a_flags) or len(b_by_name) != len(b_flags):
        problems.append((None, "duplicate flag names in a result"))
    # Which flags a call returns does not depend on how they evaluate, so a
    # flag present on one side only is never a per-flag difference (None).
    for name in sorted(a_by_name.keys() - b_by_name.keys(), key=str):
        problems.append((None, f"{name}: only in A"))
    for name in sorted(b_by_name.keys() - a_by_name.keys(), key=str):
        problems.append((None, f"{name}: only in B"))
    for name in sorted(a_by_name.keys() & b_by_name.keys(), key=str):
        a, b = a_by_name[name], b_by_name[name]
        for field in FIELDS:
            if a.get(field) != b.get(field):
                problems.append((name, f"{name}: {field} {a.get(field)!r} != {b.get(field)!r}"))
        if not same_json(a.get("value"), b.get("value")):
            problems.append((name, f"{name}: value differs"))
    return problems, len(a_by_name.keys() | b_by_name.keys())


def flag_differences(a_flags, b_flags):
    """Describe how two `resolved` lists differ; empty list if they agree."""
    return [text for _, text in flag_problems(a_flags, b_flags)[0]]


def line_differences(a, b):
    """Exact comparison of two result lines; empty list if they agree."""
    for side, row in (("A", a), ("B", b)):
        if not isinstance(row, dict):
            return [f"{side}: {row}"]
    a_failed = a.get("error") is not None
    b_failed = b.get("error") is not None
    if a_failed != b_failed:
        return ["whole-call error on one side only"]
    if a_failed:
        return []
    return flag_differences(a.get("resolved") or [], b.get("resolved") or [])


# --------------------------------------------------------------------------
# Judging lines with known differences
# --------------------------------------------------------------------------

class Verdict:
    """The outcome of one line.

    status: "agree" (exactly equal), "known" (differs only in allowed ways),
    "fail", or "recheck" (one-sided failure that a re-check may excuse;
    `recheck_cases` maps each re-check role to the case to run).
    """

    def __init__(self):
        self.status = "agree"
        self.problems = []       # genuine differences
        self.known = []          # allowed differences
        self.flags_compared = 0  # distinct flag results compared (both sides resolved)
        self.known_flags = 0     # flag results that differ in the allowed class
        self.both_failed = False
        self.known_call = False  # one-sided failure excused by the re-check
        self.recheck_cases = {}
        self.failed_sides = (False, False)  # (A, B) failed as a whole


def requested_flags(case):
    """The case's `flags` list ([] = every flag of the client), or None if unusable."""
    if not isinstance(case, dict):
        return None
    flags = case.get("flags")
    if flags is None:
        return []
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        return None
    return flags


def recheck_cases(case, allowed, all_flags):
    """role -> case for re-checking a one-sided failure, or None if impossible.

    "without": the case minus the allowed flags; for a `flags: []` case also
    "control": the same flags named explicitly, allowed ones included.
    """
    flags = requested_flags(case)
    if flags is None:
        return None
    if flags:
        named = flags
    elif all_flags is None:
        return None
    else:
        named = list(all_flags)
    if len(named) > MAX_FLAGS:
        return None
    kept = [f for f in named if f not in allowed]
    cases = {"without": {**case, "flags": kept or [NO_SUCH_FLAG]}}
    if not flags:
        cases["control"] = {**case, "flags": named}
    return cases


def resolves_allowed(row, allowed):
    """Whether a successful result line holds an allowed flag.

    A failed call shows nothing, so the side that succeeded tells whether an
    allowed flag was among those evaluated at all (only then can it have
    caused the other side's failure).
    """
    return any(f.get("flag") in allowed for f in row.get("resolved") or []
               if isinstance(f, dict))


def error_text(row):
    message = row.get("error")
    return "ok" if message is None else f"error {message!r}"


def judge(a, b, case=None, allowed=frozenset(), all_flags=None):
    """Judge one line; `case` is needed to excuse one-sided failures."""
    verdict = Verdict()
    for side, row in (("A", a), ("B", b)):
        if not isinstance(row, dict):
            verdict.status = "fail"
            verdict.problems.append(f"{side}: {row}")
            return verdict
    a_failed = a.get("error") is not None
    b_failed = b.get("error") is not None
    if a_failed and b_failed:
        verdict.both_failed = True
        return verdict
    if a_failed != b_failed:
        text = f"whole-call error on one side only (A: {error_text(a)}, B: {error_text(b)})"
        verdict.failed_sides = (a_failed, b_failed)
        if resolves_allowed(b if a_failed else a, allowed):
            verdict.recheck_cases = recheck_cases(case, allowed, all_flags)
            if verdict.recheck_cases is not None:
                verdict.status = "recheck"
                verdict.problems.append(text)
                return verdict
            text += "; cannot re-check without the allowed flags (--cases, and for flags: [] "
            text += "--all-flags, are needed)"
        verdict.status = "fail"
        verdict.problems.append(text)
        return verdict
    problems, verdict.flags_compared = flag_problems(a.get("resolved") or [],
                                                     b.get("resolved") or [])
    known_names = set()
    for name, text in problems:
        if name is not None and name in allowed:
            verdict.known.append(text)
            known_names.add(name)
        else:
            verdict.problems.append(text)
    verdict.known_flags = len(known_names)
    if verdict.problems:
        verdict.status = "fail"
    elif verdict.known:
        verdict.status = "known"
    return verdict


def recheck_problems(verdict, results):
    """What stops the re-check `results` (role -> (A row, B row)) from
    excusing the verdict's one-sided failure; empty if nothing does."""
    problems = []
    for role in verdict.recheck_cases:
        ra, rb = results.get(role, (None, None))
        if not isinstance(ra, dict) or not isinstance(rb, dict):
            problems.append(f"{role} re-check: result missing or invalid")
            continue
        failed = (ra.get("error") is not None, rb.get("error") is not None)
        if role == "control":
            if failed != verdict.failed_sides:
                problems.append(f"naming every flag instead of none changes the outcome "
                                f"(A: {error_text(ra)}, B: {error_text(rb)})")
        elif any(failed):
            problems.append(f"without the allowed flags the call still fails "
                            f"(A: {error_text(ra)}, B: {error_text(rb)})")
        else:
            problems += [f"without the allowed flags: {text}"
                         for text in line_differences(ra, rb)]
    return problems


def settle_recheck(verdict, results):
    """Resolve a "recheck" verdict with both sides' re-check results
    (role -> (A row, B row)); missing roles fail it."""
    problems = recheck_problems(verdict, results)
    if problems:
        verdict.status = "fail"
        verdict.problems += problems
    else:
        verdict.status = "known"
        verdict.known_call = True
        verdict.known.append(verdict.problems.pop() + "; agrees without the allowed flags")
    return verdict


def recheck_lines(number, verdict):
    """The verdict's re-check cases as JSONL lines, tagged for recheck_results."""
    return [show({**case, "recheck_line": number, "recheck_role": role}) + "\n"
            for role, case in verdict.recheck_cases.items()]


class Tally:
    """Figures over many lines."""

    def __init__(self):
        self.cases = self.passed = self.failed = 0
        self.flags_compared = self.both_failed = 0
        self.known_flags = self.known_calls = self.known_cases = 0

    def add(self, verdict):
        self.cases += 1
        self.flags_compared += verdict.flags_compared
        self.both_failed += verdict.both_failed
        if verdict.status in ("agree", "known"):
            self.passed += 1
        else:
            self.failed += 1
        if verdict.status == "known":
            self.known_cases += 1
            self.known_flags += verdict.known_flags
            self.known_calls += verdict.known_call

    def add_unpaired(self, count):
        self.cases += count
        self.failed += count

    def merge(self, other):
        for key, value in vars(other).items():
            setattr(self, key, getattr(self, key) + value)

    def summary(self, label=KNOWN_LABEL):
        return [
            f"cases: {self.cases}, flag results compared: {self.flags_compared}, "
            f"calls failed on both sides: {self.both_failed}",
            f"mismatches (outside the known class): {self.failed}",
            f"known ({label}): {self.known_flags} flag results, "
            f"{self.known_calls} one-sided call failures, in {self.known_cases} cases",
        ]


def show(value):
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, Exception) else str(value)


def report(number, verdict, case, a, b, out=sys.stdout):
    print(f"--- line {number}: " + "; ".join(verdict.problems), file=out)
    if verdict.known:
        print("  (known: " + "; ".join(verdict.known) + ")", file=out)
    if case is not None:
        print(f"  case: {show(case)}", file=out)
    print(f"  A: {show(a)}", file=out)
    print(f"  B: {show(b)}", file=out)


def recheck_results(cases, a_rows, b_rows):
    """line number -> role -> (A row, B row) from a re-check run."""
    results = {}
    for index, case in enumerate(cases):
        if not isinstance(case, dict) or "recheck_line" not in case:
            continue
        a = a_rows[index] if index < len(a_rows) else None
        b = b_rows[index] if index < len(b_rows) else None
        results.setdefault(case["recheck_line"], {})[case.get("recheck_role", "without")] = (a, b)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--cases", help="the input cases, shown with each mismatch")
    parser.add_argument("--limit", type=int, default=20, help="mismatches to print")
    parser.add_argument("--allow-flags", help="flags whose differences are known (one a line)")
    parser.add_argument("--all-flags", help="every flag of the state (one a line), to re-check "
                        "`flags: []` cases")
    parser.add_argument("--known-label", default=KNOWN_LABEL, help="what the known class is")
    parser.add_argument("--write-recheck", metavar="R.jsonl",
                        help="write the cases that need a re-check")
    parser.add_argument("--recheck", nargs=3, metavar=("R.jsonl", "RA.jsonl", "RB.jsonl"),
                        help="re-check cases and both sides' results for them")
    args = parser.parse_args(argv)

    allowed = frozenset(read_flag_list(args.allow_flags)) if args.allow_flags else frozenset()
    all_flags = read_flag_list(args.all_flags) if args.all_flags else None
    a_rows, b_rows = read_lines(args.a), read_lines(args.b)
    cases = read_lines(args.cases) if args.cases else []
    rechecked = recheck_results(*map(read_lines, args.recheck)) if args.recheck else {}
    recheck_out = open(args.write_recheck, "w", encoding="utf-8") if args.write_recheck else None

    tally = Tally()
    # Lines present on one side only count as failures too.
    unpaired = abs(len(a_rows) - len(b_rows))
    if unpaired:
        print(f"line count differs: A has {len(a_rows)}, B has {len(b_rows)}")
    shown = 0
    for number, (a, b) in enumerate(zip(a_rows, b_rows), 1):
        case = cases[number - 1] if number <= len(cases) else None
        verdict = judge(a, b, case, allowed, all_flags)
        if verdict.status == "recheck":
            if recheck_out:
                recheck_out.writelines(recheck_lines(number, verdict))
            if number in rechecked:
                settle_recheck(verdict, rechecked[number])
            else:
                verdict.status = "fail"
                verdict.problems.append("needs a re-check without the allowed flags (--recheck)")
        tally.add(verdict)
        if verdict.status == "fail":
            shown += 1
            if shown <= args.limit:
                report(number, verdict, case, a, b)
    if recheck_out:
        recheck_out.close()
    if shown > args.limit:
        print(f"({shown - args.limit} more mismatches not shown)")
    tally.add_unpaired(unpaired)
    if allowed:
        for line in tally.summary(args.known_label):
            print(line)
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
