"""``manage.py streams``: every subcommand, ``--json``, stdin, errors that write nothing, and ``tail`` against a
real server (the Python client in a ``manage.py`` process)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from pydantic import BaseModel

from motia_django import StateStream
from motia_django.models import StreamItem
from motia_django.stream.registry import registry, streams
from motia_django.typescript import declarations
from tests.support.realtime import chat, write
from tests.support.server import ROOT, LiveServer, base_env, free_port


class NoListStorage(StateStream):
    """Custom storage that cannot list its groups (``list_groups`` is optional)."""

    def get(self, group_id: str, id: str) -> dict[str, Any] | None:
        return None

    def set(self, group_id: str, id: str, data: dict[str, Any]) -> dict[str, Any]:
        return data

    def delete(self, group_id: str, id: str) -> dict[str, Any] | None:
        return None

    def get_group(self, group_id: str) -> list[tuple[str, dict[str, Any]]]:
        return []


class Reply(BaseModel):
    message: str


CHAT = {"type": "object", "properties": {"id": {"type": "string"}, "user_id": {"type": "string"},
                                         "message": {"type": "string"}, "timestamp": {"type": "string"}},
        "required": ["id", "user_id", "message", "timestamp"]}
#: The streams these tests see: the example's chat and OpenAI streams as they are in docs/streams.md (the example
#: project's own may grow), not its steps folder.
KNOWN = {"chatMessage": {"schema": CHAT}, "openai": {"schema": Reply}}
CUSTOM = {
    "memo": {"schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
             "baseConfig": {"storageType": "custom", "factory": "tests.support.custom_storage.DictStorage"}},
    "blind": {"schema": {"type": "object"},
              "baseConfig": {"storageType": "custom", "factory": "tests.management.test_streams_command.NoListStorage"}},
}


@pytest.fixture(autouse=True)
def known_streams() -> Any:
    with override_settings(STREAMS=KNOWN, MOTIA={"STEPS_DIRS": []}):
        yield


def run(*args: str, stdin: str | None = None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    options: dict[str, Any] = {"stdout": out, "stderr": err}
    if stdin is not None:
        options["stdin"] = io.StringIO(stdin)
    call_command("streams", *args, **options)
    return out.getvalue(), err.getvalue()


def rows() -> list[tuple[str, str, str, Any]]:
    return list(StreamItem.objects.order_by("pk").values_list("stream", "group_id", "item_id", "data"))


# --- reads ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_counts_groups_and_items():
    streams.chatMessage.set("room-1", "a", chat("a"))
    streams.chatMessage.set("room-1", "b", chat("b"))
    streams.chatMessage.set("room-2", "a", chat("a"))
    with override_settings(STREAMS={**KNOWN, **CUSTOM}):
        streams.memo.set("g1", "x", {"text": "one"})
        out, _ = run("list")
        assert out.splitlines() == [
            "stream       storage  groups  items",
            "blind        custom        -      -",
            "chatMessage  default       2      3",
            "memo         custom        1      1",
            "openai       default       0      0",
        ]
        out, _ = run("list", "--json")
        assert json.loads(out) == [
            {"stream": "blind", "storage": "custom", "groups": None, "items": None},
            {"stream": "chatMessage", "storage": "default", "groups": 2, "items": 3},
            {"stream": "memo", "storage": "custom", "groups": 1, "items": 1},
            {"stream": "openai", "storage": "default", "groups": 0, "items": 0},
        ]


@pytest.mark.django_db
def test_a_model_backed_stream_counts_its_rows():
    from example_project.todo.models import Todo

    todos = {"model": "todo.Todo", "group_by": "list_id", "serializer": "example_project.todo.serializers.TodoSerializer"}
    with override_settings(STREAMS={"todos": todos}):
        Todo.objects.create(list_id="home", title="milk")
        Todo.objects.create(list_id="home", title="eggs")
        Todo.objects.create(list_id="work", title="mail")
        assert json.loads(run("list", "--json")[0]) == [{"stream": "todos", "storage": "model", "groups": 2, "items": 3}]
        assert json.loads(run("groups", "todos", "--json")[0]) == [{"groupId": "home", "items": 2},
                                                                    {"groupId": "work", "items": 1}]


@pytest.mark.django_db
def test_list_names_streams_that_could_not_be_registered():
    with override_settings(STREAMS={**KNOWN, "bad": {"schema": {"type": "nonsense"}}}):
        out, err = run("list")
    assert "chatMessage" in out and "bad" not in out
    assert "Not registered" in err and "motia_django.E005" in err


@pytest.mark.django_db
def test_list_with_no_streams():
    with override_settings(STREAMS={}):
        assert run("list")[0].startswith("No streams are registered")
        assert json.loads(run("list", "--json")[0]) == []


@pytest.mark.django_db
def test_groups():
    streams.chatMessage.set("room-b", "a", chat("a"))
    streams.chatMessage.set("room-a", "a", chat("a"))
    streams.chatMessage.set("room-a", "b", chat("b"))
    assert run("groups", "chatMessage")[0].splitlines() == ["room-a  2 items", "room-b  1 item"]
    assert json.loads(run("groups", "chatMessage", "--json")[0]) == [{"groupId": "room-a", "items": 2},
                                                                    {"groupId": "room-b", "items": 1}]
    assert run("groups", "openai")[0] == "Stream 'openai' has no groups yet.\n"
    assert json.loads(run("groups", "openai", "--json")[0]) == []
    with override_settings(STREAMS={**KNOWN, **CUSTOM}):
        streams.memo.set("g", "x", {"text": "one"})
        assert json.loads(run("groups", "memo", "--json")[0]) == [{"groupId": "g", "items": 1}]
        with pytest.raises(CommandError, match="does not implement list_groups"):
            run("groups", "blind")


@pytest.mark.django_db
def test_get_an_item_or_a_group():
    streams.chatMessage.set("room", "a", chat("a", "héllo"))
    streams.chatMessage.set("room", "b", chat("b"))
    out, _ = run("get", "chatMessage", "room", "a")
    assert json.loads(out) == chat("a", "héllo") and out.startswith("{\n  ") and "héllo" in out  # human: indented
    out, _ = run("get", "chatMessage", "room", "a", "--json")
    assert json.loads(out) == chat("a", "héllo") and out.count("\n") == 1
    assert json.loads(run("get", "chatMessage", "room", "--json")[0]) == [chat("a", "héllo"), chat("b")]
    assert run("get", "chatMessage", "empty")[0] == "No items in chatMessage/empty.\n"
    assert json.loads(run("get", "chatMessage", "empty", "--json")[0]) == []
    with pytest.raises(CommandError, match="No item 'zz' in chatMessage/room"):
        run("get", "chatMessage", "room", "zz", "--json")


# --- writes --------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_set_from_an_argument_and_from_stdin_is_broadcast(changes):
    out, err = run("set", "chatMessage", "room", "a", json.dumps(chat("a")))
    assert out == f"Set chatMessage/room/a: {json.dumps(chat('a'))}\n"
    assert "in-memory" in err  # a running server's clients will not see it live without a shared layer
    run("set", "chatMessage", "room", "a", "-", stdin=json.dumps(chat("a", "from stdin")))
    assert streams.chatMessage.get("room", "a") == chat("a", "from stdin")
    assert [(c.type, c.id, c.event["data"]["message"]) for c in changes] == [("create", "a", "hi"),
                                                                            ("update", "a", "from stdin")]


@pytest.mark.django_db
def test_set_stores_what_the_schema_makes_of_the_data():
    out, _ = run("set", "openai", "trace", "message", '{"message": "hi", "unknown": 1}')
    assert out == 'Set openai/trace/message: {"id": "message", "message": "hi"}\n'  # pydantic drops unknown keys


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["set", "nope", "g", "i", "{}"], None, "No stream named 'nope'. Known streams: chatMessage, openai"),
    (["set", "chatMessage", "g", "i", "{bad"], None, "The data is not valid JSON"),
    (["set", "chatMessage", "g", "i", "-"], "not json", "The data is not valid JSON"),
    (["set", "chatMessage", "g", "i", "[1, 2]"], None, "must be a JSON object"),
    (["set", "chatMessage", "g", "i", '{"user_id": 3}'], None,
     "the data does not match the schema:\n  id: 'id' is a required property\n  message: 'message' is a required "
     "property\n  timestamp: 'timestamp' is a required property\n  user_id: 3 is not of type 'string'"),
    (["set", "openai", "g", "i", '{"message": 5}'], None, "openai: data.message: Input should be a valid string"),
    (["set", "chatMessage", "", "i", "{}"], None, "group id must not be empty"),
    (["set", "chatMessage", "g", "x" * 256, "{}"], None, "item id is longer than 255 characters"),
    (["delete", "chatMessage", "g", "missing"], None, "No item 'missing' in chatMessage/g; nothing was deleted"),
    (["delete", "nope", "g", "i"], None, "No stream named 'nope'"),
    (["send", "chatMessage", "g", "typing", "{oops"], None, "The event data is not valid JSON"),
    (["send", "nope", "g", "typing"], None, "No stream named 'nope'"),
    (["get", "nope", "g"], None, "No stream named 'nope'"),
    (["groups", "nope"], None, "No stream named 'nope'"),
])
def test_mistakes_are_clear_errors_and_write_nothing(args, stdin, message, changes):
    with pytest.raises(CommandError) as refused:
        run(*args, stdin=stdin)
    assert message in str(refused.value)
    assert rows() == [] and changes == []


@pytest.mark.django_db(transaction=True)
def test_delete(changes):
    streams.chatMessage.set("room", "a", chat("a"))
    assert run("delete", "chatMessage", "room", "a")[0] == "Deleted chatMessage/room/a.\n"
    assert rows() == [] and [c.type for c in changes] == ["create", "delete"]


@pytest.mark.django_db(transaction=True)
def test_send_an_event_to_a_group_or_an_item(changes):
    out, err = run("send", "chatMessage", "room", "typing", '{"user": "u1"}')
    assert out == "Sent 'typing' to chatMessage/room.\n" and "no running server receives this event" in err
    run("send", "chatMessage", "room", "typing", "-", "--id", "m1", stdin='{"user": "u2"}')
    run("send", "chatMessage", "room", "ping")
    assert [(c.type, c.id, c.event) for c in changes] == [
        ("event", None, {"type": "event", "event": {"type": "typing", "data": {"user": "u1"}}}),
        ("event", "m1", {"type": "event", "event": {"type": "typing", "data": {"user": "u2"}}}),
        ("event", None, {"type": "event", "event": {"type": "ping", "data": {}}}),
    ]
    assert rows() == []


def test_types_prints_the_declarations():
    out, _ = run("types")
    assert out == declarations((n, registry.get(n).schema.describe()) for n in registry.names())
    assert "export interface ChatMessage {\n  id: string;\n  user_id: string;" in out
    assert "export interface Streams {\n  chatMessage: ChatMessage;\n  openai: Openai;\n}" in out


# --- a real process: exit codes and tail ---------------------------------------------------------------------


def manage_py(env: dict[str, str], *args: str, stdin: str | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), "streams", *args], env=env, cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=timeout)


@pytest.mark.e2e
def test_exit_codes_of_a_real_process(live_db_url):
    env = base_env(live_db_url)
    group = f"exit-{uuid.uuid4().hex[:8]}"
    bad = manage_py(env, "set", "chatMessage", group, "a", '{"user_id": 3}')
    assert bad.returncode == 1 and "CommandError: Nothing was written" in bad.stderr
    assert "Traceback" not in bad.stderr and bad.stdout == ""
    ok = manage_py(env, "set", "chatMessage", group, "a", "-", stdin=json.dumps(chat("a")))
    assert ok.returncode == 0, ok.stderr
    got = manage_py(env, "get", "chatMessage", group, "a", "--json")
    assert got.returncode == 0 and json.loads(got.stdout) == chat("a")
    assert manage_py(env, "get", "chatMessage", group, "zz").returncode == 1
    usage = manage_py(env)
    assert usage.returncode == 2 and "ACTION" in usage.stderr


def test_a_database_without_migrations_is_a_clear_error(tmp_path):
    result = manage_py(base_env(f"sqlite:///{tmp_path / 'empty.sqlite3'}"), "list")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no such table" in result.stderr and "has manage.py migrate run?" in result.stderr


def tail(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "streams", "tail", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def lines(proc: subprocess.Popen[str], n: int, timeout: float = 20) -> list[dict[str, Any]]:
    """The first ``n`` JSON lines ``proc`` prints (it flushes each at once)."""
    assert proc.stdout is not None
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        assert time.monotonic() < deadline and proc.poll() is None, (out, proc.stderr and proc.stderr.read())
        line = proc.stdout.readline()
        if line:
            out.append(json.loads(line))
    return out


@pytest.mark.e2e
def test_tail_prints_live_changes_until_count(daphne_server, live_db_url):
    env = base_env(live_db_url)
    group = f"tail-{uuid.uuid4().hex[:8]}"
    write(daphne_server, "set", stream="chatMessage", group=group, id="a", data=chat("a"))
    proc = tail(env, "chatMessage", group, "--url", daphne_server.ws_url, "--count", "4")
    item = tail(env, "chatMessage", group, "b", "--url", daphne_server.ws_url, "--count", "2")
    try:
        sync = lines(proc, 1)[0]
        assert sync["type"] == "sync" and sync["data"] == [chat("a")] and sync["groupId"] == group
        assert lines(item, 1)[0]["data"] is None
        write(daphne_server, "set", stream="chatMessage", group=group, id="b", data=chat("b"))
        write(daphne_server, "send", stream="chatMessage", channel={"groupId": group}, event={"type": "typing",
                                                                                             "data": {"u": 1}})
        write(daphne_server, "delete", stream="chatMessage", group=group, id="a")
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        changes = [json.loads(line) for line in out.splitlines()]
        assert [(c["type"], c.get("id")) for c in changes] == [("create", "b"), ("event", None), ("delete", "a")]
        assert changes[0]["data"] == chat("b") and changes[1]["event"] == {"type": "typing", "data": {"u": 1}}
        assert changes[0]["stream"] == "chatMessage" and isinstance(changes[0]["timestamp"], int)
        out, err = item.communicate(timeout=20)
        assert item.returncode == 0, err
        assert json.loads(out) == {"type": "create", "stream": "chatMessage", "groupId": group, "id": "b",
                                   "timestamp": changes[0]["timestamp"], "data": chat("b")}
    finally:
        for p in (proc, item):
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.mark.e2e
@pytest.mark.parametrize(("args", "message"), [
    (["nope", "g"], "joining nope/g was refused: STREAM_NOT_FOUND"),
    (["private", "bob"], "STREAM_ACCESS_DENIED"),
    (["private", "bob", "--token", "refuse-401"], "refused the connection (HTTP 403)"),
    (["chatMessage", "g", "--count", "0"], "--count must be at least 1"),
    (["chatMessage", "g", "--url", "http://127.0.0.1:3000"], "the stream WebSocket of that server is ws://"),
])
def test_tail_mistakes(daphne_server, live_db_url, args, message):
    url = [] if "--url" in args else ["--url", daphne_server.ws_url]
    result = manage_py(base_env(live_db_url), "tail", *args, *url)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.e2e
def test_tail_without_a_server_says_so(live_db_url):
    result = manage_py(base_env(live_db_url), "tail", "chatMessage", "g", "--url", f"ws://127.0.0.1:{free_port()}")
    assert result.returncode == 1 and "Connection refused; is the server running?" in result.stderr


@pytest.mark.e2e
def test_tail_with_a_token(daphne_server, live_db_url):
    write(daphne_server, "set", stream="private", group="alice", id="x", data={"n": 1})
    result = manage_py(base_env(live_db_url), "tail", "private", "alice", "--token", "alice-token", "--count", "1",
                       "--url", daphne_server.ws_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["data"] == [{"id": "x", "n": 1}]


@pytest.mark.services
@pytest.mark.e2e
def test_writes_from_the_command_reach_clients_of_a_server_over_redis(live_db_url, redis_url, tmp_path):
    """With a shared channel layer (REDIS_URL), ``set``/``delete``/``send`` from a manage.py process are broadcast
    to a running server's clients like any write."""
    env = base_env(live_db_url, REDIS_URL=redis_url)
    group = f"redis-{uuid.uuid4().hex[:8]}"
    with LiveServer(env, log_dir=tmp_path) as server:
        proc = tail(env, "chatMessage", group, "--url", server.ws_url, "--count", "4")
        try:
            assert lines(proc, 1)[0]["data"] == []
            for args in (["set", "chatMessage", group, "a", json.dumps(chat("a"))],
                         ["send", "chatMessage", group, "typing", '{"u": 1}'],
                         ["delete", "chatMessage", group, "a"]):
                result = manage_py(env, *args)
                assert result.returncode == 0 and "in-memory" not in result.stderr, result.stderr
            out, err = proc.communicate(timeout=20)
            assert [json.loads(line)["type"] for line in out.splitlines()] == ["create", "event", "delete"], err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
