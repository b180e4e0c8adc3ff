"""motia_django.rest in-process: JSONParser's JSON rule and size bound, and exception_handler's 413/400/503 answers."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from django.core.exceptions import (
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
)
from django.db import DatabaseError, DataError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.exceptions import ParseError
from rest_framework.test import APIClient
from rest_framework.views import exception_handler as drf_handler

from motia_django.encoding import MAX_DEPTH
from motia_django.rest import RETRY_AFTER_SECONDS, BodyParseError, JSONParser, exception_handler


def test_motia_django_rest_can_be_imported_first():
    """With the documented REST_FRAMEWORK settings, ``import motia_django.rest`` in a fresh process."""
    code = "import django; django.setup(); import motia_django.rest"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "example_project.settings"})
    assert result.returncode == 0, result.stderr[-2000:]


class CountingStream(io.BytesIO):
    """A request stream that records how much was asked of it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.requested: list[int | None] = []

    def read(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        self.requested.append(size)
        return super().read(size)


def parse(body: bytes) -> object:
    return JSONParser().parse(io.BytesIO(body), "application/json")


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# --- JSONParser -----------------------------------------------------------------------------------------------


def test_parses_json():
    assert parse(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 1025, 10_000, 100_000])
def test_too_deep_is_a_parse_error(depth):
    with pytest.raises(ParseError) as raised:
        parse(nested(depth))
    assert raised.value.status_code == 400


def test_too_deep_objects_and_deep_inside_a_field_are_parse_errors():
    with pytest.raises(ParseError):
        parse(b'{"a":' * 10_000 + b"1" + b"}" * 10_000)
    with pytest.raises(ParseError, match="nested"):
        parse(b'{"message": ' + nested(MAX_DEPTH + 5) + b"}")


@pytest.mark.parametrize(("body", "path"), [
    (b'{"a": [0, {"b": "\\ud800"}]}', "a.1.b"), (b'{"n": NaN}', "n"), (b'{"a": ', ""), (nested(MAX_DEPTH + 1), "")])
def test_a_parse_error_carries_the_path_of_what_it_refuses(body, path):
    with pytest.raises(BodyParseError) as raised:
        parse(body)
    assert raised.value.path == path


def test_the_deepest_accepted_nesting_is_max_depth():
    assert parse(nested(MAX_DEPTH)) is not None


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"s": "[" * 10_000 + "{" * 10_000}).encode()
    assert parse(text) == {"s": "[" * 10_000 + "{" * 10_000}


@pytest.mark.parametrize("text", [b'"\\ud800"', b'{"a": "\\udfff"}', b'["\\udc00\\ud800"]', b'{"\\ud800": 1}',
                                  b'{"a": "ok\\ud83d"}'])
def test_lone_surrogates_are_parse_errors(text):
    with pytest.raises(ParseError, match="surrogate"):
        parse(text)


def test_a_surrogate_pair_is_fine():
    assert parse(b'"\\ud83d\\ude00"') == "\U0001f600"


@pytest.mark.parametrize("text", [b"\xff", b'{"a": "\xc3\x28"}', b'"\xed\xa0\x80"', b"NaN", b"Infinity", b"1e400",
                                  b"[1,]", b"{'a': 1}", b'{"a": 1} x', b"\x00"])
def test_what_is_not_strict_json_is_a_parse_error(text):
    with pytest.raises(ParseError):
        parse(text)


def test_an_empty_body_is_none():
    assert parse(b"") is None


def test_a_body_over_the_limit_is_request_data_too_big(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = json.dumps({"a": "x" * 200}).encode()
    stream = CountingStream(body)
    with pytest.raises(RequestDataTooBig):
        JSONParser().parse(stream, "application/json")
    assert stream.requested == [101]  # never more than the limit and one byte is read
    assert stream.tell() == 101


def test_a_body_at_the_limit_is_parsed(settings):
    body = json.dumps({"a": "x" * 80}).encode()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body)
    assert JSONParser().parse(io.BytesIO(body), "application/json") == {"a": "x" * 80}


def test_no_limit_reads_everything(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = None
    body = json.dumps({"a": "x" * 5_000_000}).encode()
    assert JSONParser().parse(io.BytesIO(body), "application/json") == {"a": "x" * 5_000_000}


# --- exception_handler ----------------------------------------------------------------------------------------


def test_request_data_too_big_is_413():
    response = exception_handler(RequestDataTooBig("too big"), {})
    assert response is not None
    assert (response.status_code, response.data) == (413, {"error": "Request body too large"})


@pytest.mark.parametrize("exc", [SuspiciousOperation("odd"), DisallowedHost("evil.example"),
                                 TooManyFieldsSent("too many")])
def test_suspicious_operations_are_400(exc):
    response = exception_handler(exc, {})
    assert response is not None
    assert (response.status_code, response.data) == (400, {"error": "Bad Request"})


@pytest.mark.parametrize("exc", [OperationalError("connection refused"), InterfaceError("connection already closed")])
def test_the_database_out_of_reach_is_503_with_retry_after(exc):
    response = exception_handler(exc, {})
    assert response is not None
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "database" in response.data["error"]


@pytest.mark.parametrize(("exc", "status"), [
    (drf.ValidationError({"title": ["required"]}), 400), (drf.ParseError("bad"), 400),
    (drf.NotAuthenticated(), 401), (drf.PermissionDenied(), 403), (drf.NotFound(), 404),
    (drf.MethodNotAllowed("PATCH"), 405), (drf.UnsupportedMediaType("text/plain"), 415),
    (drf.Throttled(wait=7), 429), (Http404("nope"), 404), (PermissionDenied("no"), 403),
])
def test_everything_else_is_drfs_answer(exc, status):
    response, expected = exception_handler(exc, {}), drf_handler(exc, {})
    assert response is not None and expected is not None
    assert (response.status_code, response.data) == (status, expected.data)
    if isinstance(exc, drf.Throttled):
        assert response["Retry-After"] == "7"


@pytest.mark.parametrize("exc", [ValueError("bug"), KeyError("k"), IntegrityError("dup"), DatabaseError("other")])
def test_what_drf_leaves_to_a_500_it_still_leaves(exc):
    """Only the database out of reach is a 503: a bad query or a bug is not the client's to retry."""
    assert exception_handler(exc, {}) is None


def test_a_value_the_database_refuses_is_400():
    """``DataError``: the client sent a value the database cannot store or compare (a NUL on PostgreSQL)."""
    response = exception_handler(DataError("invalid byte sequence for encoding UTF8: 0x00"), {})
    assert response is not None and response.status_code == 400


# --- the example project's /todos/ (a ModelViewSet on these settings) -----------------------------------------


@pytest.mark.django_db
class TestTodosUseThem:
    def post(self, body: bytes, content_type: str = "application/json") -> object:
        return APIClient().generic("POST", "/todos/", body, content_type=content_type)

    def test_deep_json_is_400(self):
        response = self.post(nested(10_000))
        assert response.status_code == 400  # DRF's own parser: RecursionError, a 500

    def test_a_surrogate_is_400_and_nothing_is_stored(self):
        from example_project.todo.models import Todo

        response = self.post(b'{"list_id": "L", "title": "\\ud800"}')
        assert response.status_code == 400
        assert not Todo.objects.exists()

    def test_a_body_over_the_limit_is_413(self, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
        response = self.post(json.dumps({"list_id": "L", "title": "x" * 2000}).encode())
        assert response.status_code == 413
        assert response.json() == {"error": "Request body too large"}

    def test_a_good_body_is_201(self):
        assert self.post(b'{"list_id": "L", "title": "ok"}').status_code == 201
