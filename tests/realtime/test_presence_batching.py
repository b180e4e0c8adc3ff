"""Presence arrivals and departures written in batches (``presence.apply``, ``presence.Batcher``): the end state
is the one-by-one one, the statements do not grow with the batch but for the items written, and a flood of
joins on one event loop shares few transactions."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from motia_django import streams
from motia_django.models import PresenceLease
from motia_django.realtime import presence
from motia_django.realtime.presence import Arrival, Batcher, Departure

HERE = {"here": {"schema": {"type": "object"}, "presence": {"tracks": "chatMessage", "ttl": 30}}}


def arrival(member: str, conn: str, group: str = "r") -> Arrival:
    return Arrival(streams.here, group, member, conn, {"groupId": group}, None)


def departure(member: str, conn: str, group: str = "r") -> Departure:
    return Departure(streams.here, group, member, conn)


def members(group: str = "r") -> set[str]:
    return {item["id"] for item in streams.here.get_group(group)}


@pytest.mark.django_db(transaction=True)
@override_settings(STREAMS=HERE)
def test_a_batch_leaves_what_one_by_one_would():
    presence.apply([arrival("a", "c1"), arrival("b", "c2"), arrival("a", "c3"), departure("b", "c2")])
    assert members() == {"a"}
    presence.apply([departure("a", "c1")])
    assert members() == {"a"}  # c3 still holds alice
    presence.apply([departure("a", "c3"), arrival("a", "c4")])  # leaves and comes back in one batch: kept
    assert members() == {"a"}
    assert set(PresenceLease.objects.values_list("connection_id", flat=True)) == {"c4"}
    presence.apply([departure("a", "c4")])
    assert members() == set() and not PresenceLease.objects.exists()


@pytest.mark.django_db(transaction=True)
@override_settings(STREAMS=HERE)
def test_a_re_arrival_renews_its_lease_instead_of_failing():
    presence.apply([arrival("a", "c1")])
    presence.apply([arrival("a", "c1")])
    assert PresenceLease.objects.count() == 1 and members() == {"a"}


@pytest.mark.django_db(transaction=True)
@override_settings(STREAMS=HERE)
def test_statements_do_not_grow_with_the_members():
    """Leases, lookups and the members' items alike: a batch of 90 arrivals (or departures) in one group takes
    as many statements as a batch of 5, and past a chunk (100 rows, 100 keys per lookup) a few more."""
    def statements(n: int, group: str, leave: bool = False) -> int:
        batch = [arrival(f"m{i}", f"c{group}{i}", group) for i in range(n)]
        presence.apply(batch[:1])  # one member already present: nothing written for it
        if leave:
            presence.apply(batch)
            batch = [departure(f"m{i}", f"c{group}{i}", group) for i in range(n)]
        with CaptureQueriesContext(connection) as queries:
            presence.apply(batch)
        return len(queries)

    few = statements(5, "g5")
    assert statements(90, "g90") == few
    assert statements(250, "g250") <= few + 7  # past chunks: more lease upserts, lookups and item upserts
    few = statements(5, "l5", leave=True)
    assert statements(90, "l90", leave=True) == few
    assert statements(250, "l250", leave=True) <= few + 7


@pytest.mark.django_db(transaction=True)
@override_settings(STREAMS=HERE)
async def test_a_flood_of_joins_shares_few_batches():
    batcher = Batcher()
    await asyncio.gather(*(batcher.submit(arrival(f"m{i}", f"c{i}")) for i in range(200)))
    assert batcher.batches <= 3  # the first one alone, then the rest that waited for it together
    assert len(await streams.here.aget_group("r")) == 200
    await asyncio.gather(*(batcher.submit(departure(f"m{i}", f"c{i}")) for i in range(200)))
    assert await streams.here.aget_group("r") == []


@pytest.mark.django_db(transaction=True)
@override_settings(STREAMS=HERE)
async def test_a_failing_change_fails_only_its_caller(monkeypatch):
    batcher = Batcher()

    def refuses(subscription, auth_context):
        if subscription.get("bad"):
            raise RuntimeError("data hook refused")
        return {"ok": True}

    monkeypatch.setattr(presence, "_data", lambda stream, member, sub, ctx: refuses(sub, ctx))
    good = Arrival(streams.here, "r", "good", "c1", {"groupId": "r"}, None)
    bad = Arrival(streams.here, "r", "bad", "c2", {"groupId": "r", "bad": True}, None)
    results = await asyncio.gather(batcher.submit(good), batcher.submit(bad), return_exceptions=True)
    assert results[0] is None and isinstance(results[1], RuntimeError)
    assert {i["id"] for i in await streams.here.aget_group("r")} == {"good"}


ops = st.lists(st.tuples(st.booleans(), st.sampled_from(["a", "b"]), st.sampled_from(["c1", "c2", "c3"])),
               max_size=12)


@pytest.mark.django_db(transaction=True)
@override_settings(STREAMS=HERE)
@settings(max_examples=40, deadline=None)
@given(ops, st.integers(min_value=1, max_value=12))
def test_batched_equals_one_by_one(changes, size):
    """Whatever the changes and however they are cut into batches, the members present are the ones applying
    them one by one leaves (a connection belongs to one member: the member is derived from it)."""
    PresenceLease.objects.all().delete()
    streams.here.clear("r"), streams.here.clear("s")
    as_changes = [(arrival if arrives else departure)(conn[-1] + member, conn, "r")
                  for arrives, member, conn in changes]
    for change in as_changes:
        presence.apply([change])
    expected = members("r")
    PresenceLease.objects.all().delete()
    streams.here.clear("r")
    for i in range(0, len(as_changes), size):
        presence.apply(as_changes[i:i + size])
    assert members("r") == expected
