"""In-memory remote materialization store (spec section 5).

variants:   (unit, materialization, rule) -> variant
inclusions: (unit, materialization)       -> included
A write of VariantData stores its variant (even "") and marks the unit as included
in that materialization: being written into a materialization is what membership
means. Reads answer every op, in op order; a missing variant reads as "", a
missing inclusion as false (the provider treats both as absent).
"""

import threading


class MaterializationStore:
    def __init__(self):
        self._lock = threading.Lock()
        self._variants = {}
        self._inclusions = {}

    def clear(self):
        with self._lock:
            self._variants = {}
            self._inclusions = {}

    def write(self, variant_data):
        with self._lock:
            for op in variant_data:
                self._variants[(op.unit, op.materialization, op.rule)] = op.variant
                self._inclusions[(op.unit, op.materialization)] = True

    def read(self, api, ops):
        """ops: repeated ReadOp -> list of ReadResult messages."""
        results = []
        with self._lock:
            for op in ops:
                kind = op.WhichOneof("op")
                if kind == "variant_read_op":
                    v = op.variant_read_op
                    variant = self._variants.get((v.unit, v.materialization, v.rule), "")
                    results.append(api.ReadResult(variant_result=api.VariantData(
                        unit=v.unit, materialization=v.materialization, rule=v.rule,
                        variant=variant)))
                elif kind == "inclusion_read_op":
                    i = op.inclusion_read_op
                    included = self._inclusions.get((i.unit, i.materialization), False)
                    results.append(api.ReadResult(inclusion_result=api.InclusionData(
                        unit=i.unit, materialization=i.materialization,
                        is_included=included)))
                # An op with no oneof set asks nothing; it gets no result.
        return results

    def seed(self, doc):
        """Control API: {"variants": [{unit, materialization, rule, variant}],
        "inclusions": [{unit, materialization, included}]} merged into the store."""
        with self._lock:
            for v in doc.get("variants", []):
                self._variants[(v.get("unit", ""), v.get("materialization", ""),
                                v.get("rule", ""))] = v.get("variant", "")
            for i in doc.get("inclusions", []):
                self._inclusions[(i.get("unit", ""), i.get("materialization", ""))] = bool(
                    i.get("included", True))

    def dump(self):
        with self._lock:
            return {
                "variants": [
                    {"unit": k[0], "materialization": k[1], "rule": k[2], "variant": v}
                    for k, v in sorted(self._variants.items())
                ],
                "inclusions": [
                    {"unit": k[0], "materialization": k[1], "included": v}
                    for k, v in sorted(self._inclusions.items())
                ],
            }
