"""motia_django.exceptions: the messages and fields of motia_django's errors, and names that DRF's do not clash
with."""

from __future__ import annotations

import inspect

import pytest
import rest_framework.exceptions

from motia_django import exceptions
from motia_django.exceptions import (
    DefinitionError,
    FrameError,
    MotiaError,
    StreamAuthError,
    StreamJoinRefused,
    StreamNotFound,
    StreamValidationError,
)


def test_validation_error_default_errors_hold_the_message():
    error = StreamValidationError("user_id is required")
    assert error.errors == [{"path": "", "message": "user_id is required"}]
    assert str(error) == "user_id is required" and error.stream == ""
    assert isinstance(error, ValueError) and isinstance(error, MotiaError)


def test_validation_error_keeps_given_errors_even_empty():
    errors = [{"path": "user_id", "message": "required"}]
    assert StreamValidationError("bad", errors).errors is errors
    assert StreamValidationError("bad", []).errors == []


def test_validation_error_with_a_stream_names_it():
    error = StreamValidationError("bad data", stream="chatMessage")
    assert str(error) == "chatMessage: bad data" and error.stream == "chatMessage"


def test_for_stream_names_the_stream_once():
    error = StreamValidationError("bad data")
    assert error.for_stream("chatMessage") is error
    assert str(error) == "chatMessage: bad data" and error.stream == "chatMessage"
    error.for_stream("other")  # a stream is named already
    assert str(error) == "chatMessage: bad data" and error.stream == "chatMessage"
    assert error.errors == [{"path": "", "message": "bad data"}]


def test_stream_not_found_lists_the_known_streams_sorted():
    error = StreamNotFound("nope", ["todos", "chatMessage"])
    assert str(error) == "No stream named 'nope'. Known streams: chatMessage, todos."
    assert error.name == "nope"
    assert isinstance(error, KeyError)


@pytest.mark.parametrize("known", [None, []])
def test_stream_not_found_without_streams(known):
    assert str(StreamNotFound("nope", known)) == "No stream named 'nope'. No streams are registered."


def test_stream_not_found_str_is_not_a_repr():
    with pytest.raises(KeyError) as info:
        raise StreamNotFound("x")
    assert str(info.value).startswith("No stream named 'x'")  # KeyError alone would quote the message


def test_join_refused_message_and_fields():
    group = StreamJoinRefused("STREAM_ACCESS_DENIED", "not yours", "chatMessage", "room")
    assert str(group) == "joining chatMessage/room was refused: STREAM_ACCESS_DENIED (not yours)"
    assert (group.code, group.message, group.stream, group.group_id, group.id) == (
        "STREAM_ACCESS_DENIED", "not yours", "chatMessage", "room", None)
    item = StreamJoinRefused("STREAM_NOT_FOUND", "no such stream", "chat", "room", "m1")
    assert str(item) == "joining chat/room/m1 was refused: STREAM_NOT_FOUND (no such stream)"
    assert item.id == "m1"


def test_definition_and_frame_errors_keep_their_parts():
    definition = DefinitionError("motia_django.E003", "stream has no name", "Add a name.")
    assert (definition.id, definition.msg, definition.hint, str(definition)) == (
        "motia_django.E003", "stream has no name", "Add a name.", "stream has no name")
    frame = FrameError("INVALID_MESSAGE", "bad frame", "chatMessage", "room")
    assert (frame.code, frame.message, frame.stream, frame.group_id, str(frame)) == (
        "INVALID_MESSAGE", "bad frame", "chatMessage", "room", "bad frame")
    auth = StreamAuthError("refused", 401)
    assert auth.status == 401 and isinstance(auth, PermissionError)


def test_every_error_is_a_motia_error_and_exported():
    classes = {name for name, obj in vars(exceptions).items()
               if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == exceptions.__name__}
    assert classes == set(exceptions.__all__)
    assert all(issubclass(getattr(exceptions, name), MotiaError) for name in classes)


def test_drf_names_are_not_shadowed():
    drf = {name for name in dir(rest_framework.exceptions) if not name.startswith("_")}
    assert set(exceptions.__all__).isdisjoint(drf)
