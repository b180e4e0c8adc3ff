"""Retention: a stream's ttl and maxItemsPerGroup, enforced by sweep() with a broadcast delete per item."""

from __future__ import annotations

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
