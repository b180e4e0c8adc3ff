"""motia_django.typescript.types: the names, keys, literals, unions and doc comments the converter writes; a
wrong one here is a declaration that does not compile or means something else."""

from __future__ import annotations

from typing import Any

import pytest

from motia_django.typescript.types import (
    MAX_DEPTH,
    NEVER,
    NULL,
    UNION,
    UNKNOWN,
    TsType,
    ts_array,
    ts_doc,
    ts_intersection,
    ts_key,
    ts_literal,
    ts_union,
    type_name,
)


@pytest.mark.parametrize(("name", "expected"), [
    ("chatMessage", "ChatMessage"), ("openai", "Openai"), ("chat-message", "ChatMessage"),
    ("chat_message", "ChatMessage"), ("v2.events", "V2Events"), ("123", "Stream123"), ("", "Stream"),
    ("ünïcode", "Ünïcode"), ("ü-ber", "ÜBer"), ("ALL_CAPS", "ALLCAPS"),
])
def test_type_names(name, expected):
    assert type_name(name) == expected


STRING, NUMBER = TsType("string"), TsType("number")


def test_unions_flatten_and_absorb():
    pair = ts_union([STRING, NUMBER])
    assert (pair.text, pair.prec) == ("string | number", UNION)
    assert ts_union([pair, STRING, NEVER, NULL]).text == "string | number | null"  # flat, no duplicates, no never
    assert ts_union([STRING, UNKNOWN]) is UNKNOWN
    assert ts_union([]) is NEVER and ts_union([NEVER]) is NEVER
    assert ts_union([STRING, STRING]) is STRING


def test_intersections_parenthesise_unions_and_absorb():
    assert ts_intersection([ts_union([STRING, NULL]), TsType("{ a: string }")]).text == "(string | null) & { a: string }"
    assert ts_intersection([STRING, NEVER]) is NEVER
    assert ts_intersection([UNKNOWN]) is UNKNOWN and ts_intersection([]) is UNKNOWN
    assert ts_intersection([UNKNOWN, STRING]) is STRING


def test_arrays_parenthesise_what_binds_looser():
    assert ts_array(STRING).text == "string[]"
    assert ts_array(ts_union([STRING, NULL])).text == "(string | null)[]"
    assert ts_array(ts_intersection([TsType("A"), TsType("B")])).text == "(A & B)[]"


@pytest.mark.parametrize(("key", "expected"), [
    ("ok_1", "ok_1"), ("$x", "$x"), ("user-id", '"user-id"'), ("2x", '"2x"'), ("", '""'), ('a"b', '"a\\"b"'),
])
def test_keys_are_quoted_unless_identifiers(key, expected):
    assert ts_key(key) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (None, "null"), (True, "true"), (False, "false"), (3, "3"), (-2.5, "-2.5"), (float("inf"), "number"),
    ('say "hi"', '"say \\"hi\\""'), ([1, "x", None], '[1, "x", null]'), ({}, "{ [key: string]: never }"),
    ({"a-b": [True]}, '{ "a-b": [true] }'), (object(), "unknown"),
])
def test_literals_are_the_exact_json_value(value, expected):
    assert ts_literal(value).text == expected


def test_literals_nested_too_deep_become_unknown():
    value: list[Any] = []
    for _ in range(MAX_DEPTH + 5):
        value = [value]
    assert "unknown" in ts_literal(value).text


def test_doc_comments_from_descriptions():
    assert ts_doc({"description": " One line. "}, "  ") == ["  /** One line. */"]
    assert ts_doc({"description": "First\nthen */ end"}, "") == ["/**", " * First", " * then *\\/ end", " */"]
    assert ts_doc({"description": "  "}, "") == [] and ts_doc({"title": "x"}, "") == [] and ts_doc(True, "") == []
