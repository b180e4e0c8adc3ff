"""Per-client limits (``motia_django.realtime.limits``, docs/security.md "Limits"): the join rate of a socket (a
token bucket: ``JOIN_BURST`` at once, ``JOIN_RATE`` a second after that, ``TOO_MANY_JOINS`` past it, the socket
goes on), and the caps on sockets per user and per IP (counted while open, released on disconnect; HTTP 429 where
the server can answer the handshake, else close code 4029). Time is a fake clock: nothing here waits or measures."""

from __future__ import annotations

import types

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from motia_django.exceptions import FrameError
from motia_django.realtime import limits
from motia_django.realtime.auth import connection_caps
from motia_django.realtime.joins import JoinPolicy
from motia_django.realtime.limits import CLOSE_TOO_MANY_CONNECTIONS, ConnectionCounter, TokenBucket
from motia_django.realtime.protocol import Subscription
from motia_django.stream.registry import streams
from tests.support.realtime import Client, error_code


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The clock of every token bucket made from now on (the sockets' join rates)."""
    fake = FakeClock()
    monkeypatch.setattr(limits, "time", types.SimpleNamespace(monotonic=fake))
    return fake


# --- the token bucket ---------------------------------------------------------------------------------------------


def test_a_burst_is_admitted_then_refused_then_refilled_at_the_rate():
    clock = FakeClock(0.0)
    bucket = TokenBucket(rate=20, burst=50, clock=clock)
    assert all(bucket.take() for _ in range(50))  # the burst, at once
    assert not bucket.take() and not bucket.take()  # refusals cost nothing and earn nothing
    clock.advance(0.05)  # one token's worth (20 a second)
    assert bucket.take() and not bucket.take()
    clock.advance(0.5)
    assert sum(bucket.take() for _ in range(100)) == 10
    clock.advance(3600)  # a long pause saves at most the burst
    assert sum(bucket.take() for _ in range(1000)) == 50


@settings(max_examples=300, deadline=None)
@given(rate=st.floats(0.1, 1000), burst=st.integers(1, 100),
       steps=st.lists(st.tuples(st.floats(0, 2), st.integers(0, 200)), max_size=40))
def test_the_bucket_never_admits_more_than_burst_plus_rate_times_t(rate, burst, steps):
    clock = FakeClock(0.0)
    bucket = TokenBucket(rate=rate, burst=burst, clock=clock)
    admitted = 0
    for pause, attempts in steps:
        clock.advance(pause)
        admitted += sum(bucket.take() for _ in range(attempts))
        assert admitted <= burst + rate * clock.now + 1e-6
    start = clock.now  # over any stretch of time too, not only from the start
    clock.advance(1.0)
    window = sum(bucket.take() for _ in range(10_000))
    assert window <= burst + rate * (clock.now - start) + 1e-6


async def test_join_policy_reads_join_rate_and_join_burst_and_refuses_with_too_many_joins(clock):
    with override_settings(MOTIA={"JOIN_RATE": 2.0, "JOIN_BURST": 3}):
        policy = JoinPolicy(None)
        sub = Subscription("s", "chatMessage", "room")
        for _ in range(3):
            assert (await policy.admit(sub, 0, replacing=True)).name == "chatMessage"
        with pytest.raises(FrameError) as info:
            await policy.admit(sub, 0, replacing=True)
        assert (info.value.code, info.value.stream, info.value.group_id) == ("TOO_MANY_JOINS", "chatMessage", "room")
        with pytest.raises(FrameError) as info:  # the rate is checked first: a flood of unknown streams costs too
            await policy.admit(Subscription("s", "nope", "room"), 0, replacing=False)
        assert info.value.code == "TOO_MANY_JOINS"
        clock.advance(0.5)  # one join's worth at 2 a second
        await policy.admit(sub, 0, replacing=True)
        with pytest.raises(FrameError):
            await policy.admit(sub, 0, replacing=True)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_a_join_flood_gets_too_many_joins_and_the_socket_goes_on(clock):
    with override_settings(MOTIA={"JOIN_RATE": 20.0, "JOIN_BURST": 5}):
        client = await Client().connect()
        for n in range(8):
            await client.join("chatMessage", "room", sub=f"s{n}")
        answers = [await client.next() for _ in range(8)]
        assert [a["event"]["type"] for a in answers[:5]] == ["sync"] * 5
        assert [error_code(a) for a in answers[5:]] == ["TOO_MANY_JOINS"] * 3
        assert all("id" not in a and a["groupId"] == "room" for a in answers[5:])
        await streams.chatMessage.asend({"groupId": "room"}, {"type": "tick", "data": {}})
        assert (await client.next())["event"]["event"]["type"] == "tick"  # the admitted ones serve, once
        clock.advance(1.0)  # the bucket refills: joins are admitted again on the same socket
        await client.join("chatMessage", "other", sub="later")
        assert (await client.expect_sync()) == []
        await client.close()


# --- connection caps ----------------------------------------------------------------------------------------------


def test_the_counter_admits_up_to_each_cap_and_releases():
    counter = ConnectionCounter()
    alice_here = [(("user", "alice"), 2), (("ip", "10.0.0.1"), 3)]
    alice_there = [(("user", "alice"), 2), (("ip", "10.0.0.2"), 3)]
    anonymous = [(("ip", "10.0.0.1"), 3)]
    assert counter.admit(alice_here) and counter.admit(alice_there)
    assert not counter.admit(alice_here)  # alice's third socket, from any address
    assert counter.open == {("user", "alice"): 2, ("ip", "10.0.0.1"): 1, ("ip", "10.0.0.2"): 1}  # nothing counted
    assert counter.admit(anonymous) and counter.admit(anonymous)
    assert not counter.admit(anonymous)  # the address is full
    counter.release(alice_here)
    assert counter.admit(anonymous)  # alice's socket there closed: room for one more
    for keys in (alice_there, anonymous, anonymous, anonymous):
        counter.release(keys)
    assert counter.open == {}  # nothing left behind for keys that closed
    assert counter.admit([(("user", "bob"), None)] * 3)  # no cap: counted, never refused


@pytest.mark.parametrize(("motia", "auth", "expected"), [
    ({}, {"user": "alice"}, []),  # caps off: nothing counted
    ({"MAX_CONNECTIONS_PER_USER": 2}, {"user": "alice"}, [(("user", "alice"), 2)]),
    ({"MAX_CONNECTIONS_PER_USER": 2}, None, []),  # an anonymous socket has no user to count
    ({"MAX_CONNECTIONS_PER_IP": 5}, None, [(("ip", "10.1.2.3"), 5)]),
    ({"MAX_CONNECTIONS_PER_USER": 2, "MAX_CONNECTIONS_PER_IP": 5}, {"user_id": 7},
     [(("user", "7"), 2), (("ip", "10.1.2.3"), 5)]),
])
def test_connection_caps_count_users_and_addresses(motia, auth, expected):
    with override_settings(MOTIA=motia):
        assert connection_caps({"client": ["10.1.2.3", 5000]}, auth) == expected


def _client(ip: str, token: str | None = None, *, http_response: bool = False) -> Client:
    client = Client(subprotocols=["Authorization", token] if token else None)
    client.scope["client"] = [ip, 40000]
    if http_response:  # a server that can answer the handshake (uvicorn)
        client.scope["extensions"] = {"websocket.http.response": {}}
    return client


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_sockets_over_the_ip_cap_are_closed_with_4029_and_counted_until_they_disconnect():
    with override_settings(MOTIA={"MAX_CONNECTIONS_PER_IP": 2}):
        first = await _client("10.9.9.9").connect()
        second = await _client("10.9.9.9").connect()
        assert first.connected and second.connected
        third = _client("10.9.9.9")
        await third.connect()
        assert third.connected  # Daphne cannot answer 429: accepted, then closed at once
        assert await third.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_TOO_MANY_CONNECTIONS}
        await third.wait()
        elsewhere = await _client("10.8.8.8").connect()  # another address is not affected
        await elsewhere.join("chatMessage", "room")
        assert await elsewhere.expect_sync() == []
        await first.close()  # a disconnect releases its place
        fourth = await _client("10.9.9.9").connect()
        await fourth.join("chatMessage", "room")
        assert await fourth.expect_sync() == []
        assert limits.connections.open[("ip", "10.9.9.9")] == 2
        for client in (second, fourth, elsewhere):
            await client.close()
        assert ("ip", "10.9.9.9") not in limits.connections.open


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layers")
async def test_a_user_over_the_user_cap_gets_http_429_where_the_server_can_answer():
    with override_settings(MOTIA={"MAX_CONNECTIONS_PER_USER": 1,
                                  "AUTHENTICATE": "tests.support.live_access.authenticate"}):
        alice = await _client("10.0.0.1", "alice-token").connect()
        assert alice.connected
        again = _client("10.0.0.2", "alice-token", http_response=True)  # alice again, from another address
        await again.send_input({"type": "websocket.connect"})
        start = await again.receive_output(timeout=5)
        assert start["type"] == "websocket.http.response.start" and start["status"] == 429
        assert (b"retry-after", b"5") in start["headers"]
        assert (await again.receive_output(timeout=5))["body"] == b"Too Many Connections"
        await again.wait()
        bob = await _client("10.0.0.1", "bob-token").connect()  # bob has his own cap
        anonymous = [await _client("10.0.0.1").connect() for _ in range(3)]  # no user: no user cap
        assert bob.connected and all(a.connected for a in anonymous)
        await alice.close()
        alice = await _client("10.0.0.2", "alice-token").connect()
        assert alice.connected
        for client in (alice, bob, *anonymous):
            await client.close()
        assert limits.connections.open == {}

