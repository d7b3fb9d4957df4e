#!/usr/bin/env python3
"""Compare two eval outputs (JSONL) line by line.

  compare.py A.jsonl B.jsonl [--cases CASES.jsonl] [--limit N]

Per line: both sides fail as a whole (messages may differ) or neither does,
and the resolved flags match as sets keyed by flag name: same variant,
reason and should_apply, and structurally equal values (numbers compared
numerically, so 1 == 1.0). Prints each mismatch up to --limit, then
`N passed, M failed`; exits 1 if anything failed. Standard library only,
so it runs in any interpreter.
"""

import argparse
import json
import math
import sys

FIELDS = ("variant", "reason", "should_apply")


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


def flag_differences(a_flags, b_flags):
    """Describe how two `resolved` lists differ; empty list if they agree."""
    problems = []
    a_by_name = {f.get("flag"): f for f in a_flags}
    b_by_name = {f.get("flag"): f for f in b_flags}
    if len(a_by_name) != len(a_flags) or len(b_by_name) != len(b_flags):
        problems.append("duplicate flag names in a result")
    for name in sorted(a_by_name.keys() - b_by_name.keys()):
        problems.append(f"{name}: only in A")
    for name in sorted(b_by_name.keys() - a_by_name.keys()):
        problems.append(f"{name}: only in B")
    for name in sorted(a_by_name.keys() & b_by_name.keys()):
        a, b = a_by_name[name], b_by_name[name]
        for field in FIELDS:
            if a.get(field) != b.get(field):
                problems.append(f"{name}: {field} {a.get(field)!r} != {b.get(field)!r}")
        if not same_json(a.get("value"), b.get("value")):
            problems.append(f"{name}: value differs")
    return problems


def line_differences(a, b):
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


def show(value):
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, Exception) else str(value)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--cases", help="the input cases, shown with each mismatch")
    parser.add_argument("--limit", type=int, default=20, help="mismatches to print")
    args = parser.parse_args(argv)

    a_rows, b_rows = read_lines(args.a), read_lines(args.b)
    cases = read_lines(args.cases) if args.cases else []
    # Lines present on one side only count as failures too.
    unpaired = abs(len(a_rows) - len(b_rows))
    if unpaired:
        print(f"line count differs: A has {len(a_rows)}, B has {len(b_rows)}")
    mismatched = 0
    for number, (a, b) in enumerate(zip(a_rows, b_rows), 1):
        problems = line_differences(a, b)
        if not problems:
            continue
        mismatched += 1
        if mismatched <= args.limit:
            print(f"--- line {number}: " + "; ".join(problems))
            if number <= len(cases):
                print(f"  case: {show(cases[number - 1])}")
            print(f"  A: {show(a)}")
            print(f"  B: {show(b)}")
    if mismatched > args.limit:
        print(f"({mismatched - args.limit} more mismatches not shown)")
    passed = min(len(a_rows), len(b_rows)) - mismatched
    failed = mismatched + unpaired
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
