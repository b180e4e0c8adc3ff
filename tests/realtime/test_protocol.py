"""The protocol as data: parsing join/leave frames, the error frame, the names a bad frame carries."""

from __future__ import annotations

import json

import pytest

from motia_django.exceptions import FrameError
from motia_django.realtime.protocol import Subscription, error_frame, frame_names, parse_frame, parse_subscription


def test_parse_group_and_item_subscriptions():
    data = {"streamName": "chat", "groupId": "g", "subscriptionId": "s1"}
    assert parse_subscription(data) == Subscription("s1", "chat", "g")
    assert parse_subscription({**data, "id": "m1"}) == Subscription("s1", "chat", "g", "m1")
    assert parse_subscription({**data, "id": "m1"}).as_dict() == {**data, "id": "m1"}


@pytest.mark.parametrize(("data", "names"), [
    ("nope", (None, None)),
    ({"streamName": "chat"}, ("chat", None)),
    ({"streamName": "chat", "groupId": "g"}, ("chat", "g")),  # no subscriptionId
    ({"streamName": "chat", "groupId": "g", "subscriptionId": "s", "id": 5}, ("chat", "g")),
])
def test_bad_subscriptions_raise_frame_errors_naming_what_is_known(data, names):
    with pytest.raises(FrameError) as info:
        parse_subscription(data)
    assert info.value.code == "INVALID_MESSAGE"
    assert (info.value.stream, info.value.group_id) == names


def test_error_frame_has_no_id():
    frame = json.loads(error_frame("chat", "g", "STREAM_NOT_FOUND", "no"))
    assert "id" not in frame and frame["timestamp"] > 0
    assert frame["event"] == {"type": "event", "event": {"type": "error",
                                                        "data": {"code": "STREAM_NOT_FOUND", "message": "no"}}}


def test_frame_names_only_takes_strings():
    assert frame_names({"streamName": 1, "groupId": "g"}) == (None, "g")


def test_parse_frame_says_why_a_frame_gets_no_answer():
    assert parse_frame('{"type": "join"}', 64) == {"type": "join"}
    assert parse_frame(None, 64) == "binary"
    assert parse_frame("x" * 65, 64) == "too_large"
    assert parse_frame("é" * 33, 64) == "too_large"  # 66 bytes of UTF-8 in 33 characters
    assert parse_frame("{not json", 64) == "not_json"
    assert parse_frame("[1]", 64) == parse_frame("null", 64) == "not_an_object"
