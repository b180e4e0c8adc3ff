"""motia_django.stream.items: the key rule, the clock and the timestamp rule, and the item shape clients see."""

from __future__ import annotations

import pytest

from motia_django.exceptions import StreamValidationError
from motia_django.stream import items
from motia_django.stream.items import MAX_KEY_LENGTH, make_item, next_timestamp, now_ms, validate_key


@pytest.mark.parametrize("value", ["a", "room-1", "ünïcødé ✓", "x" * MAX_KEY_LENGTH, " spaced ", "a/b:c"])
def test_good_keys_are_returned_as_they_are(value):
    assert validate_key("group id", value) is value


@pytest.mark.parametrize(("value", "words"), [
    (1, "group id must be a string, got int"),
    (None, "group id must be a string, got NoneType"),
    (b"room", "group id must be a string, got bytes"),
    ("", "group id must not be empty"),
    ("x" * (MAX_KEY_LENGTH + 1), f"group id is longer than {MAX_KEY_LENGTH} characters"),
    ("a\x00b", "group id must not contain NUL characters"),
    ("\ud800", "group id must be valid Unicode"),
])
def test_bad_keys_are_refused(value, words):
    with pytest.raises(StreamValidationError) as info:
        validate_key("group id", value)
    assert str(info.value) == words
    assert info.value.errors == [{"path": "", "message": words}]


def test_a_refused_key_names_its_stream():
    with pytest.raises(StreamValidationError) as info:
        validate_key("item id", "", stream="chatMessage")
    assert str(info.value) == "chatMessage: item id must not be empty" and info.value.stream == "chatMessage"


@pytest.fixture
def clock(monkeypatch):
    """Freeze the protocol's clock at ``clock.ms`` epoch milliseconds."""

    class Clock:
        ms = 5_000

    monkeypatch.setattr(items, "time_ns", lambda: Clock.ms * 1_000_000 + 999_999)  # sub-millisecond part dropped
    return Clock


def test_now_ms_is_epoch_milliseconds(clock):
    assert now_ms() == 5_000
    clock.ms = 6_000
    assert now_ms() == 6_000


def test_a_first_write_takes_the_clock(clock):
    assert next_timestamp(None) == 5_000


def test_a_later_write_takes_the_clock_when_it_is_ahead(clock):
    assert next_timestamp(4_000) == 5_000


@pytest.mark.parametrize("previous", [5_000, 5_001, 9_999])
def test_a_write_in_the_same_millisecond_or_behind_a_clock_that_went_back_is_one_more(clock, previous):
    assert next_timestamp(previous) == previous + 1


def test_many_writes_in_one_millisecond_strictly_increase(clock):
    stamps = [next_timestamp(None)]
    for _ in range(4):
        stamps.append(next_timestamp(stamps[-1]))
    assert stamps == [5_000, 5_001, 5_002, 5_003, 5_004]


def test_make_item_puts_id_first():
    item = make_item("m1", {"text": "hi", "user": "u1"})
    assert item == {"id": "m1", "text": "hi", "user": "u1"} and list(item) == ["id", "text", "user"]


def test_make_item_overrides_an_id_in_the_data_and_keeps_it_first():
    data = {"text": "hi", "id": "stale"}
    item = make_item("m1", data)
    assert item == {"id": "m1", "text": "hi"} and list(item) == ["id", "text"]
    assert data == {"text": "hi", "id": "stale"}  # the stored data is not touched
    assert make_item("m2", {}) == {"id": "m2"}
