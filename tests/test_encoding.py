"""The leaf layer: the timestamp rule, JSON encoding, key rules, the item shape."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from motia_django.encoding import RefusedJSON, StoredJSONDecoder, decode, encode
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


@pytest.mark.parametrize(("text", "message"), [
    (b'{"message": "\\ud800"}', "message: a string that is not valid Unicode (a lone surrogate)"),
    (b'{"a": [1, {"b": "\\udc00\\ud800"}]}', "a.1.b: a string that is not valid Unicode"),
    (b'{"a": [1, {"b": "x\\u0000y"}]}', "a.1.b: a string holding NUL"),
    (b'{"n": NaN}', "n: a number that is not finite"),
    (b'["ok\\udbff"]', "0: a string that is not valid Unicode"),
    (b'{"k": {"\\ud800": 1}}', "k: an object key is not valid Unicode"),
    (b"[" + b"[], " * 100 + b'"\\ud800"]', "100: a string that is not valid Unicode"),  # many brackets, shallow
    (b"[" * 50 + b'"\\ud800"' + b"]" * 50, "0." * 49 + "0: a string that is not valid Unicode"),
])
def test_decode_names_the_path_of_a_value_that_breaks_the_rule(text, message):
    with pytest.raises(ValueError) as caught:
        decode(text)
    assert str(caught.value).startswith(message), caught.value


@pytest.mark.parametrize("text", [b'{"a": ', b"\xff", b"[" * 2000 + b"]" * 2000, b'{"a": "\\ud800"' + b"[" * 100])
def test_decode_refuses_broken_syntax_without_a_path(text):
    with pytest.raises(ValueError) as caught:
        decode(text)
    assert getattr(caught.value, "path", "") == ""


_MARKER = "__breaks_the_rule__"


def _marked_path(value, path=()):
    """The path of the marker string inside ``value``, or None."""
    if value == _MARKER:
        return path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found = _marked_path(child, (*path, str(key)))
        if found is not None:
            return found
    return None


_printable = {"min_codepoint": 32, "max_codepoint": 126}  # nothing of its own that breaks the rule
_keys = st.text(st.characters(**_printable, exclude_characters='"\\.'), max_size=5)
_leaves = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
           | st.text(st.characters(**_printable, exclude_characters='"\\')))


@settings(deadline=None)  # a busy CI machine must not fail it on time
@given(st.recursive(st.just(_MARKER) | _leaves, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(_keys, inner, max_size=3), max_leaves=12),
       st.sampled_from(["\\ud800", "\\udfff", "a\\udbffb", "\\udc00\\ud800", "x\\u0000"]))
def test_a_bad_string_anywhere_in_a_document_is_refused_by_its_path(document, escape):
    """Wherever a lone surrogate or a NUL sits in a request body or a frame, decode refuses it by its path."""
    path = _marked_path(document)
    assume(path is not None and len(path) < 60)
    text = json.dumps(document).replace(f'"{_MARKER}"', f'"{escape}"')
    with pytest.raises(RefusedJSON) as caught:
        decode(text)
    where = ".".join(path)
    assert str(caught.value).startswith(f"{where}: " if where else "a string"), (text, caught.value)
    assert caught.value.path == where  # what an API step's 400 answers as the error's path


@pytest.mark.parametrize("number", [2**64, 2**64 + 1, -(2**63) - 1, 10**30, -(10**40)])
def test_an_integer_past_64_bits_is_refused_by_its_path_not_read_as_a_float(number):
    with pytest.raises(ValueError, match=r"^a\.0: an integer out of the 64-bit range"):
        decode(f'{{"a": [{number}], "s": "1234567890123456789012"}}')


@settings(deadline=None)  # a busy CI machine must not fail it on time
@given(st.integers(-(2**63), 2**64 - 1), st.integers(19, 40))
def test_integers_in_range_are_read_exactly_and_long_digit_strings_are_fine(number, digits):
    assert decode(f'{{"n": {number}, "s": "{"7" * digits}"}}'.encode()) == {"n": number, "s": "7" * digits}


@settings(deadline=None)  # a busy CI machine must not fail it on time
@given(st.one_of(st.integers(max_value=-(2**63) - 1), st.integers(min_value=2**64)))
def test_any_integer_out_of_range_is_refused(number):
    with pytest.raises(ValueError, match="64-bit range"):
        decode(f"[{number}]")


# --- StoredJSONDecoder: what the database hands back ---------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("100000000000000000000", 1e20),  # jsonb's numeric of the float 1e+20
    ("-9223372036854775809", -9223372036854775809.0),
    ("18446744073709551615", 2**64 - 1),  # still in 64 bits: an integer
    ("-9223372036854775808", -(2**63)),
    ('{"a": [1, 2.5, "x", null]}', {"a": [1, 2.5, "x", None]}),
    ('{"nan": NaN, "big": 100000000000000000000}', {"nan": math.nan, "big": 1e20}),  # orjson refuses NaN
    ('"\\ud800"', "\ud800"),  # a lone surrogate, written around the API
])
def test_stored_json_is_read_within_64_bit_integers(text, expected):
    value = json.loads(text, cls=StoredJSONDecoder)
    if isinstance(expected, dict) and "nan" in expected:
        assert math.isnan(value.pop("nan")) and value == {"big": 1e20}
    else:
        assert value == expected and type(value) is type(expected)
