#!/usr/bin/env python3
"""List the flags of a state whose evaluation can reach a `contains` rule.

  contains_flags.py --state F [--account ID] [--encryption-key HEX]
                    [--out FILE] [--all-flags FILE] [--explain]

Resolver 0.22.1 (the default peer, confidence-openfeature-provider 0.11.1)
predates `ContainsRule` (AttributeCriterion field 9, InnerRule field 6): it
drops the field while decoding, so such a criterion has no rule and raises
UNRECOGNIZED, which skips the whole rule (RESOLVER_SPEC.md §3.9). Our
resolver implements `contains`, so results of these flags legitimately
differ from that peer; compare.py --allow-flags takes this list.

A flag is listed when one of its *enabled* rules names a segment whose
targeting expression reaches, through `ref`s and transitively through
segment criteria (per-path cycle guard, as the resolver does), an attribute
criterion whose rule is `contains`, or `any`/`all` with a `contains` inner
rule. Disabled rules and criteria the expression never references are
never evaluated, so they do not qualify: the list is kept as small as the
state allows, and every other flag must match the peer exactly.

Output: one flag name per line, sorted ('#' lines are comments).
`--all-flags` also writes every flag name of the state (compare.py needs it
to re-check `flags: []` cases without the listed flags). `--explain`
prints, on stderr, the rule -> segment -> criterion path behind each entry.
"""

import argparse
import sys

import peer

peer.ensure_peer_interpreter()


def expression_refs(expression):
    """Criterion keys an expression references, in evaluation order."""
    kind = expression.WhichOneof("expression")
    if kind == "ref":
        return [expression.ref]
    if kind == "not":
        return expression_refs(getattr(expression, "not"))
    if kind in ("and", "or"):
        refs = []
        for operand in getattr(expression, kind).operands:
            refs += expression_refs(operand)
        return refs
    return []


def contains_kind(attribute):
    """How an attribute criterion uses `contains`, or None."""
    kind = attribute.WhichOneof("rule")
    if kind == "contains_rule":
        return "contains"
    if kind in ("any_rule", "all_rule"):
        quantifier = getattr(attribute, kind)
        if quantifier.HasField("rule") and quantifier.rule.WhichOneof("rule") == "contains_rule":
            return kind.split("_")[0] + "(contains)"
    return None


class ContainsFinder:
    def __init__(self, state):
        self.segments = {segment.name: segment for segment in state.segments_no_bitsets}

    def segment_path(self, name, path=()):
        """A chain of segments/criteria from `name` to a contains criterion, or None."""
        segment = self.segments.get(name)
        if segment is None or name in path:
            return None
        if not segment.HasField("targeting") or not segment.targeting.HasField("expression"):
            return None
        criteria = segment.targeting.criteria
        for ref in expression_refs(segment.targeting.expression):
            if ref not in criteria:
                continue
            criterion = criteria[ref]
            kind = criterion.WhichOneof("criterion")
            if kind == "attribute":
                used = contains_kind(criterion.attribute)
                if used:
                    return [name, f"criterion {ref}: {criterion.attribute.attribute_name} {used}"]
            elif kind == "segment":
                deeper = self.segment_path(criterion.segment.segment, path + (name,))
                if deeper:
                    return [name] + deeper
        return None

    def flag_reasons(self, flag):
        reasons = []
        for rule in flag.rules:
            if not rule.enabled:
                continue
            chain = self.segment_path(rule.segment)
            if chain:
                reasons.append(" -> ".join([rule.name] + chain))
        return reasons


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    peer.add_state_arguments(parser)
    parser.add_argument("--out", help="write the list here instead of stdout")
    parser.add_argument("--all-flags", help="also write every flag name of the state here")
    parser.add_argument("--explain", action="store_true", help="show why each flag is listed")
    args = parser.parse_args(argv)

    peer.require_peer_package()
    import state_schema

    # The account plays no part here; do not insist on one.
    state_bytes, _ = peer.load_state(args.state, args.encryption_key)
    state = state_schema.parse_resolver_state(state_bytes)
    finder = ContainsFinder(state)
    listed = []
    for flag in sorted(state.flags, key=lambda f: f.name):
        reasons = finder.flag_reasons(flag)
        if reasons:
            listed.append(flag.name)
            if args.explain:
                for reason in reasons:
                    print(f"{flag.name}: {reason}", file=sys.stderr)

    text = "".join(name + "\n" for name in listed)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write("# flags reaching a contains rule (unknown to resolver 0.22.1)\n" + text)
    else:
        sys.stdout.write(text)
    if args.all_flags:
        with open(args.all_flags, "w", encoding="utf-8") as handle:
            handle.write("".join(sorted(f.name + "\n" for f in state.flags)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
