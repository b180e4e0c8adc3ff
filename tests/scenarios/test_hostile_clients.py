"""Hostile clients over real sockets to real servers (Daphne and uvicorn), docs/security.md "Limits" and "Access
everywhere": a socket that never reads and re-joins a large group 600 times holds the server's memory to its
bounds (the server's ``VmRSS``); a group whose sync is over 1 MiB reaches a Daphne client in pages, never as a
silently dropped message; a join flood gets ``TOO_MANY_JOINS`` and the socket goes on; a user over
``MAX_CONNECTIONS_PER_USER`` and an address over ``MAX_CONNECTIONS_PER_IP`` are refused (HTTP 429 on uvicorn, close
code 4029 on Daphne); presence never tells a refused socket who is in a room.

Nothing here asserts on time: reads fail after a socket timeout, and waits poll for a state."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import Any

import pytest

from motia_django.realtime.limits import CLOSE_TOO_MANY_CONNECTIONS
from motia_django.realtime.send_queue import CLOSE_SLOW_CLIENT
from tests.support.hostile_ws import Closed, HandshakeSocket, RssSampler, rss_bytes
from tests.support.server import LiveServer, base_env

pytestmark = pytest.mark.e2e

MB = 1024 * 1024
#: What a hostile socket may add to the server's resident memory: its bounds are SEND_QUEUE_BYTES (4 MiB) waiting,
#: as much behind a snapshot being read, and one snapshot read (SYNC_MAX_BYTES, 2 MiB, and its Python objects).
GROWTH = 100 * MB
SETTINGS = "tests.support.hostile_clients_settings"


def _serve(kind: str, db_url: str, log_dir: Any, **env: str) -> LiveServer:
    return LiveServer(base_env(db_url, DJANGO_SETTINGS_MODULE=SETTINGS, **env), log_dir=log_dir, server=kind)


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def server(request: Any, live_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The default join rate (a burst of 50, 20 a second) and at most two sockets per user."""
    live = _serve(request.param, live_db_url, tmp_path_factory.mktemp("logs"),
                  MOTIA_TEST_MAX_CONNECTIONS_PER_USER="2")
    with live:
        yield live
    assert "Exception in ASGI application" not in live.log(), live.log()[-3000:]


def fill(server: LiveServer, stream: str, group: str, count: int, pad: int) -> None:
    body = json.dumps({"stream": stream, "group": group, "count": count, "pad": pad}).encode()
    request = urllib.request.Request(f"{server.url}/test/fill/", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.loads(response.read())["result"] == count


def group_sync(client: HandshakeSocket, count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read a group join's reply: the ``sync`` and the pages after it, until ``count`` items arrived. Returns the
    frames and the items, in order."""
    first = client.json()
    assert first["event"]["type"] == "sync", first
    frames, items = [first], list(first["event"]["data"])
    while len(items) < count:
        page = client.json()
        assert page["event"]["type"] == "create" and "id" not in page, page  # only the group applies it
        frames.append(page)
        items.append(page["event"]["data"])
    return frames, items


def error_code(frame: dict[str, Any]) -> str:
    event = frame["event"]
    assert event["type"] == "event" and event["event"]["type"] == "error", frame
    return str(event["event"]["data"]["code"])


def fenced(client: HandshakeSocket) -> list[dict[str, Any]]:
    """Ask for a join of an unknown stream; the frames that arrive before its answer (frames are handled and sent
    in order, so those are everything the socket was sent until then)."""
    token = uuid.uuid4().hex
    client.join("fence", token, token)
    before = []
    while (frame := client.json())["groupId"] != token:
        before.append(frame)
    assert error_code(frame) in ("STREAM_NOT_FOUND", "TOO_MANY_JOINS")  # (a fence is a join too)
    return before


def settled(pid: int, quiet: float = 0.5, timeout: float = 60) -> None:
    """Wait until process ``pid`` used no CPU for ``quiet`` seconds (it finished what it was given)."""
    def cpu() -> int:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    deadline = time.monotonic() + timeout
    last = cpu()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu()
        if now == last:
            return
        last = now
    raise AssertionError(f"process {pid} still busy after {timeout}s")


# --- memory: a socket that never reads ----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def rejoin_server(request: Any, live_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Joins as fast as a client sends them, so that every one of 600 re-joins reads and queues its sync."""
    live = _serve(request.param, live_db_url, tmp_path_factory.mktemp("logs"), MOTIA_TEST_JOIN_BURST="1000",
                  MOTIA_TEST_JOIN_RATE="1000")
    with live:
        yield live
    assert "Exception in ASGI application" not in live.log(), live.log()[-3000:]


def test_600_re_joins_from_a_socket_that_never_reads_hold_memory_to_the_bounds(rejoin_server):
    outcome = _re_join_flood(rejoin_server)
    assert outcome == "served"  # each re-join replaced the sync still waiting: 600 syncs would have been a 4013


def test_600_re_joins_under_the_default_join_rate(server):
    _re_join_flood(server)  # most are refused (TOO_MANY_JOINS); served or cut off, memory stays bounded


def _re_join_flood(server: LiveServer) -> str:
    """A group of 200 items of 4.5 KB (a sync of about 0.93 MB); a socket that reads nothing sends 600 re-joins of it
    under one subscription id, then reads through what it was sent; another does the same and resets. The
    server's resident memory stays within ``GROWTH`` throughout and after. Returns "served" or "cut off"."""
    assert server.proc is not None
    pid, group = server.proc.pid, f"big-{uuid.uuid4().hex[:6]}"
    fill(server, "bulk", group, 200, 4500)
    reader = HandshakeSocket(server.port)  # warm up: the first full sync allocates what every later one reuses
    reader.join("bulk", group, "warm")
    assert len(group_sync(reader, 200)[1]) == 200
    reader.close()
    settled(pid)
    base = rss_bytes(pid)

    hostile = HandshakeSocket(server.port, rcvbuf=16384)
    with RssSampler(pid) as flood:
        for _ in range(600):
            hostile.join("bulk", group, "same")
        settled(pid)  # the server handled them all, and the socket read nothing meanwhile
        try:  # now read through what it was sent
            before = fenced(hostile)
            syncs = [f for f in before if f["event"]["type"] == "sync"]
            assert 1 <= len(syncs) <= 12, len(syncs)  # those already on the wire, and the newest: not 600
            assert {error_code(f) for f in before if f["event"]["type"] == "event"} <= {"TOO_MANY_JOINS"}
            outcome = "served"
        except Closed as closed:
            assert closed.code == CLOSE_SLOW_CLIENT
            outcome = "cut off"
        hostile.close()
        settled(pid)
    assert flood.peak - base < GROWTH, (outcome, flood.peak - base)

    again = HandshakeSocket(server.port, rcvbuf=16384)  # the same, then a reset instead of reading
    with RssSampler(pid) as reset:
        for _ in range(600):
            again.join("bulk", group, "same")
        again.reset()
        settled(pid)
    assert reset.peak - base < GROWTH, reset.peak - base
    after = HandshakeSocket(server.port)  # the server serves on, and what the reset socket held is bounded
    after.join("bulk", group, "after")
    assert len(group_sync(after, 200)[1]) == 200
    after.close()
    settled(pid)
    assert rss_bytes(pid) - base < GROWTH, rss_bytes(pid) - base
    return outcome


# --- large syncs --------------------------------------------------------------------------------------------------


def test_a_sync_over_one_mib_arrives_in_pages(server):
    group = f"huge-{uuid.uuid4().hex[:6]}"
    fill(server, "bulk", group, 300, 4500)  # about 1.4 MB: one frame of it would be dropped by Daphne
    client = HandshakeSocket(server.port)
    client.join("bulk", group, "s")
    frames, items = group_sync(client, 300)  # a socket timeout fails the test: never an open socket and no sync
    assert len(frames) > 1 and [item["n"] for item in items] == list(range(300))
    client.send_json({"type": "leave", "data": {"streamName": "bulk", "groupId": group, "subscriptionId": "s"}})
    assert fenced(client) == []  # nothing more came: the pages were the whole sync
    client.close()


def test_a_group_over_sync_max_bytes_syncs_its_newest_items_that_fit(server):
    group = f"over-{uuid.uuid4().hex[:6]}"
    fill(server, "bulk", group, 500, 4500)  # about 2.3 MB, over SYNC_MAX_BYTES (2 MiB)
    client = HandshakeSocket(server.port)
    client.join("bulk", group, "s")
    first = client.json()
    assert first["event"]["type"] == "sync"
    items = list(first["event"]["data"])
    rest = fenced(client)
    items += [page["event"]["data"] for page in rest]
    assert all(page["event"]["type"] == "create" for page in rest)
    numbers = [item["n"] for item in items]
    assert numbers == list(range(500 - len(numbers), 500)) and 400 < len(numbers) < 500  # the newest, in order
    assert sum(len(json.dumps(item, separators=(",", ":"))) for item in items) <= 2 * MB
    client.close()


# --- join floods --------------------------------------------------------------------------------------------------


def test_a_join_flood_gets_too_many_joins_and_the_socket_goes_on(server):
    group = f"flood-{uuid.uuid4().hex[:6]}"
    client = HandshakeSocket(server.port)
    for n in range(200):  # far past the burst of 50
        client.join("chatMessage", group, "same" if n % 2 else f"s{n}")
    answers = [client.json() for _ in range(200)]
    refused = [a for a in answers if a["event"]["type"] == "event"]
    assert refused and {error_code(a) for a in refused} == {"TOO_MANY_JOINS"}
    assert 50 <= len(answers) - len(refused) < 200  # the burst at least was served
    write = {"stream": "chatMessage", "group": group, "id": "m1",
             "data": {"id": "m1", "user_id": "u", "message": "hi", "timestamp": "t"}}
    request = urllib.request.Request(f"{server.url}/test/realtime/set/", data=json.dumps(write).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=15).close()
    change = client.json()  # the admitted subscriptions serve: the change arrives, once
    assert change["event"]["type"] == "create" and change["id"] == "m1"
    for _ in range(100):  # the bucket refills: joins are admitted again on the same socket
        client.join("chatMessage", f"{group}-later", "later")
        frame = client.json()
        if frame["event"]["type"] == "sync":
            break
        assert error_code(frame) == "TOO_MANY_JOINS"
        time.sleep(0.1)
    else:
        raise AssertionError("no join admitted after the flood")
    assert fenced(client) == []
    client.close()


# --- connection caps ----------------------------------------------------------------------------------------------


def refused_busy(kind: str, client: HandshakeSocket) -> None:
    """uvicorn answers the handshake with 429; Daphne cannot, so it accepts and closes with 4029."""
    if kind == "uvicorn":
        assert client.status == 429, client.head
        assert "retry-after: 5" in client.head.lower()
    else:
        assert client.status == 101, client.head
        assert client.close_code() == CLOSE_TOO_MANY_CONNECTIONS
    client.close()


def served(client: HandshakeSocket) -> None:
    assert client.status == 101, client.head
    client.join("chatMessage", f"cap-{uuid.uuid4().hex[:6]}", "s")
    assert client.json()["event"] == {"type": "sync", "data": []}


def test_a_user_over_max_connections_per_user_is_refused(server):
    alice = [HandshakeSocket(server.port, protocols=["Authorization", "alice-token"]) for _ in range(2)]
    for client in alice:
        served(client)
    refused_busy(server.server, HandshakeSocket(server.port, "/?authToken=alice-token"))
    bob = HandshakeSocket(server.port, protocols=["Authorization", "bob-token"])  # another user has his own
    anonymous = [HandshakeSocket(server.port) for _ in range(3)]  # no user: no user cap
    for client in (bob, *anonymous):
        served(client)
    alice.pop().close()  # a socket that closes gives its place back
    for _ in range(100):
        client = HandshakeSocket(server.port, protocols=["Authorization", "alice-token"])
        if client.status == 101 and server.server == "uvicorn":
            break
        if client.status == 101:  # Daphne: accepted; a refusal then closes at once
            client.join("chatMessage", "public", "s")
            try:
                client.json()
                break
            except Closed:
                pass
        client.close()
        time.sleep(0.1)  # the server has not seen the close yet
    else:
        raise AssertionError("alice's place was not given back")
    for c in (client, *alice, bob, *anonymous):
        c.close()


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def ip_capped(request: Any, live_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    live = _serve(request.param, live_db_url, tmp_path_factory.mktemp("logs"), MOTIA_TEST_MAX_CONNECTIONS_PER_IP="3")
    with live:
        yield live


def test_an_address_over_max_connections_per_ip_is_refused(ip_capped):
    clients = [HandshakeSocket(ip_capped.port) for _ in range(3)]
    for client in clients:
        served(client)
    refused_busy(ip_capped.server, HandshakeSocket(ip_capped.port))
    refused_busy(ip_capped.server, HandshakeSocket(ip_capped.port, protocols=["Authorization", "alice-token"]))
    for client in clients:
        client.close()


def _all_served(port: int, count: int) -> bool:
    """Open ``count`` sockets from this address; True if each was served (all are closed again)."""
    clients = [HandshakeSocket(port) for _ in range(count)]
    try:
        for client in clients:
            if client.status != 101:
                return False
            client.join("chatMessage", "public", "s")
            client.json()  # Daphne: a refused socket is closed here (4029)
        return True
    except Closed:
        return False
    finally:
        for client in clients:
            client.close()


def test_sockets_that_reset_give_their_places_back(ip_capped):
    """Sockets dropped with a TCP reset (no close frame), again and again, never use up an address's places: the
    server notices each drop, and the address holds as many sockets as before."""
    def places_free() -> None:
        for _ in range(100):
            if _all_served(ip_capped.port, 3):
                return
            time.sleep(0.1)  # the server has not seen every drop yet
        raise AssertionError("the dropped sockets kept their places")

    for _ in range(5):
        places_free()
        for client in [HandshakeSocket(ip_capped.port) for _ in range(3)]:
            served(client)
            client.reset()
    places_free()


# --- presence and access ------------------------------------------------------------------------------------------


def test_presence_does_not_leak_past_access(server):
    anonymous = HandshakeSocket(server.port)
    bob = HandshakeSocket(server.port, "/?authToken=bob-token")
    for client in (anonymous, bob):
        client.join("privatePresence", "alice", "p")  # who is in alice's room: refused
        assert error_code(client.json()) == "STREAM_ACCESS_DENIED"
        client.join("privatePresence", "alice", "m", id="alice")  # and whether alice is there
        assert error_code(client.json()) == "STREAM_ACCESS_DENIED"
    observer = HandshakeSocket(server.port, "/?authToken=alice-token")
    observer.join("privatePresence", "alice", "p")
    assert observer.json()["event"] == {"type": "sync", "data": []}
    alice = HandshakeSocket(server.port, protocols=["Authorization", "alice-token"])
    alice.join("private", "alice", "room")
    assert alice.json()["event"] == {"type": "sync", "data": []}
    arrived = observer.json()
    assert arrived["event"]["type"] == "create" and arrived["id"] == "alice"
    alice.close()
    departed = observer.json()
    assert departed["event"]["type"] == "delete" and departed["id"] == "alice"
    for client in (anonymous, bob):  # neither arrival nor departure reached a refused socket
        assert fenced(client) == []
        client.close()
    observer.close()
