"""The resource names in answers (variant, rule, segment, assignment id) come
from a table the extension keeps by content (python/_native/name_cache.c):
each answer must still name what its evaluation chose, whichever names were
looked up before it. The resolver-spec state's 95 flags give some 60 names
for the table's 256 slots, so some share a slot and replace each other as
the order of evaluation changes."""

import json
import os

from openfeature.evaluation_context import EvaluationContext

from confidence import ConfidenceProvider
from conftest import REPO

SPEC = os.path.abspath(os.path.join(REPO, "..", "shared", "conformance", "resolver-spec"))


def test_answers_name_what_was_chosen_whatever_came_before():
    with open(os.path.join(SPEC, "state.json")) as f:
        flags = sorted(fl["name"].split("/", 1)[1] for fl in json.load(f)["flags"].values())
    provider = ConfidenceProvider("test-secret", state_file=os.path.join(SPEC, "state.pb"),
                                  account_id="test-account", disable_state_sync=True,
                                  flag_log_url="http://127.0.0.1:9", events_url="http://127.0.0.1:9")
    provider.initialize(None)
    try:
        contexts = [EvaluationContext(targeting_key=f"user{i}",
                                      attributes={"country": country, "age": i * 7 % 80, "plan": ["free", "pro"][i % 2]})
                    for i, country in enumerate(["SE", "US", "DE", "NO"] * 4)]
        first, names = {}, set()
        for round_ in range(4):
            # Each round in another order, so other names sit in the slots.
            order = flags if round_ % 2 == 0 else flags[::-1]
            for ctx in contexts if round_ < 2 else contexts[::-1]:
                for flag in order:
                    d = provider.resolve_object_details(flag, {}, ctx)
                    answer = (d.variant, dict(d.flag_metadata))
                    rule = d.flag_metadata.get("rule")
                    assert rule is None or rule.startswith(f"flags/{flag}/rules/"), (flag, rule)
                    assert d.flag_metadata.get("segment", "segments/").startswith("segments/"), (flag, d.flag_metadata)
                    assert first.setdefault((flag, ctx.targeting_key), answer) == answer, (flag, round_)
                    names.update(v for v in (d.variant, *d.flag_metadata.values()) if v)
        assert len(names) >= 50, names  # enough names that some share slots
        # The variants are those resolve_all names, which it encodes in C without the table.
        for ctx in contexts:
            resolved = {r["flag"].split("/", 1)[1]: r["variant"] for r in provider.resolve_all(ctx)["resolvedFlags"]}
            for flag, variant in resolved.items():
                assert first[(flag, ctx.targeting_key)][0] == (variant or None), (flag, variant)
    finally:
        provider.shutdown()
