"""Property-based fuzzing of the API steps and /todos/ over a real uvicorn: no 5xx, and a refused request stores nothing."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

from tests.support.rawhttp import SURROGATE_ESCAPES, Reply, send
from tests.support.server import LiveServer, base_env

pytestmark = pytest.mark.e2e

UPLOAD_LIMIT, MAX_ITEM_BYTES = 64 * 1024, 4096  # tests/support/hostile_settings.py
CHANNELS = ["fz-a", "fz-b"]
LISTS = ["fl-a", "fl-b"]
FUZZ = settings(max_examples=500, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


_connections: dict[str, Any] = {}


def query(db_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read the live server's database (one connection kept per URL: a check makes about ten reads, and a new
    PostgreSQL connection for each made the fuzzing crawl)."""
    if db_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(db_url.split("sqlite:///", 1)[1], timeout=20) as conn:
            return list(conn.execute(sql.replace("%s", "?"), args).fetchall())
    import psycopg

    conn = _connections.get(db_url)
    if conn is None or conn.closed:
        conn = _connections[db_url] = psycopg.connect(db_url, autocommit=True)
    return list(conn.execute(sql, args).fetchall())


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def stored(db_url: str) -> dict[str, Any]:
    """Everything a request could have written: the chat messages and todos (all of them: a request may name any
    group), the openai items' keys (their contents are the event runner's, written later) and the events."""
    return {
        "chat": sorted((g, i, json.dumps(_json(d), sort_keys=True), v) for g, i, d, v in query(
            db_url, "SELECT group_id, item_id, data, version FROM motia_django_streamitem WHERE stream = 'chatMessage'")),
        "todos": sorted(tuple(map(str, row)) for row in query(
            db_url, "SELECT id, list_id, title, done, updated_at FROM todo_todo")),
        "openai": sorted(query(db_url, "SELECT group_id, item_id FROM motia_django_streamitem WHERE stream = 'openai'")),
        "events": sorted(row[0] for row in query(db_url, "SELECT id FROM motia_django_event")),
    }


@pytest.fixture(scope="module")
def fuzz_server(live_db_url: str, tmp_path_factory: Any) -> Any:
    env = base_env(live_db_url, DJANGO_SETTINGS_MODULE="tests.support.hostile_settings", FAKE_LLM_DELAY_MS="0")
    with LiveServer(env, log_dir=tmp_path_factory.mktemp("logs"), server="uvicorn") as live:
        for channel in CHANNELS:
            assert send(live.port, "POST", "/chat-messages", {"channel_id": channel, "message": "seed"}).status == 201
        for list_id in LISTS:
            assert send(live.port, "POST", "/todos/", {"list_id": list_id, "title": "seed"}).status == 201
        yield live
        for conn in _connections.values():
            conn.close()
        _connections.clear()
        assert "Exception in ASGI application" not in live.log()


# --- what to send ----------------------------------------------------------------------------------------------

# Strings a server might choke on (NUL included: the JSON rule refuses it, as PostgreSQL would).
odd_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(exclude_categories=["Cs"], ),
            max_size=30),
    st.sampled_from(["", " ", "fz-a", "fz-b", "fl-a", "é", "😀", "\u2028", "../..", "%00", "a" * 300,
                     "<script>", "' OR 1=1 --", "\\", '"']),
)
huge_text = st.sampled_from([MAX_ITEM_BYTES - 200, MAX_ITEM_BYTES + 1, 40_000, UPLOAD_LIMIT + 1, 200_000]).map(
    lambda n: "z" * n)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    odd_text)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    odd_text, inner, max_size=3), max_leaves=12)
field_values = st.one_of(odd_text, odd_text, odd_text, json_values, scalars, huge_text)
FIELDS = ["channel_id", "message", "user_id", "list_id", "title", "done", "id"]


@st.composite
def shaped(draw: Any) -> dict[str, Any]:
    """A body close to what the endpoints expect: their field names, with any values (often the right type)."""
    keys = [key for key in FIELDS if draw(st.sampled_from([True, True, False]))]
    body: dict[str, Any] = {}
    for key in keys:
        if key in ("channel_id", "list_id"):
            body[key] = draw(st.one_of(st.sampled_from(CHANNELS if key == "channel_id" else LISTS), field_values))
        elif key == "done":
            body[key] = draw(st.one_of(st.booleans(), field_values))
        else:
            body[key] = draw(field_values)
    return body


def deep(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "[" else '{"a":' * depth + "1" + "}" * depth


@st.composite
def bodies(draw: Any) -> tuple[str, bytes | None, str | None]:
    """(what it is, the body bytes, its content type)."""
    kind = draw(st.sampled_from(["json", "shaped", "shaped", "deep", "deep field", "surrogate", "invalid utf-8",
                                 "garbage", "none", "empty", "form", "multipart"]))
    json_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "application/json; charset=utf-16",
                                  "application/vnd.api+json", "text/plain", "application/xml", "*/*", "",
                                  "application/json; charset=rot13", "application/json; charset=bogus"])
    content_type = draw(st.one_of(st.just("application/json"), st.just("application/json"), json_types, st.none()))
    if kind == "json":
        return kind, json.dumps(draw(json_values)).encode(), content_type
    if kind == "shaped":
        return kind, json.dumps(draw(shaped()), ensure_ascii=draw(st.booleans())).encode(), content_type
    if kind == "deep":
        depth = draw(st.sampled_from([63, 64, 65, 1023, 1025, 10_000]))
        return kind, deep(depth, draw(st.sampled_from("[{"))).encode(), content_type
    if kind == "deep field":
        base = draw(shaped())
        key = draw(st.sampled_from(["message", "user_id", "title", "channel_id"]))
        depth = draw(st.sampled_from([62, 65, 2000]))
        text = json.dumps({**base, key: "__DEEP__"}).replace('"__DEEP__"', deep(depth, draw(st.sampled_from("[{"))))
        return kind, text.encode(), content_type
    if kind == "surrogate":
        base = draw(shaped())
        key = draw(st.sampled_from(["message", "user_id", "title", "channel_id", "list_id", "__key__"]))
        escape = draw(st.sampled_from(SURROGATE_ESCAPES))
        if key == "__key__":
            text = json.dumps(base)[:-1] + (", " if base else "") + f'"{escape}": 1}}'
        else:
            text = json.dumps({**base, key: "__SURROGATE__"}).replace('"__SURROGATE__"', f'"{escape}"')
        return kind, text.encode(), content_type
    if kind == "invalid utf-8":
        base = draw(shaped())
        key = draw(st.sampled_from(["message", "user_id", "title", "channel_id", "list_id"]))
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x80"]))
        text = json.dumps({**base, key: "__BAD__"}).encode().replace(b"__BAD__", bad)
        return kind, text, content_type
    if kind == "garbage":
        return kind, draw(st.binary(max_size=300)), content_type
    if kind == "none":
        return kind, None, None
    if kind == "empty":
        return kind, b"", content_type
    if kind == "form":
        fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in draw(shaped()).items()}
        raw = urlencode(fields).encode()
        if draw(st.booleans()):
            raw += b"&" + b"&".join(b"f%d=1" % i for i in range(draw(st.sampled_from([10, 1001, 1500]))))
        return kind, raw, draw(st.sampled_from(["application/x-www-form-urlencoded", "application/json",
                                                "application/x-www-form-urlencoded; charset=utf-16",
                                                "application/x-www-form-urlencoded; charset=bogus"]))
    parts = b"".join(b'--zz\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (
        k.encode(), (v if isinstance(v, str) else json.dumps(v)).encode("utf-8", "surrogatepass"))
        for k, v in draw(shaped()).items())
    if draw(st.booleans()):  # a file part
        parts += b'--zz\r\nContent-Disposition: form-data; name="message"; filename="a.txt"\r\n\r\nfile\r\n'
    ending = draw(st.sampled_from([b"--zz--\r\n", b"", b"--z"]))
    return kind, parts + ending, draw(st.sampled_from(["multipart/form-data; boundary=zz", "multipart/form-data",
                                                       "multipart/form-data; boundary="]))


ODD_SEGMENTS = ["%FF", "%ED%A0%80", "%C0%AF", "a%00b", "x" * 300, "%2F", "..", "%20",
                "nope", quote("😀"), "-1", "0", "99999999999999999999999", "1e3"]


class Existing:
    """A path parameter naming a stored message or todo: which one is resolved when the request is made (the
    strategy must not depend on what earlier examples stored)."""

    def __init__(self, kind: str, pick: int) -> None:
        self.kind, self.pick = kind, pick

    def resolve(self, ids: dict[str, list[str]]) -> str:
        found = ids.get(self.kind) or []
        return found[self.pick % len(found)] if found else "none"


def parameter(kind: str) -> Any:
    return st.one_of(st.integers(0, 1000).map(lambda pick: Existing(kind, pick)), st.sampled_from(ODD_SEGMENTS))


@st.composite
def targets(draw: Any) -> tuple[str, list[Any]]:
    """(method, path pieces) against the endpoints, with real and odd path parameters (``Existing`` pieces are
    resolved by ``path_of``)."""
    channel = draw(st.sampled_from(CHANNELS) | st.sampled_from(ODD_SEGMENTS))
    message, todo = draw(parameter(f"messages:{channel}")), draw(parameter("todos"))
    pieces, methods = draw(st.sampled_from([
        (["/chat-messages"], ["POST"]), (["/chat-messages/", channel], ["GET"]),
        (["/chat-messages/", channel, "/", message], ["PUT", "DELETE"]),
        (["/chat-messages/", channel, "/typing"], ["POST"]), (["/open-ai"], ["POST"]),
        (["/todos/"], ["GET", "POST"]), (["/todos/", todo, "/"], ["GET", "PUT", "PATCH", "DELETE"]),
        (["/hostile/notes/", channel], ["POST"]), (["/hostile/whoami"], ["GET"]),
    ]))
    query = draw(st.sampled_from(["", "", "?list_id=fl-a", "?q=1&q=2", "?format=json", "?format=api",
                                  "?list_id=%00",
                                  "?" + "&".join(f"k{i}=1" for i in range(1100))]))
    any_method = st.sampled_from(["POST", "PUT", "PATCH", "GET", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND"])
    method = draw(st.one_of(st.sampled_from(methods), st.sampled_from(methods), st.sampled_from(methods), any_method))
    return method, [*pieces, query]


def path_of(pieces: list[Any], ids: dict[str, list[str]]) -> str:
    return "".join(p.resolve(ids) if isinstance(p, Existing) else p for p in pieces)


def current_ids(db_url: str) -> dict[str, list[str]]:
    """The stored todos, and the messages of each fuzzed channel ("messages:<channel>")."""
    ids: dict[str, list[str]] = {"todos": sorted(str(r[0]) for r in query(db_url, "SELECT id FROM todo_todo"))}
    for channel in CHANNELS:
        ids[f"messages:{channel}"] = sorted(r[0] for r in query(
            db_url, "SELECT item_id FROM motia_django_streamitem WHERE stream = 'chatMessage' AND group_id = %s",
            channel))
    return ids


def check(server: Any, db_url: str, method: str, path: str, body: bytes | None, content_type: str | None) -> Reply:
    before = stored(db_url)
    reply = send(server.port, method, path, body, content_type=content_type)
    note(f"{method} {path} content-type={content_type!r} body={(body or b'')[:300]!r}... -> {reply}")
    event(f"status {reply.status}")
    assert reply.status < 500, f"{method} {path}: {reply}"
    if 400 <= reply.status < 500:
        assert stored(db_url) == before, f"a refused request ({reply.status}) stored something"
    if method == "HEAD":
        assert reply.body == b""
    return reply


TOO_MANY_FIELDS = "k1000=1"


@FUZZ
@given(target=targets(), body=bodies())
def test_no_request_is_a_5xx_and_a_refused_one_stores_nothing(fuzz_server, live_db_url, target, body):
    method, pieces = target
    _, raw_body, content_type = body
    # Known 500, left out here: over DATA_UPLOAD_MAX_NUMBER_FIELDS query parameters with a charset in the
    # Content-Type (test_hostile_http's test_too_many_query_parameters_with_a_charset_are_400).
    assume(not (TOO_MANY_FIELDS in pieces[-1] and "charset" in (content_type or "")))
    check(fuzz_server, live_db_url, method, path_of(pieces, current_ids(live_db_url)), raw_body, content_type)


WRITES = [("POST", ["/chat-messages"]), ("PUT", ["/chat-messages/fz-a/", Existing("messages:fz-a", 0)]),
          ("PUT", ["/chat-messages/fz-b/", Existing("messages:fz-b", -1)]), ("POST", ["/chat-messages/fz-a/typing"]),
          ("POST", ["/open-ai"]), ("POST", ["/todos/"]), ("PUT", ["/todos/", Existing("todos", 0), "/"]),
          ("PATCH", ["/todos/", Existing("todos", -1), "/"])]


@FUZZ
@given(target=st.sampled_from(WRITES), body=shaped(), ascii_only=st.booleans())
def test_writes_with_shaped_json_bodies(fuzz_server, live_db_url, target, body, ascii_only):
    """The writing endpoints with bodies of their own shape, the values fuzzed: deeper into the handlers."""
    method, pieces = target
    check(fuzz_server, live_db_url, method, path_of(pieces, current_ids(live_db_url)),
          json.dumps(body, ensure_ascii=ascii_only).encode(), "application/json")
