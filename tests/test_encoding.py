"""The leaf layer: the timestamp rule, JSON encoding, key rules, the item shape."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from motia_django.encoding import encode
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
