"""Instructions per evaluation, counted by callgrind (repeatable whatever else
the machine does): run it under valgrind twice, with N and 2N evaluations, and
divide the difference by N (bench/python/instructions.sh does this).
Usage: instructions.py noop|native N direct|client STATE_FILE"""

import os
import sys

from openfeature.evaluation_context import EvaluationContext

impl, n, how, state = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
CONTEXTS = [EvaluationContext(targeting_key=f"user-{i}", attributes={"country": ["US", "SE", "DE"][i % 3],
            "app": {"version": "2.3.1"}}) for i in range(512)]
if impl == "noop":
    from openfeature.provider.no_op_provider import NoOpProvider
    p = NoOpProvider()
else:
    from confidence import ConfidenceProvider
    p = ConfidenceProvider("demo-client-secret", state_file=state, disable_state_sync=True,
                           flag_log_url="http://127.0.0.1:9", events_url="http://127.0.0.1:9")
    p.initialize(None)
if how == "client":
    from openfeature import api
    api.set_provider(p)
    c = api.get_client()
    f = lambda ctx: c.get_string_value("button-style.color", "x", ctx)
else:
    f = lambda ctx: p.resolve_string_details("button-style.color", "x", ctx)
for i in range(n):
    f(CONTEXTS[i & 511])
os._exit(0)  # no shutdown: only the evaluations differ between the two runs
