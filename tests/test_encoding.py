"""The leaf layer: the timestamp rule, JSON encoding, key rules, the item shape."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from motia_django.encoding import decode, encode
from motia_django.exceptions import StreamValidationError
from motia_django.stream import items as core
from motia_django.stream.items import MAX_KEY_LENGTH, make_item, next_timestamp, validate_key


def test_next_timestamp_is_now_or_one_past_the_previous(monkeypatch):
    monkeypatch.setattr(core, "time_ns", lambda: 5_000 * 1_000_000)
    assert next_timestamp(None) == 5_000
    assert next_timestamp(4_000) == 5_000
    assert next_timestamp(5_000) == 5_001  # same millisecond: still strictly greater
    assert next_timestamp(9_000) == 9_001  # a clock behind the item's last write


@given(st.integers(min_value=0, max_value=2**62))
def test_next_timestamp_always_exceeds_the_previous(previous):
    assert next_timestamp(previous) > previous


def test_encode_is_compact_utf8_json_and_rejects_what_json_cannot_hold():
    assert encode({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'
    with pytest.raises(ValueError):
        encode({"x": math.nan})
    with pytest.raises(StreamValidationError, match="x is not JSON: an object is not JSON"):
        encode({"x": object()})


@pytest.mark.parametrize(("value", "message"), [
    (1, "must be a string"), ("", "must not be empty"), ("a" * (MAX_KEY_LENGTH + 1), "longer than"),
    ("a\x00b", "NUL"),
])
def test_validate_key_says_what_is_wrong(value, message):
    with pytest.raises(StreamValidationError, match=message):
        validate_key("group id", value, stream="s")


def test_make_item_puts_the_id_first_and_wins_over_data():
    assert list(make_item("m1", {"a": 1, "id": "other"}).items()) == [("id", "m1"), ("a", 1)]


# --- the JSON rule ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "path", "reason"), [
    ({"a": "x\x00y"}, "data.a", "NUL"),
    ({"a": ["ok", {"k\x00": 1}]}, "data.a.1", "object key holding NUL"),
    ({"a": "\ud800"}, "data.a", "lone surrogate"),
    ({"n": 2**64}, "data.n", "64-bit"),
    ({"f": math.inf}, "data.f", "not finite"),
    ({"deep": [[[]]]}, "data.deep", "nested deeper"),
])
def test_encode_names_the_field_that_breaks_the_rule(data, path, reason, monkeypatch):
    monkeypatch.setattr("motia_django.encoding.MAX_DEPTH", 3)
    with pytest.raises(StreamValidationError, match=reason) as caught:
        encode(data)
    assert str(caught.value).startswith(path)


def test_decode_refuses_nul_but_not_an_escaped_backslash_before_u0000():
    with pytest.raises(ValueError, match="NUL"):
        decode(b'{"a": ["\\u0000"]}')
    with pytest.raises(ValueError, match="NUL"):
        decode('{"\\u0000": 1}')
    assert decode(b'["\\\\u0000"]') == ["\\u0000"]


def test_decode_refuses_nesting_past_the_bound_without_recursing():
    assert decode(b"[" * 64 + b"]" * 64) is not None
    with pytest.raises(ValueError, match="nested 65 deep"):
        decode(b"[" * 65 + b"]" * 65)


@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
                    | st.floats(allow_nan=False, allow_infinity=False),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=20))
def test_what_encode_accepts_decode_reads_back(value):
    """Every value is either refused by encode with a reason, or round-trips through decode unchanged."""
    try:
        text = encode(value)
    except StreamValidationError as exc:
        assert "NUL" in str(exc) or "surrogate" in str(exc)
        return
    assert decode(text) == value
