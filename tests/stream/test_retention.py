"""Retention: a stream's ttl and maxItemsPerGroup, enforced by sweep() with a broadcast delete per item."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from motia_django import streams
from motia_django.models import StreamItem
from motia_django.stream import retention

pytestmark = pytest.mark.django_db(transaction=True)

KEPT = {
    "shortLived": {"schema": {"type": "object"}, "ttl": 60},
    "lastThree": {"schema": {"type": "object"}, "maxItemsPerGroup": 3},
    "forever": {"schema": {"type": "object"}},
}


def test_items_older_than_the_ttl_go_with_a_broadcast_delete(changes):
    with override_settings(STREAMS=KEPT):
        streams.shortLived.set("g", "old", {"v": 1})
        streams.shortLived.set("g", "new", {"v": 2})
        streams.forever.set("g", "old", {"v": 1})
        StreamItem.objects.filter(item_id="old").update(updated_at=timezone.now() - timedelta(seconds=120))
        assert retention.expire_items() == 1
        assert [i["id"] for i in streams.shortLived.get_group("g")] == ["new"]
        assert streams.forever.get("g", "old") == {"id": "old", "v": 1}  # no ttl: kept
        assert (changes[-1].type, changes[-1].stream, changes[-1].id) == ("delete", "shortLived", "old")
        assert retention.expire_items() == 0


def test_only_the_newest_items_of_a_group_are_kept(changes):
    with override_settings(STREAMS=KEPT):
        for i in range(5):
            streams.lastThree.set("a", f"m{i}", {"i": i})
        streams.lastThree.set("b", "only", {"i": 0})
        assert retention.expire_items() == 2
        assert [i["id"] for i in streams.lastThree.get_group("a")] == ["m2", "m3", "m4"]
        assert [c.id for c in changes if c.type == "delete"] == ["m1", "m0"]


def test_bad_retention_options_are_check_errors():
    from motia_django.stream.registry import registry

    with override_settings(STREAMS={"bad": {"schema": {"type": "object"}, "ttl": -1},
                                    "worse": {"schema": {"type": "object"}, "maxItemsPerGroup": 2.5}}):
        assert sorted(e.id for e in registry.errors) == ["motia_django.E009", "motia_django.E009"]
        assert "bad" not in registry and "worse" not in registry
    custom = {"schema": {"type": "object"}, "ttl": 60,
              "baseConfig": {"storageType": "custom", "factory": "tests.support.custom_storage.DictStorage"}}
    with override_settings(STREAMS={"elsewhere": custom}):
        [error] = registry.errors
        assert error.id == "motia_django.E019" and "default storage only" in error.msg


# --- retention never deletes what was rewritten after it looked (issue #18) -------------------------------------


@pytest.mark.parametrize("rewrite", ["set", "update"])
def test_an_item_rewritten_between_the_select_and_the_delete_stays(changes, monkeypatch, rewrite):
    with override_settings(STREAMS=KEPT):
        streams.shortLived.set("g", "race", {"v": 1})
        streams.shortLived.set("g", "stale", {"v": 1})
        StreamItem.objects.filter(stream="shortLived").update(updated_at=timezone.now() - timedelta(seconds=120))
        selected = retention._expired

        def then_rewritten(stream, cutoff, limit):
            found = selected(stream, cutoff, limit)
            if stream.name != "shortLived":
                return found
            assert ("g", "race") in found  # it was expired when retention looked ...
            if rewrite == "set":  # ... and is written again before the delete runs
                streams.shortLived.set("g", "race", {"v": 2})
            else:
                streams.shortLived.update("g", "race", [{"type": "increment", "path": "v"}])
            return found

        monkeypatch.setattr(retention, "_expired", then_rewritten)
        assert retention.expire_items() == 1
        assert streams.shortLived.get("g", "race") == {"id": "race", "v": 2}
        assert streams.shortLived.get("g", "stale") is None
        assert [(c.type, c.id) for c in changes if c.type == "delete"] == [("delete", "stale")]


@pytest.mark.django_db(transaction=True)
def test_retention_and_rewrites_in_threads_never_delete_a_fresh_item():
    """PostgreSQL, real concurrency: while threads keep rewriting some expired items, retention runs; an item it
    deleted was not written after the cutoff, every rewritten one is there at the end."""
    from django.db import connection

    from tests.support.waiting import in_threads

    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite's in-memory test database takes one at a time)")
    with override_settings(STREAMS=KEPT):
        for i in range(60):
            streams.shortLived.set("t", f"i{i}", {"v": 0})
        StreamItem.objects.filter(stream="shortLived").update(updated_at=timezone.now() - timedelta(seconds=120))
        fresh = [f"i{i}" for i in range(0, 60, 2)]
        turns = itertools.count()

        def work() -> None:
            n = next(turns)
            if n == 3:
                retention.expire_items()
            else:
                for item_id in fresh[n::3]:
                    streams.shortLived.set("t", item_id, {"v": 1})

        assert in_threads(work, 4, timeout=60) == []
        kept = {item["id"]: item["v"] for item in streams.shortLived.get_group("t")}
        assert kept == dict.fromkeys(fresh, 1)  # every rewritten item is there, every untouched one went


def test_an_item_re_created_between_the_select_and_the_delete_stays_as_the_newest(changes, monkeypatch):
    """maxItemsPerGroup keeps the newest items by creation: an old item deleted and created again after retention
    looked is now the newest, and stays."""
    with override_settings(STREAMS=KEPT):
        for i in range(5):
            streams.lastThree.set("a", f"m{i}", {"i": i})
        selected = retention._excess

        def then_re_created(stream, limit):
            found = selected(stream, limit)
            if stream.name == "lastThree":
                assert ("a", "m0") in [(group, item) for group, item, _ in found]  # the oldest when it looked ...
                streams.lastThree.delete("a", "m0")
                streams.lastThree.set("a", "m0", {"i": 5})  # ... and the newest when its delete runs
            return found

        monkeypatch.setattr(retention, "_excess", then_re_created)
        retention.expire_items()
        monkeypatch.setattr(retention, "_excess", selected)
        retention.expire_items()  # the next run trims to the newest three
        assert [(i["id"], i["i"]) for i in streams.lastThree.get_group("a")] == [("m3", 3), ("m4", 4), ("m0", 5)]
