"""The custom storage seam: the framework validates, stamps timestamps and publishes around a StateStream."""

from __future__ import annotations

import pytest
from django.test import override_settings

from motia_django import StreamValidationError, streams
from motia_django.models import StreamItem
from tests.support.custom_storage import DictStorage

CUSTOM = {"memo": {"schema": {"type": "object", "properties": {"text": {"type": "string"}},
                              "required": ["text"]},
                   "baseConfig": {"storageType": "custom", "factory": "tests.support.custom_storage.DictStorage"}}}

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def custom_stream():
    with override_settings(STREAMS=CUSTOM):
        yield


def test_custom_storage_round_trip_with_changes(changes, monkeypatch):
    from motia_django.stream import items as core

    monkeypatch.setattr(core, "time_ns", lambda: 42 * 1_000_000)
    memo = streams.memo
    assert memo.set("g", "a", {"text": "one"})["__motia"]["streamName"] == "memo"
    memo.set("g", "a", {"text": "two"})
    memo.set("g", "b", {"text": "three"})
    assert memo.get("g", "a") == {"id": "a", "text": "two"}
    assert [i["id"] for i in memo.get_group("g")] == ["a", "b"]
    assert memo.list_groups() == ["g"]
    assert memo.update("g", "a", [{"type": "set", "path": "text", "value": "four"}])["text"] == "four"
    assert memo.delete("g", "a") == {"id": "a", "text": "four"}
    assert memo.delete("g", "a") is None
    assert [c.type for c in changes] == ["create", "update", "create", "update", "delete"]
    stamps = [c.timestamp for c in changes]
    assert stamps == sorted(set(stamps)) and stamps[0] == 42  # strictly increasing in one millisecond
    assert DictStorage.instances[-1].items == {"g": {"b": {"text": "three"}}}
    assert StreamItem.objects.count() == 0


def test_custom_storage_is_validated_before_it_is_called():
    with pytest.raises(StreamValidationError, match="memo: data.text"):
        streams.memo.set("g", "a", {"text": 1})
    assert DictStorage.instances[-1].items == {}
