"""Lifecycle hooks: onJoin may refuse a join; onLeave runs once per successful join, on leave, re-join and
disconnect; sync and async hooks; a refused re-join leaves the existing subscription alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from tests.support.realtime import Client, error_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layers")]

calls: list[tuple[str, str, Any]] = []


def on_join(subscription: dict[str, Any], auth_context: Any) -> bool | None:
    calls.append(("join", subscription["subscriptionId"], subscription["groupId"]))
    return subscription["groupId"] != "closed"


async def on_leave(subscription: dict[str, Any], auth_context: Any) -> None:
    calls.append(("leave", subscription["subscriptionId"], subscription["groupId"]))


def exploding(subscription: dict[str, Any], auth_context: Any) -> None:
    raise RuntimeError("bug in onJoin")


HOOKED = {"memo": {"schema": {"type": "object"}, "onJoin": "tests.realtime.test_joins.on_join",
                   "on_leave": "tests.realtime.test_joins.on_leave"},
          "boom": {"schema": {"type": "object"}, "onJoin": "tests.realtime.test_joins.exploding"},
          "gated": {"schema": {"type": "object"}, "canAccess": lambda sub, auth: sub["groupId"] != "closed"}}


@pytest.fixture(autouse=True)
def hooked_streams():
    calls.clear()
    with override_settings(STREAMS=HOOKED):
        yield


async def test_on_join_and_on_leave_run_once_per_successful_join():
    client = await Client().connect()
    a = await client.join("memo", "g1", sub="a")
    await client.next()
    await client.join("memo", "g2", sub="a")  # a re-join under the same id: the old one leaves
    await client.next()
    b = await client.join("memo", "g3", sub="b")
    await client.next()
    await client.leave("memo", "g3", b)
    await client.handled()
    assert calls == [("join", "a", "g1"), ("join", "a", "g2"), ("leave", "a", "g1"), ("join", "b", "g3"),
                     ("leave", "b", "g3")]
    await client.close()  # a disconnect ends what is left
    assert calls[-1] == ("leave", a, "g2") and len([c for c in calls if c[0] == "leave"]) == 3


async def test_on_join_may_refuse_and_a_refused_join_gets_no_on_leave():
    client = await Client().connect()
    await client.join("memo", "closed", sub="x")
    assert error_code(await client.next()) == "STREAM_ACCESS_DENIED"
    await client.join("boom", "g", sub="y")  # a raising hook refuses too
    assert error_code(await client.next()) == "STREAM_ACCESS_DENIED"
    await client.close()
    assert calls == [("join", "x", "closed")]


async def test_a_refused_re_join_leaves_the_existing_subscription_alone():
    from motia_django import streams

    client = await Client().connect()
    sub = await client.join("gated", "open")
    await client.next()
    await client.join("gated", "closed", sub=sub)  # same id, refused
    assert error_code(await client.next()) == "STREAM_ACCESS_DENIED"
    await streams["gated"].aset("open", "x", {"v": 1})
    frame = await client.next()
    assert frame["groupId"] == "open" and frame["event"]["type"] == "create"
    await client.close()
