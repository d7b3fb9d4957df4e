"""The typed resolutions run in the extension: what they return is the SDK's
FlagResolutionDetails, equal to what calling the class would build, for
positional and keyword arguments, on the instance (the SDK's path) and
through a subclass that overrides one of them."""

import pytest
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason

from confidence import ConfidenceProvider, _native
from confidence.provider import _ERROR_CODES, _REASONS, _plain_dataclass
from conftest import SAMPLE_STATE, SECRET

CTX = EvaluationContext(targeting_key="alice", attributes={"country": "SE"})


def offline():
    p = ConfidenceProvider(SECRET, state_file=SAMPLE_STATE, disable_state_sync=True, disable_exposure_collection=True)
    p.initialize(None)
    return p


CALLS = [
    ("resolve_boolean_details", "new-checkout.enabled", False),
    ("resolve_string_details", "button-style.color", "dflt"),
    ("resolve_integer_details", "button-style.color", 7),  # TYPE_MISMATCH
    ("resolve_float_details", "no-such-flag", 1.5),  # FLAG_NOT_FOUND
    ("resolve_object_details", "new-checkout", {}),
]


def test_results_are_the_sdks_dataclass():
    assert _plain_dataclass(FlagResolutionDetails)
    p = offline()
    for name, key, dflt in CALLS:
        d = getattr(p, name)(key, dflt, CTX)
        assert type(d) is FlagResolutionDetails
        # The same as calling the class with the same fields.
        again = FlagResolutionDetails(value=d.value, error_code=d.error_code, error_message=d.error_message,
                                      reason=d.reason, variant=d.variant, flag_metadata=d.flag_metadata)
        assert d == again and repr(d) == repr(again)
        assert d.reason in _REASONS and d.error_code in _ERROR_CODES
        # Keywords, as the SDK passes them, and positional give the same.
        assert getattr(p, name)(flag_key=key, default_value=dflt, evaluation_context=CTX) == d
        assert getattr(p, name)(key, default_value=dflt, evaluation_context=CTX) == d
    assert p.resolve_integer_details("button-style.color", 7, CTX).error_code == ErrorCode.TYPE_MISMATCH
    assert p.resolve_boolean_details("new-checkout.enabled", False).reason in (Reason.TARGETING_MATCH, Reason.DEFAULT)


def test_the_sdk_reaches_the_extension_directly():
    p = offline()
    assert type(p.resolve_boolean_details).__name__ == "builtin_function_or_method"
    assert p.resolve_boolean_details.__self__ is p._native

    class Counting(ConfidenceProvider):
        calls = 0

        def resolve_boolean_details(self, flag_key, default_value, evaluation_context=None):
            Counting.calls += 1
            return super().resolve_boolean_details(flag_key, default_value, evaluation_context)

    c = Counting(SECRET, state_file=SAMPLE_STATE, disable_state_sync=True, disable_exposure_collection=True)
    c.initialize(None)
    assert c.resolve_boolean_details("new-checkout.enabled", False, CTX).error_code is None
    assert Counting.calls == 1  # the override runs; the other four still go straight to C
    assert type(c.resolve_string_details).__name__ == "builtin_function_or_method"


def test_wrong_calls_raise_as_python_would():
    p = offline()
    for args, kwargs in (((), {}), (("k",), {}), (("k", 1, None, 4), {}), (("k", 1), {"nope": 1}),
                         (("k", 1), {"flag_key": "again"})):
        with pytest.raises(TypeError):
            p.resolve_boolean_details(*args, **kwargs)


def test_a_class_that_is_not_plain_is_called():
    import dataclasses

    @dataclasses.dataclass
    class Details(FlagResolutionDetails):
        made = 0

        def __post_init__(self):
            Details.made += 1

    assert not _plain_dataclass(Details)
    try:
        _native.set_sdk_types(Details, tuple(_REASONS), tuple(_ERROR_CODES), False)
        d = offline().resolve_boolean_details("new-checkout.enabled", False, CTX)
        assert type(d) is Details and Details.made == 1 and d.error_code is None
    finally:
        _native.set_sdk_types(FlagResolutionDetails, tuple(_REASONS), tuple(_ERROR_CODES), True)
